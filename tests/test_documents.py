"""Uploaded documents read into plain text: real files, made here with the real libraries
(python-docx, python-pptx, pypdf, Pillow; Chromium for a PDF with Chinese text), and the
uploads that are refused, each with one line that names the file."""

from __future__ import annotations

import importlib.util
import io
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from tingshuo.prepared import documents
from tingshuo.prepared.documents import (
    KINDS,
    Document,
    DocumentError,
    kind_of,
    normalise,
    read_document,
    strip_markdown,
)

USE = "(use TXT, Markdown, DOCX, PDF or PPTX)"


def refused(name: str, data: bytes, *parts: str, content_type: str | None = None) -> str:
    """The one-line message that refuses this upload; it names the file and says `parts`."""
    with pytest.raises(DocumentError) as caught:
        read_document(name, data, content_type)
    message = str(caught.value)
    assert "\n" not in message and "\r" not in message
    assert message.startswith(f'"{name}"'), message
    for part in parts:
        assert part in message, message
    return message


# -- DOCX


def make_docx() -> bytes:
    import docx

    doc = docx.Document()
    doc.add_heading("开幕致辞", level=1)
    doc.add_paragraph("各位来宾，大家好！")
    doc.add_paragraph("")  # an empty paragraph: no line
    doc.add_paragraph("今天我们在这里   举行年会。")
    table = doc.add_table(rows=3, cols=2)
    for row, (zh, en) in zip(
        table.rows, [("中文", "English"), ("你好", "Hello"), ("谢谢", "Thank you")], strict=True
    ):
        row.cells[0].text, row.cells[1].text = zh, en
    doc.add_paragraph("最后，祝大家新年快乐。")
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def test_docx_paragraphs_and_tables_in_document_order() -> None:
    document = read_document("speech.docx", make_docx())
    assert document == Document(
        name="speech.docx",
        kind="docx",
        text="开幕致辞\n各位来宾，大家好！\n今天我们在这里 举行年会。\n"
        "中文\tEnglish\n你好\tHello\n谢谢\tThank you\n最后，祝大家新年快乐。",
        pages=0,
    )


def test_docx_tracked_changes_and_merged_cells() -> None:
    """Inserted text is read and deleted text is not; a merged cell is read once."""
    import docx
    from docx.oxml import parse_xml
    from docx.oxml.ns import nsdecls

    doc = docx.Document()
    paragraph = doc.add_paragraph("会议")
    stamp = f'{nsdecls("w")} w:author="秘书" w:date="2025-01-01T00:00:00Z"'
    deleted = f'<w:del w:id="1" {stamp}><w:r><w:delText>取消</w:delText></w:r></w:del>'
    inserted = f'<w:ins w:id="2" {stamp}><w:r><w:t>现在开始</w:t></w:r></w:ins>'
    paragraph._p.append(parse_xml(deleted))
    paragraph._p.append(parse_xml(inserted))
    table = doc.add_table(rows=2, cols=3)
    table.cell(0, 0).merge(table.cell(0, 1)).text = "横向合并"
    table.cell(0, 2).merge(table.cell(1, 2)).text = "纵向合并"
    table.cell(1, 0).text, table.cell(1, 1).text = "甲", "乙"
    buf = io.BytesIO()
    doc.save(buf)
    text = read_document("x.docx", buf.getvalue()).text
    assert text == "会议现在开始\n横向合并\t纵向合并\n甲\t乙"


