"""What the recognizer heard, character by character with times, aligned to the prompt.

Whisper's word timestamps (cross-attention + DTW, in faster-whisper) give each Chinese
token a start and end; a token of several characters is shared out evenly between them.
The heard syllables are then aligned to the expected ones by edit distance on toneless
pinyin, where a syllable that keeps its initial or its final costs less than one that keeps
neither, so "zi" heard for "zhi" lines up with it and counts as a wrong initial.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..errors import TingshuoError
from .sandhi import Syllable, heard_syllables, split_syllable

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_DIGIT = re.compile(r"\d")
_NUMBER_PART = re.compile(r"[\d.%％]+")
_DIGITS = str.maketrans("0123456789", "零一二三四五六七八九")


@dataclass(frozen=True)
class HeardSyllable:
    char: str
    pinyin: str  # toneless
    tone: int  # the dictionary tone of the character heard
    sandhi_tone: int  # ... after tone sandhi in the heard sentence
    start: float
    end: float
    probability: float


@dataclass(frozen=True)
class Recognition:
    text: str
    syllables: list[HeardSyllable]
    language_probability: float  # Whisper's probability that this is Mandarin (1: assumed)


@lru_cache(maxsize=1)
def _t2s():
    from opencc import OpenCC

    return OpenCC("t2s")


def _numbers_as_read(words: list[dict]) -> list[dict]:
    """Whisper writes numbers in digits (80%, 1.5倍, 2003年): join each number with its unit and
    write it as it is read (百分之八十, 一点五倍, 二零零三年), its time shared by the characters."""
    import cn2an

    out: list[dict] = []
    i = 0
    while i < len(words):
        if not _DIGIT.search(words[i]["word"]):
            out.append(words[i])
            i += 1
            continue
        j = i
        while j + 1 < len(words) and _NUMBER_PART.fullmatch(words[j + 1]["word"].strip()):
            j += 1
        following = words[j + 1]["word"].strip() if j + 1 < len(words) else ""
        percent = words[j]["word"].strip().endswith(("%", "％"))
        if following and _HAN.match(following[0]) and not percent:  # the unit: 年, 倍, 个
            j += 1
        text = "".join(w["word"] for w in words[i : j + 1]).strip()
        try:
            text = cn2an.transform(text, "an2cn")
        except (ValueError, KeyError):  # cn2an gives up on some strings: digit by digit
            pass
        probability = float(np.mean([w["probability"] for w in words[i : j + 1]]))
        out.append(
            {
                "word": text,
                "start": words[i]["start"],
                "end": words[j]["end"],
                "probability": probability,
            }
        )
        i = j + 1
    return out


def recognize(recognizer, audio: np.ndarray) -> Recognition:
    """Recognize the reading as Mandarin, with a time for every character."""
    if not hasattr(recognizer, "timed_words"):
        raise TingshuoError(
            "assessment needs a Whisper recognizer with word timings: set TINGSHUO_ASR_MODEL "
            "to base or a faster-whisper model folder"
        )
    # Mandarin is read at under 8 syllables a second: more tokens is Whisper looping on
    # something else (English read to a Mandarin decoder loops for seconds)
    max_tokens = min(400, int(10 * audio.size / 16_000) + 10)
    words, text = recognizer.timed_words(audio, "zh", max_tokens)
    t2s = _t2s()
    chars: list[tuple[str, float, float, float]] = []
    for w in _numbers_as_read(words):
        word = t2s.convert(w["word"]).translate(_DIGITS)
        han = [c for c in word if _HAN.match(c)]
        if not han:
            continue
        step = (w["end"] - w["start"]) / len(han)
        for k, c in enumerate(han):
            chars.append((c, w["start"] + k * step, w["start"] + (k + 1) * step, w["probability"]))
    text = t2s.convert(text).strip()
    syllables = []
    if chars:
        readings = heard_syllables("".join(c for c, *_ in chars))
        if len(readings) == len(chars):
            syllables = [
                HeardSyllable(c, r.pinyin, r.citation_tone, r.tone, s, e, p)
                for (c, s, e, p), r in zip(chars, readings, strict=True)
            ]
    return Recognition(text, syllables, 1.0)


def trim_hallucinations(recognition: Recognition, speech: tuple[float, float]) -> Recognition:
    """Drop characters Whisper adds after (or before) the speech: improbable, zero-length or
    outside what the voice activity detector heard (您可以提醒您的设计 after a sentence)."""
    syllables = list(recognition.syllables)

    def doubtful(h: HeardSyllable) -> bool:
        return h.probability < 0.1 or h.end - h.start < 0.02 or h.start > speech[1] - 0.05

    while syllables and doubtful(syllables[-1]):
        syllables.pop()
    while syllables and syllables[0].end < speech[0] + 0.05:
        syllables.pop(0)
    if len(syllables) == len(recognition.syllables):
        return recognition
    text = "".join(h.char for h in syllables)
    return Recognition(text, syllables, recognition.language_probability)


def _cost(a: Syllable, b: HeardSyllable) -> float:
    if a.pinyin == b.pinyin:
        return 0.0
    ia, fa = a.initial, a.final
    ib, fb = split_syllable(b.pinyin)
    if ia == ib or fa == fb:
        return 0.6
    return 1.0


def align(expected: list[Syllable], heard: list[HeardSyllable]) -> list[int | None]:
    """For each expected syllable, the index of the heard syllable aligned to it (or None)."""
    n, m = len(expected), len(heard)
    d = np.zeros((n + 1, m + 1))
    d[:, 0] = np.arange(n + 1)
    d[0, :] = np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            d[i, j] = min(
                d[i - 1, j - 1] + _cost(expected[i - 1], heard[j - 1]),
                d[i - 1, j] + 1.0,
                d[i, j - 1] + 1.0,
            )
    out: list[int | None] = [None] * n
    i, j = n, m
    while i > 0 and j > 0:
        if d[i, j] == d[i - 1, j - 1] + _cost(expected[i - 1], heard[j - 1]):
            out[i - 1] = j - 1
            i, j = i - 1, j - 1
        elif d[i, j] == d[i - 1, j] + 1.0:
            i -= 1
        else:
            j -= 1
    return out


def syllable_times(
    links: list[int | None],
    heard: list[HeardSyllable],
    speech: tuple[float, float],
) -> list[tuple[float, float]]:
    """A start and end for every expected syllable.

    Aligned syllables take the heard character's times; the others share out the gap between
    their aligned neighbours. The reading's first and last edges are pulled in to where the
    voice activity detector hears speech (Whisper tends to start the first word at 0 s).
    """
    n = len(links)
    times: list[tuple[float, float] | None] = [
        (heard[j].start, heard[j].end) if j is not None else None for j in links
    ]
    i = 0
    while i < n:
        if times[i] is not None:
            i += 1
            continue
        k = i
        while k < n and times[k] is None:
            k += 1
        lo = times[i - 1][1] if i > 0 else speech[0]
        hi = times[k][0] if k < n else speech[1]
        hi = max(hi, lo + 0.05 * (k - i))
        step = (hi - lo) / (k - i)
        for t in range(i, k):
            times[t] = (lo + (t - i) * step, lo + (t - i + 1) * step)
        i = k
    out = [t for t in times if t is not None]
    if out:
        s0, e0 = out[0]
        out[0] = (min(max(s0, speech[0]), e0 - 0.05), e0)
        s1, e1 = out[-1]
        out[-1] = (s1, max(min(e1, speech[1]), s1 + 0.05))
    return out


# Whisper's character times come early: the boundary between two characters sits about
# a tenth of a second before the break between them (fitted on the training recordings)
LAG_S = 0.1
REACH_S = 0.08


def syllable_spans(
    links: list[int | None], heard: list[HeardSyllable], speech: tuple[float, float], pitch
) -> list[tuple[float, float]]:
    """Start and end of every expected syllable: the recognizer's times, then `refine`d."""
    spans = syllable_times(links, heard, speech)
    voiced = ~np.isnan(pitch.semitones)
    return refine(spans, voiced, pitch.intensity, lag=LAG_S, reach=REACH_S)


