"""The terms of a prepared text: the names, organisations, places, numbers and English words
that a recognizer gets wrong and that the room's hot words should hold. Chinese is tagged by
jieba's part-of-speech model (its HMM finds names it has no entry for)."""

from __future__ import annotations

import re
from collections.abc import Iterable

# jieba's tags: people, places, organisations, other proper nouns, English
_PROPER = {"nr", "nrfg", "nrt", "ns", "nt", "nz", "eng"}
_NUMBER = re.compile(r"\d[\d.,%]*\d%?|\d{3,}")
_ENGLISH_NAME = re.compile(r"\b(?:[A-Z][A-Za-z0-9&'-]*)(?:\s+[A-Z][A-Za-z0-9&'-]*)*\b")
MAX_TERMS = 200  # per text
_COMMON_EN = {"The", "A", "An", "We", "I", "It", "This", "That", "In", "On", "Our", "And"}


def terms(passages: Iterable[str], lang: str) -> list[str]:
    """Terms in order of first appearance, each once."""
    found: dict[str, None] = {}
    for text in passages:
        for term in _zh_terms(text) if lang == "zh" else _en_terms(text):
            if len(found) >= MAX_TERMS:
                break
            found.setdefault(term, None)
    return list(found)


def passage_terms(text: str, lang: str) -> list[str]:
    return terms([text], lang)


def _zh_terms(text: str) -> list[str]:
    import jieba.posseg

    out: list[str] = []
    for pair in jieba.posseg.cut(text):
        word, flag = pair.word.strip(), pair.flag
        if flag in _PROPER and len(word) >= 2:
            out.append(word)
        elif flag == "m" and _NUMBER.fullmatch(word):
            out.append(word)
    return out


def _en_terms(text: str) -> list[str]:
    out: list[str] = []
    sentence_start = True
    for m in re.finditer(r"\S+", text):
        word = m.group(0)
        bare = word.strip(".,;:!?\"'()[]“”‘’")
        if _NUMBER.fullmatch(bare):
            out.append(bare)
        elif bare[:1].isupper() and not sentence_start and bare not in _COMMON_EN:
            out.append(bare)
        elif len(bare) >= 2 and bare.isupper():
            out.append(bare)
        sentence_start = word[-1:] in ".!?"
    return out
