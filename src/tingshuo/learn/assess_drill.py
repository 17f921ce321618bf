"""Assessing a drill: a prompt of one to four syllables, found and judged in the audio itself.

The syllables are split by pitch and voicing (`drill.split`) rather than by the recognizer,
which often writes nothing for one isolated syllable; each tone is judged by pitch alone.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..errors import TingshuoError
from ..settings import Settings
from . import drill, phones
from .activity import SAMPLE_RATE, check_duration, voice_activity
from .align import HeardSyllable
from .pitch import PitchTrack, track_pitch
from .result import Assessment, SyllableResult, advice_for, reading_scores, syllable_result
from .sandhi import Syllable
from .tones import Contour


@dataclass(frozen=True)
class DrillAnalysis:
    """What a short reading holds: its speech, pitch and syllable spans (for `n` syllables)."""

    duration_s: float
    speech: tuple[float, float]
    silences: list[tuple[float, float]]
    pitch: PitchTrack
    spans: list[tuple[float, float]]
    audio: np.ndarray


DRILL_MIN_SPEECH_S = 0.1  # Silero often hears a lone 0.3 s syllable as only 0.1-0.2 s
DRILL_MIN_LOUD_DB = -45.0  # ... then voiced frames this loud (dB re full scale) will do


def analyse_drill(audio: np.ndarray, n: int, settings: Settings) -> DrillAnalysis:
    """Find the voiced stretch of a short reading and split it into `n` syllables."""
    duration = check_duration(audio, settings)
    speech, silences, speech_s = voice_activity(audio)
    track = track_pitch(audio)
    if speech_s < DRILL_MIN_SPEECH_S or drill.voiced_stretch(track, speech) is None:
        # Silero misses some lone syllables, or hears them beside their voicing: loud voiced
        # frames, clearly above the noise, will do
        voiced = ~np.isnan(track.semitones)
        floor = float(np.percentile(track.intensity, 10)) if track.intensity.size else 0.0
        loud = (track.intensity > DRILL_MIN_LOUD_DB) & (track.intensity > floor + 20.0)
        idx = np.flatnonzero(voiced & loud)
        if idx.size * 0.01 < DRILL_MIN_SPEECH_S:
            # a syllable too short or rough to carry a pitch: its tone is not judged
            idx = np.flatnonzero(loud) if speech_s >= DRILL_MIN_SPEECH_S else idx
        if idx.size * 0.01 < DRILL_MIN_SPEECH_S:
            raise TingshuoError("no speech heard: record yourself reading the prompt aloud")
        speech = (max(0.0, track.times[idx[0]] - 0.05), track.times[idx[-1]] + 0.05)
    length = speech[1] - speech[0]
    limit = drill.max_speech_s(n)
    if length > limit:
        raise TingshuoError(
            f"the recording has {length:.1f} s of speech for a prompt of {n} "
            f"syllable{'s' if n > 1 else ''} (at most {limit:.1f} s): read only the prompt"
        )
    cut = drill.split(track, speech, n)
    return DrillAnalysis(duration, speech, silences, track, cut.spans, audio)


def drill_probabilities(
    analysis: DrillAnalysis,
    register_hz: float | None = None,
    model: drill.DrillToneModel | None = None,
) -> list[np.ndarray | None]:
    """P(tone 1..4) of each syllable of a short reading, from its pitch alone."""
    model = model or drill.load_drill_model()
    contours = drill.contours_for(analysis.pitch, analysis.spans)
    registers = drill.reading_registers(analysis.audio, analysis.pitch, analysis.spans, register_hz)
    return [
        drill.tone_probabilities(model, analysis.pitch, analysis.spans, contours, i, registers)
        for i in range(len(analysis.spans))
    ]


def drawn_contours(
    analysis: DrillAnalysis,
    register_hz: float | None = None,
    model: drill.DrillToneModel | None = None,
) -> list[Contour | None]:
    """Each syllable's contour against the register its verdict judged it in (the likeliest
    of `reading_registers`), not around the reading's own median: a lone low fall (21) is
    drawn low, where the verdict heard it, and not as a falling tone's shape."""
    model = model or drill.load_drill_model()
    contours = drill.contours_for(analysis.pitch, analysis.spans)
    registers = drill.reading_registers(analysis.audio, analysis.pitch, analysis.spans, register_hz)
    out: list[Contour | None] = []
    for i, c in enumerate(contours):
        if c is None:
            out.append(None)
            continue
        reg = drill.judged_register(model, analysis.pitch, analysis.spans, contours, i, registers)
        offset = drill.register_offset(analysis.pitch, c, reg)
        out.append(replace(c, points=c.points + offset, curve=c.curve + offset))
    return out