def refine(
    spans: list[tuple[float, float]],
    voiced: np.ndarray,
    intensity: np.ndarray,
    step: float = 0.01,
    lag: float = 0.0,
    reach: float = 0.1,
) -> list[tuple[float, float]]:
    """Move each boundary between syllables to the likeliest break nearby.

    Whisper's character times are a tenth of a second or so off. A Mandarin syllable is one
    voiced stretch of rising and falling loudness; the break between two is a voiceless
    consonant or a dip in loudness. Each boundary (shifted by `lag`) moves to the frame
    within `reach` that is quietest, voiceless frames first.
    """
    if not spans:
        return spans
    n_frames = intensity.size
    bounds = [spans[0][0]] + [
        (a[1] + b[0]) / 2 + lag for a, b in zip(spans, spans[1:], strict=False)
    ]
    bounds.append(spans[-1][1])
    cost = intensity - 30.0 * (~voiced)  # any voiceless frame beats every voiced one
    out = [bounds[0]]
    for k in range(1, len(bounds) - 1):
        lo = max(out[-1] + 0.06, bounds[k] - reach)
        hi = min(bounds[-1] - 0.06, bounds[k] + reach)
        a, b = int(lo / step), int(hi / step) + 1
        if b <= a or a >= n_frames:
            out.append(max(out[-1] + 0.03, min(bounds[k], bounds[-1] - 0.03)))
            continue
        window = cost[a : min(b, n_frames)]
        out.append((a + int(np.argmin(window))) * step + step / 2)
    out.append(bounds[-1])
    return list(zip(out[:-1], out[1:], strict=True))
