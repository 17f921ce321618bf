"""A prepared text cut into passages, the units that are followed and translated: its
sentences; or, in a bilingual text (alternating lines, or two columns), each line in the
room's language with the organizer's translation beside it. Short bilingual pairs (a
table of names and terms) are glossary pairs for the translator too."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .follow import Passage

_CJK = re.compile(r"[\u3400-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")
_SENTENCE = re.compile(r"(?<=[。！？!?；;…])[”’」』）)]*|(?<=[.])\s+(?=[A-Z\"“‘(\[0-9])")
MAX_PASSAGE = 120  # characters: longer sentences are cut at a comma
_TERM_CHARS = 12  # a bilingual pair this short on the Chinese side is a term
_TERM_WORDS = 6


@dataclass
class Prepared:
    lang: str  # the language that is spoken: the passages' language
    passages: list[Passage] = field(default_factory=list)
    glossary: list[tuple[str, str]] = field(default_factory=list)  # (source, target) pairs
    target: str | None = None  # the language of the organizer's translations, if any


def lang_of(line: str) -> str | None:
    """zh or en by script (None for a line of neither: numbers, symbols)."""
    han = len(_CJK.findall(line))
    latin = len(_LATIN.findall(line))
    if han == 0 and latin == 0:
        return None
    return "zh" if han * 3 >= latin else "en"


def prepare(text: str, lang: str | None = None, wrapped: bool = False) -> Prepared:
    """Passages of `text`, in the room's language `lang` (None: the text's own). `wrapped`:
    its lines are a page's lines (a PDF), so a sentence may go on in the next one."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if wrapped:
        lines = _unwrapped(lines)
    columns = [_two_columns(line) for line in lines]
    if lines and sum(c is not None for c in columns) >= max(2, len(lines) // 2):
        return _bilingual(
            [c if c is not None else line for line, c in zip(lines, columns, strict=True)], lang
        )
    alternating = _alternating(lines)
    if alternating is not None:
        return _bilingual(list(alternating), lang)
    langs = [lang_of(line) for line in lines]
    own = _majority(langs) or lang or "zh"  # a text in one language is in its own
    out = Prepared(own)
    for line in lines:
        for sentence in sentences(line):
            out.passages.append(Passage(sentence))
    return out


def _unwrapped(lines: list[str]) -> list[str]:
    """Lines joined where a sentence runs on into the next one."""
    out: list[str] = []
    for line in lines:
        if out and not re.search(r"[。！？!?；;…:：.\"”」』)）]$", out[-1]):
            wide = _CJK.match(out[-1][-1]) or _CJK.match(line[0]) or out[-1][-1] in "，、；："
            glue = "" if wide else " "
            out[-1] = out[-1] + glue + line
        else:
            out.append(line)
    return out


def sentences(line: str) -> list[str]:
    """A line cut into sentences, long ones at commas."""
    out: list[str] = []
    for piece in _SENTENCE.split(line):
        piece = piece.strip() if piece else ""
        while len(piece) > MAX_PASSAGE:
            cut = max(piece.rfind(c, 0, MAX_PASSAGE) for c in "，,、：:")
            cut = cut + 1 if cut > 0 else MAX_PASSAGE
            out.append(piece[:cut].strip())
            piece = piece[cut:].strip()
        if piece:
            out.append(piece)
    return out


def _majority(langs: list[str | None]) -> str | None:
    counted = [x for x in langs if x]
    return max(set(counted), key=counted.count) if counted else None


def _two_columns(line: str) -> tuple[str, str] | None:
    """A table row (cells by tab or |) with one Chinese and one English cell."""
    cells = [c.strip() for c in re.split(r"\t|\s\|\s|^\||\|$", line) if c and c.strip()]
    if len(cells) != 2:
        return None
    a, b = cells
    la, lb = lang_of(a), lang_of(b)
    if {la, lb} == {"zh", "en"}:
        return (a, b)
    return None


def _alternating(lines: list[str]) -> list[tuple[str, str]] | None:
    """Lines that alternate between two languages, pair by pair."""
    if len(lines) < 2 or len(lines) % 2:
        return None
    pairs = [(lines[i], lines[i + 1]) for i in range(0, len(lines), 2)]
    first = {lang_of(a) for a, _ in pairs}
    second = {lang_of(b) for _, b in pairs}
    if len(first) == 1 and len(second) == 1 and first != second and None not in first | second:
        return pairs
    return None


def _bilingual(items: list[tuple[str, str] | str], lang: str | None) -> Prepared:
    """Pairs in reading order; a line outside them (a title) is followed untranslated."""
    pairs = [i for i in items if isinstance(i, tuple)]
    zh_first = sum(1 for a, _ in pairs if lang_of(a) == "zh") * 2 >= len(pairs)
    own = lang or ("zh" if zh_first else "en")
    target = "en" if own == "zh" else "zh"
    out = Prepared(own, target=target)
    for item in items:
        if isinstance(item, str):
            if lang_of(item) == own:
                out.passages.extend(Passage(s) for s in sentences(item))
            continue
        a, b = item
        source, translation = (a, b) if lang_of(a) == own else (b, a)
        if lang_of(source) != own:
            continue
        zh_side, en_side = (source, translation) if own == "zh" else (translation, source)
        short = len(zh_side) <= _TERM_CHARS and len(en_side.split()) <= _TERM_WORDS
        if short and not re.search(r"[。！？.!?]$", source):
            out.glossary.append((source, translation))
        out.passages.append(Passage(source, translations={target: translation}))
    return out