def assess_drill(
    recognizer,
    audio: np.ndarray,
    expected: list[Syllable],
    settings: Settings,
    prompt: str = "",
    register_hz: float | None = None,
    model: drill.DrillToneModel | None = None,
) -> Assessment:
    """A prompt of one to four syllables, judged without relying on the recognizer.

    The syllables are found in the audio (`drill.split`) and each tone is judged from the
    pitch alone (`drill_probabilities`, `drill.tone_passes`). With a recognizer, the initial
    and final are judged by scoring the expected syllables against their neighbours
    (`phones.judge`); without one they are left unjudged.
    """
    analysis = analyse_drill(audio, len(expected), settings)
    probs = drill_probabilities(analysis, register_hz, model)
    verdicts = _drill_phones(recognizer, analysis, expected)
    results = []
    drawn = drawn_contours(analysis, register_hz, model)
    for i, (syl, (start, end)) in enumerate(zip(expected, analysis.spans, strict=True)):
        results.append(_drill_syllable(i, syl, verdicts[i], probs[i], drawn[i], start, end))
    links: list[int | None] = [None] * len(expected)
    heard = [v.heard_char for v in verdicts if v is not None]
    return Assessment(
        prompt=prompt or "".join(s.text for s in expected),
        mode="drill",
        recognized="".join(h for h in heard if h) if len(heard) == len(expected) else "",
        duration_s=round(analysis.duration_s, 2),
        speaker_median_hz=round(analysis.pitch.median_hz, 1),
        register_hz=_told_register(analysis, expected, model),
        syllables=results,
        scores=reading_scores(results, expected, links, [], analysis.silences, tone_only=True),
    )


def _told_register(
    analysis: DrillAnalysis, expected: list[Syllable], model: drill.DrillToneModel | None
) -> float | None:
    told = drill.register_estimate(
        model or drill.load_drill_model(),
        analysis.pitch,
        drill.contours_for(analysis.pitch, analysis.spans),
        [s.tone for s in expected],
    )
    return round(told, 1) if told else None


def _drill_phones(
    recognizer, analysis: DrillAnalysis, expected: list[Syllable]
) -> list[phones.PhoneVerdict | None]:
    """Initial and final of each syllable by forced scoring (None: no recognizer to ask)."""
    if recognizer is None or not hasattr(recognizer, "_window"):
        return [None] * len(expected)
    a, b = analysis.speech
    lo = max(0, int((a - 0.2) * SAMPLE_RATE))
    hi = min(analysis.audio.size, int((b + 0.2) * SAMPLE_RATE))
    return list(phones.judge(recognizer, analysis.audio[lo:hi], expected))


def _drill_syllable(
    i: int,
    syl: Syllable,
    v: phones.PhoneVerdict | None,
    probs: np.ndarray | None,
    c,
    start: float,
    end: float,
) -> SyllableResult:
    initial_ok = v.initial_ok if v is not None else None
    final_ok = v.final_ok if v is not None else None
    pitch_tone = int(np.argmax(probs)) + 1 if probs is not None else None
    p_expected = float(probs[syl.tone - 1]) if probs is not None and syl.tone < 5 else None
    tone_sure: bool | None = None
    near = None  # the other tone a near verdict lies between ("cannot tell")
    if syl.tone == 5:
        tone_ok: bool | None = True if c is not None else None
        tone_heard = 5 if c is not None else None
    elif probs is None:
        tone_ok, tone_heard = None, None
    else:
        tone_ok, tone_sure = drill.tone_verdict(probs, syl.tone)
        tone_heard = syl.tone if tone_ok else drill.likeliest_other(probs, syl.tone)
        if not tone_sure:
            near = drill.likeliest_other(probs, syl.tone)
    heard_pinyin = v.heard if v is not None else None
    h = (
        HeardSyllable(v.heard_char or "", heard_pinyin, syl.tone, syl.tone, start, end, 1.0)
        if heard_pinyin
        else None
    )
    advice, advice_zh = advice_for(syl, h, initial_ok, final_ok, tone_ok, tone_heard, near)
    if initial_ok is None:
        advice = advice.replace(
            "the recognizer could not make out the syllable", "only the tone is judged"
        )
    return syllable_result(
        i, syl, start, end, c, initial_ok, final_ok, tone_ok, tone_heard, p_expected, pitch_tone,
        heard=f"{heard_pinyin}{tone_heard or ''}" if heard_pinyin else None,
        heard_text=v.heard_char if v is not None else None,
        advice=(advice, advice_zh), tone_sure=tone_sure,
    )  # fmt: skip