def zip_bomb(megabytes: int) -> bytes:
    """A DOCX-shaped zip with a member of `megabytes` MB of zeros, written streaming: it
    deflates about 1000:1."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
        chunk = bytes(1024 * 1024)
        with archive.open("word/media/zeros.bin", "w") as member:
            for _ in range(megabytes):
                member.write(chunk)
    return buf.getvalue()


def test_zip_bomb_refused_before_it_unzips() -> None:
    bomb = zip_bomb(150)
    assert len(bomb) < 1024 * 1024
    refused("bomb.docx", bomb, "unzips to more than 100 MB")
    # under the total, but 50 MB from a few KB is no document either
    refused("dense.pptx", zip_bomb(50), "unzips to more than 100 MB")


def test_docx_that_is_not_one() -> None:
    ole = documents._OLE + bytes(504)
    refused("secret.docx", ole + "EncryptedPackage".encode("utf-16-le"), "is encrypted")
    refused("old.docx", ole, "is a Word 97-2003 (.doc) file: save it as DOCX")
    refused("old.pptx", ole, "is a PowerPoint 97-2003 (.ppt) file: save it as PPTX")
    refused("junk.docx", b"not a zip at all", "is not a valid DOCX")
    refused("slides.docx", make_pptx(), "is not a valid DOCX")  # a zip, but not a Word one
    refused("empty.docx", _saved_docx(), "has no text")


def _saved_docx() -> bytes:
    import docx

    buf = io.BytesIO()
    docx.Document().save(buf)
    return buf.getvalue()


# -- PPTX


def make_pptx() -> bytes:
    from pptx import Presentation
    from pptx.util import Inches

    prs = Presentation()
    first = prs.slides.add_slide(prs.slide_layouts[0])  # title and subtitle
    first.shapes.title.text = "年度大会"
    first.placeholders[1].text = "2025年1月"
    box = first.shapes.add_textbox(Inches(1), Inches(5), Inches(6), Inches(1))
    box.text_frame.text = "欢迎各位来宾"
    box.text_frame.add_paragraph().text = "第一行\v第二行"  # a line break within a paragraph
    first.notes_slide.notes_text_frame.text = "记得先感谢主办方。"

    second = prs.slides.add_slide(prs.slide_layouts[5])  # title only
    second.shapes.title.text = "议程"
    rows = [("时间", "议题"), ("9:00", "开幕致辞"), ("10:00", "主题演讲")]
    frame = second.shapes.add_table(3, 2, Inches(1), Inches(2), Inches(6), Inches(2))
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            frame.table.cell(r, c).text = text
    group = second.shapes.add_group_shape()
    inner = group.shapes.add_textbox(Inches(1), Inches(5), Inches(3), Inches(1))
    inner.text_frame.text = "分组里的文字"
    second.notes_slide.notes_text_frame.text = "时间控制在十分钟内。"
    buf = io.BytesIO()
    prs.save(buf)
    return buf.getvalue()


def test_pptx_slides_shapes_tables_groups_and_notes() -> None:
    document = read_document("slides.pptx", make_pptx())
    assert (document.kind, document.pages) == ("pptx", 2)
    assert document.text.split("\n") == [
        "年度大会",
        "2025年1月",
        "欢迎各位来宾",
        "第一行",
        "第二行",
        "记得先感谢主办方。",
        "议程",
        "时间\t议题",
        "9:00\t开幕致辞",
        "10:00\t主题演讲",
        "分组里的文字",
        "时间控制在十分钟内。",
    ]


# -- PDF


def make_pdf(pages: list[list[str]], user_password: str | None = None, owner: str = "") -> bytes:
    """A PDF whose pages carry these lines as real text (Helvetica), made with pypdf alone."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    font = {
        NameObject("/Type"): NameObject("/Font"),
        NameObject("/Subtype"): NameObject("/Type1"),
        NameObject("/BaseFont"): NameObject("/Helvetica"),
        NameObject("/Encoding"): NameObject("/WinAnsiEncoding"),
    }
    for lines in pages:
        page = writer.add_blank_page(595, 842)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): DictionaryObject(font)})}
        )
        shown = b" 0 -20 Td ".join(b"(" + line.encode("latin-1") + b") Tj" for line in lines)
        content = DecodedStreamObject()
        content.set_data(b"BT /F1 14 Tf 72 770 Td " + shown + b" ET")
        page.replace_contents(content)
    if user_password is not None:
        writer.encrypt(user_password, owner or None)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


AGENDA = [["Opening remarks", "Welcome,   everyone."], ["Page two: thank you."]]


def test_pdf_text_layer_page_by_page() -> None:
    document = read_document("agenda.pdf", make_pdf(AGENDA))
    assert document == Document(
        name="agenda.pdf",
        kind="pdf",
        text="Opening remarks\nWelcome, everyone.\nPage two: thank you.",
        pages=2,
    )


