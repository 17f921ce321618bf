"""Turning a chat model's reply into the translation alone, and judging what is left.

Small instruction models wrap a translation in labels ("Translation:"), quotes, code fences
and notes, echo the source, or answer in the wrong language. `clean` strips the wrapping;
`problems` names what cleaning cannot fix, so that the engine retries or repairs.
`foreign_spans` and its two uses (`before_foreign`, `without_foreign`) say what of a text is
in a script its readers and voice do not take, for translations still being written and as
the last resort.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..text import tidy_zh
from .base import CJK, HAN

_LABEL = re.compile(
    r"^\s*(?:\*\*)?(?:here is |here's )?(?:the )?(?:"
    r"(?:english|chinese|simplified chinese|japanese|korean) translation|translation|"
    r"translated text|translated|english|chinese|simplified chinese|output|answer|"
    r"译文|翻译|中文翻译|英文翻译|中文|英文|英语|翻译结果)"
    r"(?: is)?(?:\*\*)?\s*[:：]\s*(?:\*\*)?\s*",
    re.IGNORECASE,
)
_NOTE_LINE = re.compile(
    r"^\s*[(（]?\s*(?:\*\*)?(?:note|notes|explanation|literally|literal translation|"
    r"this translation|the translation|in this translation|i translated|i have translated|"
    r"注|注意|注释|说明|解释|备注)\b",
    re.IGNORECASE,
)
_TRAILING_NOTE = re.compile(
    r"\s*[(（](?:note|literally|lit\.|translation|translated|注|注意|直译|意为|即)[^)）]*[)）]\s*$",
    re.IGNORECASE,
)
_INTRO_LINE = re.compile(r"(?:translat|翻译|译文)[^\n]*[:：]\s*$", re.IGNORECASE)
_QUOTES = {'"': '"', "“": "”", "'": "'", "‘": "’", "「": "」", "『": "』", "《": "》"}
_FENCE = re.compile(r"^```[\w-]*\s*|\s*```$")
_ENGLISH_WORD = re.compile(r"\b[a-z]{3,}\b")
# Chinese, Japanese or Korean characters in a row (names of two parts, a number between)
_CJK_RUN = re.compile(rf"(?:{CJK.pattern})+(?:[\s\d，、·]*(?:{CJK.pattern})+)*")
# lower-case English words in a row (capitalised names and acronyms are not taken)
_LOWER_RUN = re.compile(r"(?<![A-Za-z])[a-z][a-z'-]*(?:\s+[a-z][a-z'-]*)*(?![A-Za-z])")
# a space left between two Chinese characters, before a Chinese mark or after an opening one
_ZH_GAP = re.compile(
    rf"(?<={HAN.pattern})\s+(?={HAN.pattern})|\s+(?=[，。！？；：、）」》])|(?<=[，。！？；：、（「《])\s+"
)
# full-width and ideographic punctuation as English writes it (the English voice refuses
# "，" as it refuses "动"); a space follows where a sentence or clause mark stood
_ASCII_PUNCTUATION = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)} | {
    ord(k): v
    for k, v in {
        "，": ", ",
        "。": ". ",
        "！": "! ",
        "？": "? ",
        "；": "; ",
        "：": ": ",
        "、": ", ",
        "\u3000": " ",
        "「": '"',
        "」": '"',
        "『": '"',
        "』": '"',
        "《": '"',
        "》": '"',
        "〈": '"',
        "〉": '"',
        "【": "[",
        "】": "]",
        "〔": "(",
        "〕": ")",
        "（": " (",
        "）": ") ",
    }.items()
}

# expected output length per source character; replies far longer hold explanations
_LENGTH_RATIO = {("zh", "en"): 3.5, ("en", "zh"): 0.5, ("ja", "en"): 2.5, ("ko", "en"): 2.0}


def clean(reply: str, source: str, tgt: str) -> str:
    """The translation alone: no labels, fences, notes, wrapping quotes or extra lines."""
    text = _FENCE.sub("", reply.strip())
    if tgt == "zh":  # Simplified characters and Chinese punctuation, as captions have
        text = "\n".join(tidy_zh(line) for line in text.splitlines())
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # an introduction line ("Here is the translation:") goes, then the first real line stays
    while len(lines) > 1 and (_INTRO_LINE.search(lines[0]) or _NOTE_LINE.match(lines[0])):
        lines.pop(0)
    text = lines[0] if lines else ""  # the model is only ever sent one line
    text = _LABEL.sub("", text, count=1)
    text = _TRAILING_NOTE.sub("", text)
    text = _strip_quotes(text, source)
    if tgt != "zh":
        text = re.sub(r"(?<=\d)年", "", text)  # "2022年" half-translated
        text = ascii_punctuation(text)
    return text.strip()


def _strip_quotes(text: str, source: str) -> str:
    src = source.strip()
    while len(text) >= 2 and _QUOTES.get(text[0]) == text[-1]:
        if src[:1] in _QUOTES and _QUOTES[src[:1]] == src[-1:]:
            break  # the source itself is a quotation
        inner = text[1:-1]
        if text[0] in inner or text[-1] in inner:
            break  # "a" and "b": two quotations, not one wrapper
        text = inner.strip()
    return text


def leftover_source(output: str, source: str, tgt: str) -> list[str]:
    """Pieces of the source language left in the output: runs of Chinese (or Japanese,
    Korean) characters in English; runs of lower-case English words copied from the source
    into Chinese (capitalised names and acronyms may rightly stay)."""
    if not _unspaced(tgt):
        return _CJK_RUN.findall(output)
    source_words = set(_ENGLISH_WORD.findall(source))
    runs = _LOWER_RUN.findall(output)
    return [r for r in runs if set(_ENGLISH_WORD.findall(r)) & source_words]


def english_words(text: str) -> int:
    """How many lower-case English words (of three letters or more) `text` holds."""
    return len(_ENGLISH_WORD.findall(text))


def ascii_punctuation(text: str) -> str:
    """Full-width and ideographic punctuation (and full-width letters and digits) as English
    writes them, spaced as English spaces them."""
    mapped = text.translate(_ASCII_PUNCTUATION)
    if mapped == text:
        return re.sub(r"[ \t]+", " ", text).strip()
    return _spaced_marks(mapped)


def _spaced_marks(text: str) -> str:
    """Single spaces, none before a mark that ends a word ("said ." → "said.")."""
    text = re.sub(r"[ \t]+", " ", text)
    return re.sub(r" +(?=[.,!?;:)\]](?:\s|$))|(?<=[(\[]) +", "", text).strip()


def foreign_spans(text: str, lang: str) -> list[tuple[int, int]]:
    """Where `text`, in `lang`, is written in a script its readers and its voice do not take:
    Chinese, Japanese or Korean characters in English (or any language written with spaces);
    in Chinese (Japanese, Korean), runs of two or more lower-case English words, a phrase left
    untranslated. Latin names, acronyms, numbers, units, brands and a single word may rightly
    stay in Chinese ("在 Zoom 上用 GPU，5 km/h，iPhone 15 Pro", "vintage")."""
    if not _unspaced(lang):
        return [m.span() for m in _CJK_RUN.finditer(text)]
    return [m.span() for m in _LOWER_RUN.finditer(text) if english_words(m.group()) >= 2]


def before_foreign(text: str, lang: str) -> str:
    """`text` up to the first of its `foreign_spans`: what of a translation still being written
    may be shown and spoken now (the rest waits for the repaired translation)."""
    if not _unspaced(lang):
        text = ascii_punctuation(text)
    spans = foreign_spans(text, lang)
    return text[: spans[0][0]].rstrip() if spans else text


def without_foreign(text: str, lang: str) -> str:
    """`text` without its `foreign_spans` (the last resort, when repair failed: nothing in
    another script reaches a viewer or a voice)."""
    if not _unspaced(lang):
        text = ascii_punctuation(text)
    spans = foreign_spans(text, lang)
    if not spans:
        return text
    kept, at = [], 0
    for start, end in spans:
        kept.append(text[at:start])
        at = end
    kept.append(text[at:])
    return respace("".join(kept) if _unspaced(lang) else " ".join(kept), lang)


def respace(text: str, lang: str) -> str:
    """`text` after words were taken out of it: single spaces, none before a mark that ends
    a word (nor around Chinese punctuation), no empty brackets or quotes."""
    if _unspaced(lang):
        text = _ZH_GAP.sub("", text)
        return re.sub(r"\s{2,}", " ", text).strip()
    text = re.sub(r"\(\s*\)|\[\s*\]|\"\s*\"", "", " ".join(text.split()))
    return _spaced_marks(text)


def _unspaced(lang: str) -> bool:
    return lang.split("-")[0] in ("zh", "ja", "ko", "yue")


@dataclass(frozen=True)
class Issue:
    """Something wrong with a reply. `kind` decides the repair; `detail` is for the log."""

    kind: str  # empty, echo, wrong script, leftover, too long, numbers, terms
    detail: str

    def __str__(self) -> str:
        return self.detail


def problems(output: str, source: str, src: str, tgt: str) -> list[Issue]:
    """What is wrong with a cleaned output; empty when it looks right."""
    if not output:
        return [Issue("empty", "empty reply")]
    found: list[Issue] = []
    if _normalise(output) == _normalise(source) and _has_words(source, src):
        found.append(Issue("echo", "echoed the source"))
    leftovers = leftover_source(output, source, tgt)
    if tgt == "zh" and not HAN.search(output) and _has_words(source, src):
        found.append(Issue("wrong script", "no Chinese in the reply"))
    # a single English word in Chinese is often meant ("vintage"); two or more are not
    elif leftovers and (tgt != "zh" or english_words(" ".join(leftovers)) >= 2):
        found.append(Issue("leftover", f"left {src} text behind: {' / '.join(leftovers)}"))
    ratio = _LENGTH_RATIO.get((src, tgt), 3.0)
    if len(output) > 3 * ratio * len(source) + 40:
        detail = f"reply is {len(output)} characters for a {len(source)}-character source"
        found.append(Issue("too long", detail))
    return found


def _normalise(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.lower())


def _has_words(text: str, lang: str) -> bool:
    """Whether `text` holds something to translate, not just names, numbers or symbols."""
    if lang in ("zh", "ja", "ko"):
        return bool(CJK.search(text))
    return bool(_ENGLISH_WORD.search(text))
