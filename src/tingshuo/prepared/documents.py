"""An uploaded document (TXT, Markdown, DOCX, PDF or PPTX) read into plain text.

The text is what a person would read, in reading order, one paragraph per line: no markup, no
empty lines. Each format is read by its own well-kept reader (python-docx, pypdf, python-pptx);
this module only walks what they parse and checks the bytes first, since they come from an
upload: too large, a zip that unzips to gigabytes, an encrypted or broken file are refused with
a `DocumentError` whose one line names the file and says what to do.
"""

from __future__ import annotations

import codecs
import html
import io
import logging
import re
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from ..errors import TingshuoError

log = logging.getLogger(__name__)

MAX_BYTES = 20 * 1024 * 1024  # an upload larger than this is refused
MAX_UNZIPPED = 100 * 1024 * 1024  # a DOCX/PPTX whose members unzip past this is refused (zip bomb)
MAX_CHARS = 2_000_000  # extracted text longer than this is refused
KINDS = ("txt", "md", "docx", "pdf", "pptx")

_MAX_RATIO = 200  # a member that unzips to more than 200 times its size...
_RATIO_FLOOR = 10 * 1024 * 1024  # ...and to more than 10 MB is a bomb
_MIN_PDF_CHARS = 20  # visible characters below which a PDF of several pages has no text layer
_USE = "(use TXT, Markdown, DOCX, PDF or PPTX)"

_EXTENSIONS = {
    ".txt": "txt",
    ".text": "txt",
    ".md": "md",
    ".markdown": "md",
    ".docx": "docx",
    ".pdf": "pdf",
    ".pptx": "pptx",
}
_DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_PPTX_TYPE = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
_CONTENT_TYPES = {
    "text/plain": "txt",
    "text/markdown": "md",
    "text/x-markdown": "md",
    "application/pdf": "pdf",
    "application/x-pdf": "pdf",
    _DOCX_TYPE: "docx",
    _PPTX_TYPE: "pptx",
}
# extensions of formats that are not read: refused at once, never sniffed as text
_FOREIGN_EXTENSIONS = {
    ".doc": "Word 97-2003 (.doc)",
    ".dot": "Word 97-2003 (.dot)",
    ".ppt": "PowerPoint 97-2003 (.ppt)",
    ".pps": "PowerPoint 97-2003 (.pps)",
    ".xls": "Excel (.xls)",
    ".xlsx": "Excel (.xlsx)",
    ".rtf": "RTF (.rtf)",
    ".odt": "OpenDocument (.odt)",
    ".odp": "OpenDocument (.odp)",
    ".pages": "Pages (.pages)",
    ".key": "Keynote (.key)",
    ".wps": "WPS (.wps)",
    ".dps": "WPS (.dps)",
    ".html": "HTML (.html)",
    ".htm": "HTML (.htm)",
    ".epub": "EPUB (.epub)",
    ".zip": "a zip archive (.zip)",
    ".rar": "a RAR archive (.rar)",
    ".7z": "a 7z archive (.7z)",
    **{
        ext: f"an image ({ext})"
        for ext in (".png", ".jpg", ".jpeg", ".gif", ".webp", ".heic", ".bmp", ".tif", ".tiff")
    },
}
_FOREIGN_TYPE_PREFIXES = ("image/", "audio/", "video/", "application/msword", "application/rtf")
_FOREIGN_TYPES = {
    "application/vnd.ms-powerpoint",
    "application/vnd.ms-excel",
    "application/zip",
    "text/html",
    "text/rtf",
}
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # a compound file: .doc/.ppt/.xls, or encrypted OOXML
_SIGNATURES = (
    (b"\x89PNG", "an image (PNG)"),
    (b"\xff\xd8\xff", "an image (JPEG)"),
    (b"GIF8", "an image (GIF)"),
    (_OLE, "an old Office file (.doc, .ppt or .xls)"),
    (b"{\\rtf", "RTF"),
)
_MAIN_PART = {"docx": "word/document.xml", "pptx": "ppt/presentation.xml"}


class DocumentError(TingshuoError):
    """An upload that cannot be read as a prepared text; the message is one line that starts
    with the file's name in quotes."""


