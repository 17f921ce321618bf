"""What an assessment says: each syllable's verdicts, score and advice, and the reading's
scores. Both paths (sentences through the recognizer, drills by pitch) build these."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field

from .sandhi import SHAPES, SHAPES_ZH, Syllable, split_syllable

MIN_PAUSE_S = 0.4  # a silence this long inside the reading counts as a pause
FLUENT_RATE = 2.5  # syllables per second that earn a full speed score
SLOW_RATE = 1.0  # ... and a zero one
WEIGHTS = {"initial": 0.25, "final": 0.35, "tone": 0.40}


class SyllableResult(BaseModel):
    index: int
    text: str  # the character (or pinyin) of the prompt
    expected: str  # tone-numbered pinyin after sandhi, ni2
    expected_marked: str  # ní
    citation: str  # before sandhi, ni3
    heard: str | None  # tone-numbered pinyin of the character the recognizer heard
    heard_text: str | None
    initial_ok: bool | None
    final_ok: bool | None
    tone_ok: bool | None  # None: too little voicing to judge
    # the tone as judged: the expected one when tone_ok, else the likeliest other one
    tone_heard: int | None
    shape: str  # tone_heard's shape: level, rising, dipping, falling, light; or unclear
    tone_probability: float | None  # probability of the expected tone
    # False: the pitch lies between two tones and the verdict is a near thing; the page says
    # it cannot tell rather than ✓ or ✗, and the score leaves the tone out (drills only)
    tone_sure: bool | None = None
    start: float
    end: float
    score: int
    contour: list[float]  # semitones around the speaker's median, 10 ms apart
    advice: str
    advice_zh: str
    # the pitch network's likeliest tone alone, for validation; not in the JSON
    pitch_tone: int | None = Field(default=None, exclude=True)


class Scores(BaseModel):
    accuracy: float
    fluency: float
    completeness: float
    overall: float
    speech_rate: float  # syllables per second
    pauses: int  # unexpected pauses of MIN_PAUSE_S or more
    missing: int
    extra: int


class Assessment(BaseModel):
    prompt: str
    # "drill": one to four syllables, found and judged in the audio itself (pitch alone for
    # the tone); "sentence": syllables found through the recognizer
    mode: str = "sentence"
    recognized: str
    duration_s: float
    speaker_median_hz: float
    # the speaker's register as this reading tells it (Hz): a sentence's median pitch; a
    # drill's pitch less each prompted tone's usual height (`drill.register_estimate`). The
    # /learn page keeps a learner's and sends their median back as `register_hz` once it
    # has three
    register_hz: float | None = None
    syllables: list[SyllableResult]
    scores: Scores


def syllable_result(
    i, syl: Syllable, start, end, c, initial_ok, final_ok, tone_ok, tone_heard, p_expected,
    pitch_tone, heard: str | None, heard_text: str | None, advice: tuple[str, str],
    tone_sure: bool | None = None,
) -> SyllableResult:  # fmt: skip
    """One syllable's result as both paths give it: its score weighs what could be judged."""
    parts = {
        k: float(x) for k, x in (("initial", initial_ok), ("final", final_ok)) if x is not None
    }
    if tone_ok is not None and tone_sure is not False:
        parts["tone"] = float(tone_ok)
    total = sum(WEIGHTS[k] for k in parts)
    value = round(100 * sum(WEIGHTS[k] * x for k, x in parts.items()) / total) if total else 0
    return SyllableResult(
        index=i,
        text=syl.text,
        expected=syl.numbered,
        expected_marked=syl.marked,
        citation=f"{syl.pinyin}{syl.citation_tone}",
        heard=heard,
        heard_text=heard_text,
        initial_ok=initial_ok,
        final_ok=final_ok,
        tone_ok=tone_ok,
        tone_heard=tone_heard,
        shape=SHAPES[tone_heard] if tone_heard is not None else "unclear",
        tone_probability=round(p_expected, 3) if p_expected is not None else None,
        tone_sure=tone_sure,
        start=round(start, 2),
        end=round(end, 2),
        score=value,
        contour=[round(float(x), 2) for x in c.curve] if c is not None else [],
        advice=advice[0],
        advice_zh=advice[1],
        pitch_tone=pitch_tone,
    )


