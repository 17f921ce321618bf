"""The Translator protocol, and what every engine shares: languages, detection, splitting."""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ..errors import TingshuoError

if TYPE_CHECKING:
    from .glossary import Glossary

LANGUAGE_NAMES = {
    "zh": "Simplified Chinese",
    "en": "English",
    "ja": "Japanese",
    "ko": "Korean",
}

# a model call sees at most this much text; longer text is split at sentence ends, so a
# caption never waits behind a page and the output budget stays predictable
MAX_CHARS_PER_CALL = 400

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_KANA = "\u3040-\u30ff"
_HANGUL = "\uac00-\ud7af\u1100-\u11ff"
HAN = re.compile(f"[{_HAN}]")
CJK = re.compile(f"[{_HAN}{_KANA}{_HANGUL}]")
_SENTENCE_END = re.compile(r"(?<=[。！？!?；;…])\s*|(?<=[.])\s+(?=[A-Z\"“‘(\[0-9])")
_CLAUSE_END = re.compile(r"(?<=[，,、：:])\s*")


@dataclass(frozen=True)
class Turn:
    """A previous caption and its translation: context that keeps names and pronouns steady."""

    source: str
    target: str


class Translator(Protocol):
    name: str
    pairs: frozenset[tuple[str, str]]  # (source, target) language codes it translates

    def translate(
        self,
        text: str,
        src: str,
        tgt: str,
        context: Sequence[Turn] = (),
        glossary: Glossary | None = None,
        conversation: Hashable | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> str: ...


def detect_lang(text: str) -> str:
    """zh, ja, ko or en, by script: kana means Japanese, hangul Korean, other Han Chinese."""
    if re.search(f"[{_KANA}]", text):
        return "ja"
    if re.search(f"[{_HANGUL}]", text):
        return "ko"
    han = len(HAN.findall(text))
    latin = len(re.findall(r"[A-Za-z]", text))
    # a Chinese sentence with a few English names is still Chinese
    return "zh" if han and han * 3 >= latin else "en"


def check_pair(src: str, tgt: str, pairs: frozenset[tuple[str, str]]) -> None:
    if (src, tgt) not in pairs:
        known = ", ".join(f"{a}→{b}" for a, b in sorted(pairs))
        raise TingshuoError(f"cannot translate {src}→{tgt}: supported pairs are {known}")


def split_sentences(text: str, max_chars: int = MAX_CHARS_PER_CALL) -> list[str]:
    """Pieces of at most `max_chars`, cut at sentence ends, else at commas, else anywhere."""
    pieces: list[str] = []
    for line in text.splitlines():
        current = ""
        for sentence in filter(None, _SENTENCE_END.split(line.strip())):
            for part in _fit(sentence, max_chars):
                if current and len(current) + len(part) + 1 > max_chars:
                    pieces.append(current)
                    current = ""
                joiner = "" if HAN.search(current) else " "
                current = f"{current}{joiner}{part}" if current else part
        if current:
            pieces.append(current)
    return pieces


def _fit(sentence: str, max_chars: int) -> list[str]:
    if len(sentence) <= max_chars:
        return [sentence]
    parts: list[str] = []
    for clause in filter(None, _CLAUSE_END.split(sentence)):
        while len(clause) > max_chars:
            parts.append(clause[:max_chars])
            clause = clause[max_chars:]
        if parts and len(parts[-1]) + len(clause) <= max_chars:
            parts[-1] += clause
        else:
            parts.append(clause)
    return parts


def join_pieces(pieces: Sequence[str], tgt: str) -> str:
    """Chinese sentences run on; English ones take a space."""
    return ("" if tgt in ("zh", "ja") else " ").join(p for p in pieces if p)