@dataclass(frozen=True)
class Document:
    name: str  # the file's name as given (or the JSON name)
    kind: str  # one of KINDS
    text: str  # plain text, paragraphs separated by "\n", no empty lines, stripped
    pages: int  # pages (PDF), slides (PPTX), or 0 where the format has none


def read_document(name: str, data: bytes, content_type: str | None = None) -> Document:
    """The plain text of an uploaded document; DocumentError when it is refused."""
    if len(data) > MAX_BYTES:
        raise DocumentError(
            f"{_quoted(name)} is larger than {_size(MAX_BYTES)}: split it, or paste its text"
        )
    kind = kind_of(name, data, content_type)
    pages = 0
    if kind == "txt":
        raw = _decode(name, data)
    elif kind == "md":
        raw = strip_markdown(_decode(name, data))
    elif kind == "docx":
        raw = _read_docx(name, data)
    elif kind == "pptx":
        raw, pages = _read_pptx(name, data)
    else:
        raw, pages = _read_pdf(name, data)
    text = normalise(raw)
    if not text:
        raise DocumentError(f"{_quoted(name)} has no text")
    if len(text) > MAX_CHARS:
        raise DocumentError(_too_long(name))
    log.info("read %s: %s, %d characters, %d pages", _quoted(name), kind, len(text), pages)
    return Document(name=name, kind=kind, text=text, pages=pages)


def kind_of(name: str, data: bytes, content_type: str | None = None) -> str:
    """One of KINDS: from the name's extension, else the content type, else the bytes."""
    ext = _extension(name)
    if ext in _EXTENSIONS:
        return _EXTENSIONS[ext]
    if ext in _FOREIGN_EXTENSIONS:
        raise _unknown(name, _FOREIGN_EXTENSIONS[ext])
    ctype = (content_type or "").split(";")[0].strip().lower()
    if ctype in _CONTENT_TYPES:
        return _CONTENT_TYPES[ctype]
    if ctype in _FOREIGN_TYPES or ctype.startswith(_FOREIGN_TYPE_PREFIXES):
        raise _unknown(name, ctype)
    return _sniff(name, data)


# -- kinds


def _extension(name: str) -> str:
    return PurePosixPath(name.replace("\\", "/")).suffix.lower()


def _sniff(name: str, data: bytes) -> str:
    if b"%PDF-" in data[:1024]:
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, ValueError, OSError):
            names = set()
        for kind, part in _MAIN_PART.items():
            if part in names:
                return kind
        raise _unknown(name, "a zip archive")
    for signature, what in _SIGNATURES:
        if data.startswith(signature):
            raise _unknown(name, what)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _unknown(name, "binary data") from None
    if "\x00" in text:
        raise _unknown(name, "binary data")
    return "txt"


def _unknown(name: str, what: str) -> DocumentError:
    return DocumentError(f"{_quoted(name)}: unknown type: {what} {_USE}")


# -- TXT and Markdown