def advice_for(
    syl: Syllable, h, initial_ok, final_ok, tone_ok, tone_heard, near: int | None = None
) -> tuple[str, str]:
    """The advice in English and Chinese: what to change, or "good". `near`: the verdict was a
    near thing between the expected tone and this one; the tone is neither praised nor
    blamed."""
    en, zh = [], []
    if initial_ok is None:
        en.append("initial and final not judged: the recognizer could not make out the syllable")
        zh.append("声母和韵母无法判断")
    elif h is None:
        return "not heard: say every syllable", "没有听到这个音节"
    if initial_ok is False:
        en.append(
            f"initial: say {syl.initial or '(none)'}, not {split_syllable(h.pinyin)[0] or '(none)'}"
        )
        zh.append(f"声母应为 {syl.initial or '零声母'}")
    if final_ok is False:
        en.append(f"final: say {syl.final}, not {split_syllable(h.pinyin)[1]}")
        zh.append(f"韵母应为 {syl.final}")
    if near is not None:
        en.append(
            f"tone: cannot tell whether it was {SHAPES[syl.tone]} (tone {syl.tone}) or "
            f"{SHAPES[near]} (tone {near}): say it again, a little longer"
        )
        zh.append(f"声调听不准（第{syl.tone}声还是第{near}声），请再读一遍，稍长一点")
    elif tone_ok is False and tone_heard is not None:
        en.append(
            f"tone: {SHAPES[syl.tone]} (tone {syl.tone}) expected, "
            f"heard {SHAPES[tone_heard]} (tone {tone_heard})"
        )
        zh.append(f"声调应为第{syl.tone}声（{SHAPES_ZH[syl.tone]}），听起来像第{tone_heard}声")
    elif tone_ok is False:
        en.append(f"tone: {SHAPES[syl.tone]} (tone {syl.tone}) expected")
        zh.append(f"声调应为第{syl.tone}声（{SHAPES_ZH[syl.tone]}）")
    elif tone_ok is None:
        en.append("tone: too little voice to judge")
        zh.append("声调无法判断")
    if not en:
        return "good", "很好"
    return "; ".join(en), "；".join(zh)


def reading_scores(
    results, expected, links, heard, silences: list[tuple[float, float]], tone_only=False
) -> Scores:
    """The reading's scores; `silences`: the non-speech stretches inside its speech."""
    n = len(expected)
    used = {j for j in links if j is not None}
    missing = 0 if tone_only else sum(1 for j in links if j is None)
    extra = len(heard) - len(used)
    accuracy = float(np.mean([r.score for r in results]))
    completeness = 100.0 * (n - missing) / (n + extra)
    first, last = results[0].start, results[-1].end
    rate = n / max(0.1, last - first)
    speed = float(np.clip((rate - SLOW_RATE) / (FLUENT_RATE - SLOW_RATE), 0.0, 1.0))
    expected_breaks = [r.end for r, s in zip(results, expected, strict=True) if s.pause_after]
    pauses = 0
    for s, e in silences:
        if e - s < MIN_PAUSE_S or s <= first or e >= last:
            continue
        if not any(s - 0.3 <= t <= e + 0.3 for t in expected_breaks):
            pauses += 1
    fluency = 100.0 * speed * max(0.0, 1.0 - 0.15 * pauses)
    overall = 0.6 * accuracy + 0.2 * fluency + 0.2 * completeness
    return Scores(
        accuracy=round(accuracy, 1),
        fluency=round(fluency, 1),
        completeness=round(completeness, 1),
        overall=round(overall, 1),
        speech_rate=round(rate, 2),
        pauses=pauses,
        missing=missing,
        extra=extra,
    )
