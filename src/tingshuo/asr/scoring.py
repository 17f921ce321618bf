"""Error rates for tests and benchmarks, with the normalisation stated.

Mandarin (CER): both sides to Simplified characters; digits are written out as Chinese
numerals the way the AISHELL references write them (`spell_numbers`: 2003年 → 二零零三年,
90后 → 九零后, 30年 → 三十年, 50% → 百分之五十, 1/3 → 三分之一, 8.5 → 八点五); then
punctuation and spaces are removed and Latin letters lower-cased. English (WER):
lower-case, % read as "percent", punctuation removed except apostrophes inside words, split on
spaces.
"""

from __future__ import annotations

import re
import unicodedata
import warnings
from collections.abc import Sequence

from ..text import t2s


def _strip_punct(text: str) -> str:
    return "".join(
        ch for ch in text if not unicodedata.category(ch).startswith(("P", "S", "Z")) and ch.strip()
    )


_DIGITS = "零一二三四五六七八九"


def _spell(number: str) -> str:
    """An Arabic number as the AISHELL references write it in characters."""
    import cn2an

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cn2an.an2cn(number)


def _read_digits(match: re.Match) -> str:
    return "".join(_DIGITS[int(d)] for d in match.group(0))


def spell_numbers(text: str) -> str:
    """Digits → Chinese numerals: years and generations digit by digit (2003年, 90后),
    percentages as 百分之…, fractions as …分之…, other numbers as cardinals (30年 → 三十年)."""
    text = re.sub(r"\d{4}(?=年)|\d{2}(?=后)", _read_digits, text)
    text = re.sub(r"(\d+(?:\.\d+)?)%", lambda m: "百分之" + _spell(m.group(1)), text)
    text = re.sub(r"(\d+)/(\d+)", lambda m: _spell(m.group(2)) + "分之" + _spell(m.group(1)), text)
    return re.sub(r"\d+(?:\.\d+)?", lambda m: _spell(m.group(0)), text)


def normalize_zh(text: str) -> str:
    return _strip_punct(spell_numbers(t2s.convert(text))).lower()


def normalize_en(text: str) -> list[str]:
    text = text.lower().replace("’", "'").replace("%", " percent")
    text = re.sub(r"[^\w\s']|(?<!\w)'|'(?!\w)", " ", text)
    return text.split()


def edit_distance(ref: Sequence, hyp: Sequence) -> int:
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i]
        for j, h in enumerate(hyp, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1]


def cer(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Character error rate over a corpus (total edits / total reference characters)."""
    edits = total = 0
    for ref, hyp in zip(refs, hyps, strict=True):
        r, h = normalize_zh(ref), normalize_zh(hyp)
        edits += edit_distance(r, h)
        total += len(r)
    return edits / max(total, 1)


def wer(refs: Sequence[str], hyps: Sequence[str]) -> float:
    edits = total = 0
    for ref, hyp in zip(refs, hyps, strict=True):
        r, h = normalize_en(ref), normalize_en(hyp)
        edits += edit_distance(r, h)
        total += len(r)
    return edits / max(total, 1)