def _decode(name: str, data: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 with a BOM, else GB18030 (Chinese Windows)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encodings: tuple[str, ...] = ("utf-16",)
    else:
        encodings = ("utf-8-sig", "gb18030")
    for encoding in encodings:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" not in text:
            if encoding == "gb18030":
                log.info("%s is not UTF-8: read as GB18030", _quoted(name))
            return text
    raise DocumentError(f"{_quoted(name)} is not UTF-8 or GB18030 text: save it as UTF-8")


_ESCAPABLE = "\\`*_{}[]()#+-.!|>~<"
_PROTECT = {ord(c): 0xF000 + ord(c) for c in _ESCAPABLE}  # to the private use area...
_RESTORE = {v: k for k, v in _PROTECT.items()}  # ...and back, once the markup is gone

_FRONT_MATTER = re.compile(r"\A---\n.*?\n(---|\.\.\.)\n", re.S)
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_SCRIPT = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.S | re.I)
_BR = re.compile(r"<br\s*/?>", re.I)
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~<])")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")
_HEADING = re.compile(r"^#{1,6}(\s+|$)")
_HEADING_END = re.compile(r"\s+#+\s*$")
_SETEXT = re.compile(r"^(=+|-+)$")
_RULE = re.compile(r"^([-*_])(\s*\1){2,}$")
_QUOTE = re.compile(r"^(>\s?)+")
_BULLET = re.compile(r"^[-*+]\s+")
_TASK = re.compile(r"^\[[ xX]\]\s+")
_DEFINITION = re.compile(r"^\[[^\]^][^\]]*\]:\s*\S+.*$")
_FOOTNOTE = re.compile(r"^\[\^[^\]]+\]:\s*")
_INLINE = (
    (re.compile(r"!\[[^\]]*\](\([^)]*\)|\[[^\]]*\])"), ""),  # images: not spoken
    (re.compile(r"\[\^[^\]]+\]"), ""),  # footnote references
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # [text](url)
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1"),  # [text][ref]
    (re.compile(r"<((?:https?|ftp)://[^>\s]+|mailto:[^>\s]+)>", re.I), r"\1"),  # autolinks
    (re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(\s[^<>]*)?/?>"), ""),  # HTML tags
    (re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1"), r"\2"),
    (re.compile(r"~~(?=\S)(.+?)(?<=\S)~~"), r"\1"),
    (re.compile(r"\*(?=\S)(.+?)(?<=\S)\*"), r"\1"),
    (re.compile(r"(?<!\w)_(?=\S)(.+?)(?<=\S)_(?!\w)"), r"\1"),
)


def strip_markdown(text: str) -> str:
    """Markdown's words without its markup: headings, emphasis, links (their text kept), images,
    code fences, HTML tags, list bullets; a table row becomes its cells joined by a tab."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _FRONT_MATTER.sub("", text)
    text = _COMMENT.sub("", _SCRIPT.sub("", text))
    lines = _BR.sub("\n", text).split("\n")
    table = _table_rows(lines)
    out: list[str] = []
    fence = ""
    for i, line in enumerate(lines):
        opening = _FENCE.match(line)
        if fence:
            if opening and opening.group(1).startswith(fence):
                fence = ""
            else:
                out.append(line.translate(_PROTECT))  # code: kept as it is
            continue
        if opening:
            fence = opening.group(1)
            continue
        line = _ESCAPE.sub(lambda m: m.group(1).translate(_PROTECT), line)
        if i in table:
            cells = _split_row(line) if table[i] else []
            out.append("\t".join(filter(None, (_inline(c) for c in cells))))
            continue
        line = line.strip()
        if _SETEXT.match(line) and out and out[-1].strip():
            continue  # the underline of a heading
        if _RULE.match(line) or _DEFINITION.match(line):
            continue
        line = _QUOTE.sub("", line)
        line = _HEADING_END.sub("", line) if _HEADING.match(line) else line
        line = _HEADING.sub("", line)
        line = _TASK.sub("", _BULLET.sub("", line))
        line = _FOOTNOTE.sub("", line)
        out.append(_inline(line))
    return html.unescape("\n".join(out).translate(_RESTORE))


def _inline(text: str) -> str:
    text = _CODE_SPAN.sub(lambda m: m.group(2).strip().translate(_PROTECT), text)
    for pattern, replacement in _INLINE:
        text = pattern.sub(replacement, text)
    return text.strip()


def _table_rows(lines: list[str]) -> dict[int, bool]:
    """The table lines of a Markdown text: index → True for a row, False for the rule under
    the header."""
    rows: dict[int, bool] = {}
    for i, line in enumerate(lines):
        if i == 0 or "|" not in line or not _TABLE_RULE.match(line) or "|" not in lines[i - 1]:
            continue
        rows[i - 1], rows[i] = True, False
        j = i + 1
        while j < len(lines) and "|" in lines[j] and lines[j].strip():
            rows[j] = True
            j += 1
    return rows


def _split_row(line: str) -> list[str]:
    line = line.strip()
    line = line[1:] if line.startswith("|") else line
    line = line[:-1] if line.endswith("|") else line
    return [cell.strip() for cell in line.split("|")]  # escaped pipes are protected


# -- DOCX and PPTX

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_P, _R, _TBL, _TR, _TC, _SDT, _SDT_CONTENT, _CUSTOM_XML, _TXBX = (
    _W + tag
    for tag in ("p", "r", "tbl", "tr", "tc", "sdt", "sdtContent", "customXml", "txbxContent")
)


def _check_zip(name: str, data: bytes, kind: str) -> None:
    """Refuse an encrypted, broken or bomb-like DOCX/PPTX before its reader unzips it."""
    label = kind.upper()
    if data.startswith(_OLE):
        if "EncryptedPackage".encode("utf-16-le") in data:
            raise DocumentError(f"{_quoted(name)} is encrypted: save it without a password")
        old = "Word 97-2003 (.doc)" if kind == "docx" else "PowerPoint 97-2003 (.ppt)"
        raise DocumentError(f"{_quoted(name)} is a {old} file: save it as {label}")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        raise DocumentError(f"{_quoted(name)} is not a valid {label}") from None
    total = 0
    for member in members:
        total += member.file_size
        bomb = member.file_size > _RATIO_FLOOR and (
            member.file_size > _MAX_RATIO * max(member.compress_size, 1)
        )
        if total > MAX_UNZIPPED or bomb:
            log.warning(
                "%s: refused at %s (%d bytes from %d; %d in all so far)",
                *(_quoted(name), member.filename, member.file_size, member.compress_size, total),
            )
            raise DocumentError(
                f"{_quoted(name)} unzips to more than {_size(MAX_UNZIPPED)}: refused"
            )
    if _MAIN_PART[kind] not in {member.filename for member in members}:
        raise DocumentError(f"{_quoted(name)} is not a valid {label}")


def _read_docx(name: str, data: bytes) -> str:
    """Paragraphs and table rows of the body, in document order."""
    _check_zip(name, data, "docx")
    from docx import Document as open_docx

    try:
        body = open_docx(io.BytesIO(data)).element.body
        return "\n".join(_docx_blocks(body))
    except Exception as e:  # a broken file can fail anywhere in the reader
        log.warning("%s: python-docx failed: %r", _quoted(name), e)
        log.debug("%s: python-docx failed", _quoted(name), exc_info=True)
        raise DocumentError(f"{_quoted(name)} is not a valid DOCX ({_reason(e)})") from None


def _docx_blocks(parent: Any) -> Iterator[str]:
    for child in parent.iterchildren():
        if child.tag == _P:
            yield _paragraph_text(child)
        elif child.tag == _TBL:
            for row in child.iterchildren(_TR):
                cells = (_cell_text(tc) for tc in row.iterchildren(_TC) if not _continued(tc))
                yield "\t".join(filter(None, cells))
        elif child.tag == _SDT:  # a content control (cover page, table of contents)
            for content in child.iterchildren(_SDT_CONTENT):
                yield from _docx_blocks(content)
        elif child.tag == _CUSTOM_XML:
            yield from _docx_blocks(child)


def _paragraph_text(p: Any) -> str:
    """A paragraph's runs, those in tracked insertions, fields and content controls too (not
    deleted text, not the paragraphs of text boxes anchored in it)."""
    return "".join(run.text for run in p.iter(_R) if _owner(run, _P) is p)


def _cell_text(tc: Any) -> str:
    """A table cell's paragraphs (nested tables' too) on one line."""
    texts = (_paragraph_text(p).strip() for p in tc.iter(_P) if _owner(p, _TXBX) is None)
    return " ".join(filter(None, texts))


def _continued(tc: Any) -> bool:
    """A cell that continues a vertical merge: its text is the cell's above."""
    return getattr(tc, "vMerge", None) == "continue"