def test_pdf_with_only_an_owner_password_is_read() -> None:
    """Restricted (printing, copying) but opens without a password: nothing to refuse."""
    data = make_pdf(AGENDA, user_password="", owner="owner-secret")
    assert read_document("locked.pdf", data).text.startswith("Opening remarks\n")


def test_pdf_encrypted_refused() -> None:
    refused("secret.pdf", make_pdf(AGENDA, user_password="pw"), "is encrypted", "password")


def test_pdf_without_text_layer_refused() -> None:
    from PIL import Image
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    writer.add_blank_page(595, 842)
    buf = io.BytesIO()
    writer.write(buf)
    message = refused("blank.pdf", buf.getvalue(), "has no text layer (scanned?)")
    assert message == (
        '"blank.pdf" has no text layer (scanned?): export it with text, or paste the text'
    )
    scan = io.BytesIO()  # a page that is only a picture, as a scanner makes it
    Image.new("RGB", (600, 800), "white").save(scan, "PDF")
    refused("scan.pdf", scan.getvalue(), "has no text layer (scanned?)")


def test_broken_pdf_refused() -> None:
    refused("broken.pdf", b"%PDF-1.4\nnot really a pdf", "is not a valid PDF")
    refused("half.pdf", make_pdf(AGENDA)[:200], "is not a valid PDF")


def cjk_font() -> Path | None:
    """Noto Sans CJK from the pinned font package, if it is installed."""
    spec = importlib.util.find_spec("cvttf_NotoSansCJK_Regular")
    if spec is None or not spec.submodule_search_locations:
        return None
    fonts = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.otf"))
    return fonts[0] if fonts else None


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (apt-get install chromium)")
def test_pdf_printed_by_chromium_chinese_and_english(tmp_path: Path) -> None:
    """Chromium prints text in Noto Sans CJK as Type 3 fonts whose text layer says radicals for
    some characters (⼤ U+2F24 for 大, ⻚ U+2EDA for 页) and U+0001 for a space: both are
    read back as what was printed."""
    font = cjk_font()
    if font is None:
        pytest.skip("needs the Noto Sans CJK package (cvttf-notosanscjk-regular)")
    page = tmp_path / "speech.html"
    page.write_text(
        "<!doctype html><meta charset=utf-8><style>"
        f"@font-face {{font-family: cjk; src: url('{font.as_uri()}')}}"
        "body {font-family: cjk; font-size: 14pt} .next {break-before: page}</style>"
        "<h1>开幕致辞</h1><p>各位来宾，大家好！</p><p>Welcome to the annual meeting, 2025.</p>"
        "<p class=next>第二页：感谢大家的到来。</p>",
        encoding="utf-8",
    )
    pdf = tmp_path / "speech.pdf"
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-pdf-header-footer",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--print-to-pdf={pdf}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    document = read_document("speech.pdf", pdf.read_bytes())
    assert document.pages == 2
    assert document.text == (
        "开幕致辞\n各位来宾，大家好！\nWelcome to the annual meeting, 2025.\n"
        "第二页：感谢大家的到来。"
    )


# -- TXT and Markdown


def test_txt_utf8_with_bom_gb18030_and_utf16() -> None:
    text = "各位来宾，大家好！\r\n\r\n  欢迎光临。  \r\n"
    assert read_document("a.txt", text.encode("utf-8")).text == "各位来宾，大家好！\n欢迎光临。"
    assert read_document("b.txt", b"\xef\xbb\xbf" + text.encode()).text.startswith("各位")
    windows = read_document("c.txt", text.encode("gb18030"))
    assert windows == Document("c.txt", "txt", "各位来宾，大家好！\n欢迎光临。", 0)
    assert read_document("d.txt", text.encode("utf-16")).text == windows.text
    refused("e.txt", b"\x80\x80\xff\xfe", "is not UTF-8 or GB18030 text: save it as UTF-8")
    refused("blank.txt", b" \n\r\n\t \n", "has no text")


