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
MAX_TERMS = 1000  # per text (the recognizer gets those near the speaker)
_HAN = re.compile(r"[\u4e00-\u9fff]")
_COMMON = 5000  # in jieba's dictionary (of 60 million): a word the recognizer knows
_RARE = 100
_JOINERS = set("和与及跟同在的对把被从向")
# the words after a name that make it an organisation's
_ORGANISATION = {
    "地产", "集团", "公司", "银行", "大学", "学院", "研究院", "研究所", "委员会", "协会",
    "基金", "证券", "控股", "科技", "医院", "中心", "电视台", "日报", "网", "院",
}  # fmt: skip
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


def known_terms(text: str, lang: str) -> list[str]:
    """The terms of a caption that the recognizer cannot have made up: Mandarin ones that
    jieba's dictionary holds (a misheard name is seldom a word there), English names; no
    numbers. What a session's captions settle, to be heard again (`live/session.py`)."""
    import jieba

    found = [t for t in terms([text], lang) if not _NUMBER.fullmatch(t)]
    if lang != "zh":
        return found
    return [t for t in found if (jieba.dt.FREQ.get(t) or 0) > 0]


def _zh_terms(text: str) -> list[str]:
    """Proper nouns and abbreviations by jieba's tagger, and nouns rare in its dictionary
    (保利, 链家: names it does not know as names); not words so common that the recognizer
    knows them already (北京, 城市); a name and the organisation word after it as one
    (保利 + 地产)."""
    import jieba
    import jieba.posseg

    pairs = [(p.word.strip(), p.flag) for p in jieba.posseg.cut(text)]
    freq = jieba.dt.FREQ  # after the cut: the dictionary is loaded by then
    out: list[str] = []
    merged = -1
    for n, (word, flag) in enumerate(pairs):
        if n == merged:
            continue
        if flag == "m" and _NUMBER.fullmatch(word):
            out.append(word)
            continue
        if len(word) < 2 or not _HAN.search(word):
            if flag == "eng" and len(word) >= 2:
                out.append(word)
            continue
        if word[0] in _JOINERS and word not in freq and len(word) >= 3:
            word = word[1:]  # 和恒大: jieba took the conjunction into an unknown name
        known = freq.get(word) or 0
        proper = flag in _PROPER or flag == "j"
        rare_noun = flag in ("n", "nz", "j") and known < _RARE
        if not (proper or rare_noun) or known > _COMMON:
            continue
        following = pairs[n + 1][0] if n + 1 < len(pairs) else ""
        if following in _ORGANISATION:
            word, merged = word + following, n + 1
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