def _owner(element: Any, tag: str) -> Any:
    """The nearest ancestor of `element` with this tag, or None."""
    parent = element.getparent()
    while parent is not None and parent.tag != tag:
        parent = parent.getparent()
    return parent


def _read_pptx(name: str, data: bytes) -> tuple[str, int]:
    """Per slide: its shapes' text in shape order (groups and tables too), then its notes."""
    _check_zip(name, data, "pptx")
    from pptx import Presentation

    try:
        slides = Presentation(io.BytesIO(data)).slides
        texts: list[str] = []
        for slide in slides:
            for shape in slide.shapes:
                texts.extend(_shape_texts(shape))
            if slide.has_notes_slide:
                frame = slide.notes_slide.notes_text_frame
                if frame is not None:
                    texts.append(frame.text)
        return "\n".join(texts), len(slides)
    except Exception as e:  # a broken file can fail anywhere in the reader
        log.warning("%s: python-pptx failed: %r", _quoted(name), e)
        log.debug("%s: python-pptx failed", _quoted(name), exc_info=True)
        raise DocumentError(f"{_quoted(name)} is not a valid PPTX ({_reason(e)})") from None


def _shape_texts(shape: Any) -> Iterator[str]:
    from pptx.shapes.group import GroupShape

    if isinstance(shape, GroupShape):
        for inner in shape.shapes:
            yield from _shape_texts(inner)
        return
    if shape.has_text_frame:
        yield shape.text_frame.text
    if getattr(shape, "has_table", False):
        for row in shape.table.rows:
            cells = (" ".join(c.text.split()) for c in row.cells if not c.is_spanned)
            yield "\t".join(filter(None, cells))