MARKDOWN = r"""---
title: 年会
---
# 开幕致辞 #

各位来宾，**大家好**！欢迎来到 *2025 年会*，详见[议程](https://example.com/a "议程")。
![会场](hall.png)

致辞人
------

- 第一项：`snake_case` 和 \*星号\*
* [x] 已完成_事项
1. 编号保留
> 引用 <b>加粗</b> &amp; 其他<br>下一行

| 中文 | English |
|:-----|--------:|
| 你好 | Hello \| hi |
| 谢谢 | Thanks |

```python
# 代码里的井号
print("hi")
```
***
<!-- 不读
的注释 -->
a_b_c 与 2 * 3 * 4 与 中文*强调*中文 ~~删除线~~ <https://x.org>
[ref]: https://example.com/ref
"""


def test_markdown_markup_stripped_words_kept() -> None:
    document = read_document("agenda.md", MARKDOWN.encode())
    assert document.kind == "md"
    assert document.text.split("\n") == [
        "开幕致辞",
        "各位来宾，大家好！欢迎来到 2025 年会，详见议程。",
        "致辞人",
        "第一项：snake_case 和 *星号*",
        "已完成_事项",
        "1. 编号保留",
        "引用 加粗 & 其他",
        "下一行",
        "中文\tEnglish",
        "你好\tHello | hi",
        "谢谢\tThanks",
        "# 代码里的井号",
        'print("hi")',
        "a_b_c 与 2 * 3 * 4 与 中文强调中文 删除线 https://x.org",
    ]
    assert strip_markdown("## 标题\n正文 __粗__") == "标题\n正文 粗"


# -- kinds, limits, names


def test_kind_from_extension_content_type_or_bytes() -> None:
    assert KINDS == ("txt", "md", "docx", "pdf", "pptx")
    assert kind_of("讲稿.MARKDOWN", b"") == "md"
    assert kind_of("讲稿.text", b"") == "txt"
    assert kind_of("upload", b"# x", "text/markdown; charset=utf-8") == "md"
    assert kind_of("upload", make_pdf(AGENDA), "application/octet-stream") == "pdf"
    assert kind_of("upload", make_docx()) == "docx"
    assert kind_of("upload", make_pptx()) == "pptx"
    assert kind_of("v1.2", "纯文本".encode()) == "txt"
    assert read_document("upload", make_docx()).text.startswith("开幕致辞\n")


def test_unknown_types_refused() -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(64)
    ole = documents._OLE + bytes(504)
    refused("old.doc", ole, "unknown type: Word 97-2003 (.doc)", USE)
    refused("old.ppt", ole, "unknown type: PowerPoint 97-2003 (.ppt)", USE)
    refused("photo.png", png, "unknown type: an image (.png)", USE)
    refused("upload", png, "unknown type: image/png", USE, content_type="image/png")
    refused("upload", png, "unknown type: an image (PNG)", USE)
    refused("upload", ole, "unknown type: an old Office file", USE)
    refused("upload", b"\x00\x01\x02\xff", "unknown type: binary data", USE)
    refused("upload.zip", zip_bomb(1), "unknown type: a zip archive (.zip)", USE)


def test_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(documents, "MAX_BYTES", 1000)
    refused("big.pdf", bytes(1001), "is larger than 1,000 bytes")
    assert read_document("small.txt", b"x" * 1000).text == "x" * 1000
    monkeypatch.setattr(documents, "MAX_CHARS", 10)
    refused("long.txt", "一二三四五六七八九十一".encode(), "has more than 10 characters of text")
    assert documents._size(20 * 1024 * 1024) == "20 MB"


def test_a_name_with_line_breaks_stays_on_one_line() -> None:
    with pytest.raises(DocumentError) as caught:
        read_document("evil\nname.txt", b"")
    assert str(caught.value) == '"evil name.txt" has no text'


def test_normalise() -> None:
    # NFC joins e + combining acute; full-width letters and punctuation stay (no NFKC)
    messy = "Cafe\u0301  ＡＢＣ，\u00a0好\r\n\r\n\u200b\n a \t\t b "
    assert normalise(messy) == "Café ＡＢＣ， 好\na\tb"
    assert normalise("x\x01y\x0bz\u3000") == "x y\nz"
