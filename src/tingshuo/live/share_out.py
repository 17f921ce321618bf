"""A new transcript's words given out to a session's captions by time (the reading again,
`live/retranscription.py`): the captions keep their times and ids, each takes the words said
within its own stretch of the sound. Model-free: the times of words come from the caller.

A caption owns the time from halfway through the gap before it to halfway through the gap
after it, so words the live room heard in no caption go to the nearest one. A piece of the new
transcript that lies within one caption is given whole; one that spans several is cut where
its words' times cross a boundary, never inside a word, and punctuation stays with the word
before it."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]")
# a piece that reaches into another caption by less than this is given whole to the caption
# it lies in: a final's span and a caption's differ by the padding of their cuts
_REACH_S = 0.3


@dataclass
class Piece:
    start: float
    end: float
    text: str
    lang: str = ""


def units(text: str) -> list[str]:
    """`text` in the units that may go to different captions: a CJK character, or a word of
    other letters and digits, each with the punctuation and spaces after it (what comes before
    the first leads it). Joined, they give `text` back."""
    out: list[str] = []
    lead = ""
    in_word = False
    for ch in text:
        cjk = bool(_CJK.match(ch))
        word = ch.isalnum() and not cjk
        if cjk or (word and not in_word):
            out.append(lead + ch)
            lead = ""
        elif out:
            out[-1] += ch
        else:
            lead += ch
        in_word = word
    if lead:
        out.append(lead)
    return out


def share_out(
    pieces: Sequence[Piece],
    spans: Sequence[tuple[float, float]],
    times: Callable[[Piece, list[str]], list[float] | None],
) -> list[str]:
    """Each caption's share of the pieces' text, in order ("" where none fell to it).
    `spans`: the captions' (start, end), in order of time. `times(piece, units)`: when each
    unit of a piece that spans several captions was said, or None (then spread evenly)."""
    if not spans:
        return []
    bounds = [
        (a_end + b_start) / 2 for (_, a_end), (b_start, _) in zip(spans, spans[1:], strict=False)
    ]
    shares = [""] * len(spans)
    for piece in pieces:
        if not piece.text.strip():
            continue
        reached = [
            i
            for i, (start, end) in enumerate(spans)
            if min(end, piece.end) - max(start, piece.start) > _REACH_S
        ]
        if len(reached) <= 1:
            mid = (piece.start + piece.end) / 2
            owner = reached[0] if reached else _owner(bounds, mid)
            shares[owner] += piece.text
            continue
        parts = units(piece.text)
        when = times(piece, parts)
        if when is None or len(when) != len(parts):
            step = (piece.end - piece.start) / max(len(parts), 1)
            when = [piece.start + (i + 0.5) * step for i in range(len(parts))]
        # within the captions the piece reaches, and never back in time
        owner = reached[0]
        for part, t in zip(parts, when, strict=True):
            owner = min(max(owner, _owner(bounds, t)), reached[-1])
            shares[owner] += part
    return [s.strip() for s in shares]


def _owner(bounds: Sequence[float], t: float) -> int:
    """The caption whose time `t` is in."""
    n = 0
    while n < len(bounds) and t >= bounds[n]:
        n += 1
    return n