# -- PDF


def _read_pdf(name: str, data: bytes) -> tuple[str, int]:
    """Each page's text layer, pages joined by a line break."""
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not _opens_without_password(reader):
            raise DocumentError(f"{_quoted(name)} is encrypted: save it without a password")
        pages = list(reader.pages)
    except DocumentError:
        raise
    except Exception as e:
        log.warning("%s: pypdf failed: %r", _quoted(name), e)
        log.debug("%s: pypdf failed", _quoted(name), exc_info=True)
        raise DocumentError(f"{_quoted(name)} is not a valid PDF ({_reason(e)})") from None
    texts: list[str] = []
    failed = 0
    length = 0
    for number, page in enumerate(pages, 1):
        try:
            text = page.extract_text() or ""
        except Exception:
            log.warning("%s: page %d could not be read", _quoted(name), number, exc_info=True)
            failed += 1
            continue
        texts.append(text)
        length += len(text)
        if length > 2 * MAX_CHARS:  # enough read to know; the check on the clean text follows
            raise DocumentError(_too_long(name))
    text = normalise(fold_radicals("\n".join(texts)))
    visible = sum(not c.isspace() for c in text)
    if pages and failed == len(pages):
        raise DocumentError(f"{_quoted(name)} could not be read: its pages are broken")
    if visible == 0 or (len(pages) > 1 and visible < _MIN_PDF_CHARS):
        raise DocumentError(
            f"{_quoted(name)} has no text layer (scanned?): export it with text, or paste the text"
        )
    return text, len(pages)


def _opens_without_password(reader: Any) -> bool:
    """A PDF encrypted with an owner password only opens without one: read it."""
    try:
        return bool(reader.decrypt(""))
    except Exception:  # AES without a crypto library, a broken encryption dictionary
        log.debug("an encrypted PDF did not open without a password", exc_info=True)
        return False


