"""Turning a chat model's reply into the translation alone, and judging what is left.

Small instruction models wrap a translation in labels ("Translation:"), quotes, code fences
and notes, echo the source, or answer in the wrong language. `clean` strips the wrapping;
`problems` names what cleaning cannot fix, so that the engine retries or repairs.
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
        text = re.sub(r"[ \t]+", " ", text)
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
    if tgt not in ("zh", "ja", "ko"):
        return re.findall(rf"(?:{CJK.pattern})+(?:[\s\d，、·]*(?:{CJK.pattern})+)*", output)
    source_words = set(_ENGLISH_WORD.findall(source))
    runs = re.findall(r"(?<![A-Za-z])[a-z][a-z'-]*(?:\s+[a-z][a-z'-]*)*(?![A-Za-z])", output)
    return [r for r in runs if set(_ENGLISH_WORD.findall(r)) & source_words]


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
    elif leftovers and (tgt != "zh" or len(_ENGLISH_WORD.findall(" ".join(leftovers))) >= 2):
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
