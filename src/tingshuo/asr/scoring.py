"""Error rates for tests and benchmarks, with the normalisation stated.

Mandarin (CER): both sides to Simplified characters; digits in the hypothesis are read out
as Chinese numerals by cn2an (years digit by digit: 2003年 → 二零零三年, 50% → 百分之五十),
since the AISHELL references write numbers in characters; then punctuation and spaces are
removed and Latin letters lower-cased. English (WER): lower-case, punctuation removed except
apostrophes inside words, split on spaces.
"""

from __future__ import annotations

import re
import unicodedata
import warnings
from collections.abc import Sequence

from .text import _t2s


def _strip_punct(text: str) -> str:
    return "".join(
        ch for ch in text if not unicodedata.category(ch).startswith(("P", "S", "Z")) and ch.strip()
    )


def normalize_zh(text: str, hypothesis: bool = False) -> str:
    text = _t2s.convert(text)
    if hypothesis and re.search(r"\d", text):
        import cn2an

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                text = cn2an.transform(text, "an2cn")
            except Exception:  # cn2an gives up on odd digit strings; score them as written
                pass
    return _strip_punct(text).lower()


def normalize_en(text: str) -> list[str]:
    text = text.lower().replace("’", "'")
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
        r, h = normalize_zh(ref), normalize_zh(hyp, hypothesis=True)
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