# CJK Radicals Supplement → the unified ideograph it stands for (Unicode's
# EquivalentUnifiedIdeograph.txt, U+2E81..U+2EF3; U+2E9A is unassigned). The Kangxi Radicals
# (U+2F00..U+2FD5) need no table: their compatibility decomposition is that ideograph.
_RADICALS = """
2E81 5382 2E82 4E5B 2E83 4E5A 2E84 4E59 2E85 4EBB 2E86 5182 2E87 20628 2E88 5200 2E89 5202
2E8A 535C 2E8B 353E 2E8C 5C0F 2E8D 5C0F 2E8E 5140 2E8F 5C23 2E90 5C22 2E91 21BC2 2E92 5DF3
2E93 5E7A 2E94 5F51 2E95 5F50 2E96 5FC4 2E97 5FC3 2E98 624C 2E99 6535 2E9B 65E1 2E9C 65E5
2E9D 6708 2E9E 6B7A 2E9F 6BCD 2EA0 6C11 2EA1 6C35 2EA2 6C3A 2EA3 706C 2EA4 722B 2EA5 722B
2EA6 4E2C 2EA7 725B 2EA8 72AD 2EA9 738B 2EAA 24D14 2EAB 76EE 2EAC 793A 2EAD 793B 2EAE 25AD7
2EAF 7CF9 2EB0 7E9F 2EB1 7F53 2EB2 7F52 2EB3 34C1 2EB4 5197 2EB5 2626B 2EB6 7F8A 2EB7 2634C
2EB8 2634B 2EB9 8002 2EBA 8080 2EBB 807F 2EBC 8089 2EBD 26951 2EBE 8279 2EBF 8279 2EC0 8279
2EC1 864E 2EC2 8864 2EC3 8980 2EC4 897F 2EC5 89C1 2EC6 89D2 2EC7 278B2 2EC8 8BA0 2EC9 8D1D
2ECA 27FB7 2ECB 8F66 2ECC 8FB6 2ECD 8FB6 2ECE 8FB6 2ECF 9091 2ED0 9485 2ED1 9577 2ED2 9578
2ED3 957F 2ED4 95E8 2ED5 28E0F 2ED6 961D 2ED7 96E8 2ED8 9752 2ED9 97E6 2EDA 9875 2EDB 98CE
2EDC 98DE 2EDD 98DF 2EDE 2967F 2EDF 98E0 2EE0 9963 2EE1 29810 2EE2 9A6C 2EE3 9AA8 2EE4 9B3C
2EE5 9C7C 2EE6 9E1F 2EE7 5364 2EE8 9EA6 2EE9 9EC4 2EEA 9EFE 2EEB 6589 2EEC 9F50 2EED 6B6F
2EEE 9F7F 2EEF 7ADC 2EF0 9F99 2EF1 9F9C 2EF2 4E80 2EF3 9F9F
""".split()
_FOLD = {int(a, 16): int(b, 16) for a, b in zip(_RADICALS[::2], _RADICALS[1::2], strict=True)}
_FOLD |= {c: ord(unicodedata.normalize("NFKC", chr(c))) for c in range(0x2F00, 0x2FD6)}


def fold_radicals(text: str) -> str:
    """Radicals as the ideographs they look like. A PDF's text layer maps each glyph back to a
    character, and a CJK font that draws 大 and the radical ⼤ with one glyph (Noto Sans CJK
    does) gives whichever its writer picked: Chromium's PDFs say ⼤ (U+2F24) for 大, ⻚ for 页.
    Nobody writes radicals in a speech, so in a PDF they are always the ideograph."""
    return text.translate(_FOLD)


# -- text


_LINE_BREAKS = str.maketrans(dict.fromkeys("\r\v\f\x1c\x1d\x1e\x85\u2028\u2029", "\n"))
_INVISIBLE = re.compile("[\u00ad\u200b\u2060\ufeff]")  # soft hyphen, zero-width space, BOMs
_CONTROL = re.compile("[\x00-\x08\x0e-\x1b\x1f\x7f-\x9f]")
_BLANKS = re.compile("[ \t\u00a0\u2000-\u200a\u202f\u205f]+")


def normalise(text: str) -> str:
    """NFC (not NFKC: full-width punctuation stays), one paragraph per line, each stripped, no
    empty lines; a run of blanks within a line becomes one space, or one tab where it held a
    tab (between table cells). Control characters become spaces (Chromium's PDFs give U+0001
    for a space)."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n")).translate(_LINE_BREAKS)
    text = _CONTROL.sub(" ", _INVISIBLE.sub("", text))
    lines = (_BLANKS.sub(_blank, line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def _blank(match: re.Match[str]) -> str:
    return "\t" if "\t" in match.group() else " "


# -- messages


def _quoted(name: str) -> str:
    """The file's name in quotes, on one line and not too long."""
    shown = " ".join(re.sub(r"[\x00-\x1f\x7f\u2028\u2029]", " ", name).split()) or "document"
    return f'"{shown[:77]}…"' if len(shown) > 80 else f'"{shown}"'


def _reason(error: Exception) -> str:
    reason = " ".join(str(error).split()) or type(error).__name__
    return reason[:117] + "…" if len(reason) > 120 else reason


def _size(limit: int) -> str:
    mb = limit / (1024 * 1024)
    return f"{mb:g} MB" if mb >= 1 else f"{limit:,} bytes"


def _too_long(name: str) -> str:
    return f"{_quoted(name)} has more than {MAX_CHARS:,} characters of text: split it up"
