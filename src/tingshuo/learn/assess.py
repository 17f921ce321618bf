"""Assess a reading of a prompt, syllable by syllable: initial, final, tone; fluency, completeness.

Two steps, so a recording is analysed once and can be scored against several prompts:
`analyse` (voice activity, recognition with character times, pitch) is the expensive part;
`score` (alignment, tone classification, scores) takes milliseconds. A prompt of up to four
syllables is a drill, assessed in `assess_drill`; what a result holds is in `result`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import TingshuoError
from ..settings import Settings
from . import drill
from .activity import SAMPLE_RATE, check_duration, voice_activity
from .align import (
    HeardSyllable,
    Recognition,
    align,
    recognize,
    syllable_spans,
    trim_hallucinations,
)
from .assess_drill import DrillAnalysis, analyse_drill, assess_drill, drill_probabilities
from .pitch import PitchTrack, track_pitch
from .result import (
    Assessment,
    Scores,
    SyllableResult,
    advice_for,
    reading_scores,
    syllable_result,
)
from .sandhi import Syllable, reference_syllables, split_syllable
from .tones import ToneModel, contour, features, load_tone_model

# the assessment's API, wherever each part now lives (others import these from here)
__all__ = [
    "SAMPLE_RATE",
    "Analysis",
    "Assessment",
    "DrillAnalysis",
    "Scores",
    "SyllableResult",
    "analyse",
    "analyse_drill",
    "assess_audio",
    "assess_drill",
    "assess_file",
    "drill_probabilities",
    "heard_tone",
    "judge_tone",
    "prompt_syllables",
    "score",
]

log = logging.getLogger(__name__)

MIN_SPEECH_S = 0.2  # less speech than this in the whole recording: nothing to assess
# below this share of the prompt's syllables heard as such, it is another sentence
MIN_MATCHED = 0.3
# a sentence's tone, passed or failed by the veto (`judge_tone`: the recognizer heard the
# character, the pitch alone decides whether it contradicts it), is a near thing within this
# factor of the veto level: the page says it cannot tell. Wider costs the floors: on 368
# syllables moved to another tone (`benchmarks.assess_pitch_changed`), x1.1 leaves 75.5 %
# surely flagged, x1.25 72.6 %, x2 52 % (floor 70 %); 1.0 / 1.9 / 5 % of native syllables
# would show "cannot tell"
VETO_NEAR = 1.1
MAX_DRILL = 2  # prompts of up to this many syllables may be judged by pitch alone


@dataclass(frozen=True)
class Analysis:
    """What the audio holds, independent of the prompt."""

    duration_s: float
    speech: tuple[float, float]  # first and last moment of speech
    silences: list[tuple[float, float]]  # non-speech stretches inside the speech
    recognition: Recognition
    pitch: PitchTrack
    audio: np.ndarray


def prompt_syllables(text: str, settings: Settings) -> list[Syllable]:
    syllables = reference_syllables(text)
    if not syllables:
        raise TingshuoError(f"the prompt {text[:30]!r} has no syllables to read")
    if len(syllables) > settings.assess_max_syllables:
        raise TingshuoError(
            f"the prompt has {len(syllables)} syllables; assess at most "
            f"{settings.assess_max_syllables} at a time: split it into sentences"
        )
    return syllables


def analyse(recognizer, audio: np.ndarray, settings: Settings) -> Analysis:
    duration = check_duration(audio, settings)
    speech, silences, speech_s = voice_activity(audio)
    if speech_s < MIN_SPEECH_S:
        raise TingshuoError("no speech heard: record yourself reading the prompt aloud")
    recognition = trim_hallucinations(recognize(recognizer, audio), speech)
    if not recognition.syllables:
        lang = recognizer.detect_language(audio, ("zh", "en"))
        if lang == "en":
            raise TingshuoError("this sounds like English, not Mandarin: read the Chinese prompt")
        # a drill of one or two syllables can still be judged by its pitch: see `score`
    return Analysis(duration, speech, silences, recognition, track_pitch(audio), audio)


def score(
    analysis: Analysis,
    expected: list[Syllable],
    prompt: str = "",
    model: ToneModel | None = None,
    recognizer=None,
) -> Assessment:
    model = model or load_tone_model()
    heard = analysis.recognition.syllables
    # Whisper often writes nothing for one isolated syllable: a drill (mā, má) is then judged
    # by its pitch alone, with the initial and final left unjudged
    tone_only = not heard and len(expected) <= MAX_DRILL
    if not heard and not tone_only:
        raise TingshuoError("no Mandarin speech heard: read the prompt aloud, clearly")
    links = align(expected, heard)
    matched = sum(
        1
        for e, j in zip(expected, links, strict=True)
        if j is not None and heard[j].pinyin == e.pinyin
    )
    if len(expected) >= 3 and matched < MIN_MATCHED * len(expected):
        if (
            recognizer is not None
            and recognizer.detect_language(analysis.audio, ("zh", "en")) == "en"
        ):
            raise TingshuoError("this sounds like English, not Mandarin: read the Chinese prompt")
        raise TingshuoError(
            f"this sounds like a different sentence (heard 「{analysis.recognition.text}」): "
            "read the prompt as written"
        )
    spans = syllable_spans(links, heard, analysis.speech, analysis.pitch)
    tones = [s.tone for s in expected]
    contours = [contour(analysis.pitch, s, e) for s, e in spans]
    results = []
    for i, (syl, j, (start, end)) in enumerate(zip(expected, links, spans, strict=True)):
        x = features(analysis.pitch, spans, contours, tones, i)
        probs = model.probabilities(x)[0] if x is not None else None
        h = heard[j] if j is not None else None
        results.append(_syllable(i, syl, h, probs, contours[i], start, end, model, tone_only))
    return Assessment(
        prompt=prompt or "".join(s.text for s in expected),
        recognized=analysis.recognition.text,
        duration_s=round(analysis.duration_s, 2),
        speaker_median_hz=round(analysis.pitch.median_hz, 1),
        register_hz=round(analysis.pitch.median_hz, 1) if analysis.pitch.median_hz > 0 else None,
        syllables=results,
        scores=reading_scores(results, expected, links, heard, analysis.silences, tone_only),
    )


def assess_audio(
    recognizer,
    audio: np.ndarray,
    text: str,
    settings: Settings,
    register_hz: float | None = None,
) -> Assessment:
    """A prompt of up to four syllables is a drill (`assess_drill`); longer is a sentence."""
    expected = prompt_syllables(text, settings)
    if len(expected) <= drill.MAX_SYLLABLES:
        return assess_drill(recognizer, audio, expected, settings, text, register_hz)
    return score(analyse(recognizer, audio, settings), expected, text, recognizer=recognizer)


def assess_file(
    recognizer, path: Path, text: str, settings: Settings, register_hz: float | None = None
) -> Assessment:
    from ..audio.decode import load_audio

    prompt_syllables(text, settings)  # a bad prompt fails before decoding
    return assess_audio(recognizer, load_audio(path), text, settings, register_hz)


def judge_tone(
    syl: Syllable, h: HeardSyllable | None, p_expected: float | None, model: ToneModel
) -> bool | None:
    """Whether the expected tone was said: two listeners, the pitch and the recognizer.

    A light tone takes its pitch from the syllable before: any shape will do. When the
    recognizer heard the expected syllable, the tone of the character it chose is evidence
    too (it heard 有 yǒu, the prompt says yōu): the tone passes when that character's tone
    fits and the pitch does not clearly contradict it (below the veto level), or when the pitch
    alone strongly supports it. Otherwise the pitch decides alone.
    """
    if syl.tone == 5:
        return True if p_expected is not None or h is not None else None
    if h is not None and h.pinyin == syl.pinyin:
        fits = heard_fitting(syl, h)
        if p_expected is None:
            return fits
        if fits:
            return p_expected >= model.veto
        return p_expected >= model.override
    if p_expected is None:
        return None
    return p_expected >= model.threshold


def near_veto(
    syl: Syllable, h: HeardSyllable | None, p_expected: float | None, model: ToneModel
) -> bool:
    """Whether `judge_tone`'s verdict was the veto's and a near thing: the recognizer heard
    the expected syllable with a fitting tone, and the pitch's probability of the expected tone
    lies within `VETO_NEAR` of the veto level."""
    if syl.tone == 5 or p_expected is None or not heard_fitting(syl, h):
        return False
    return model.veto / VETO_NEAR <= p_expected < model.veto * VETO_NEAR


def heard_fitting(syl: Syllable, h: HeardSyllable | None) -> bool:
    """The recognizer heard the expected syllable, with a character whose tone fits it (its
    own, its citation tone, or the tone sandhi gives it)."""
    return (
        h is not None
        and h.pinyin == syl.pinyin
        and bool({syl.tone, syl.citation_tone} & {h.tone, h.sandhi_tone})
    )


def heard_tone(
    syl: Syllable, h: HeardSyllable | None, probs: np.ndarray | None, tone_ok: bool | None
) -> int | None:
    """The tone to report as heard, so that it never contradicts the verdict.

    A passed tone is the expected one, whatever the pitch network liked best (the
    recognizer's evidence may have decided). A failed one is the likeliest tone other than
    the expected one: by pitch, or with no pitch, the tone of the character recognized.
    """
    if tone_ok is None:
        return None
    if tone_ok:
        return syl.tone
    if probs is not None:
        others = np.array(probs, dtype=float)
        others[syl.tone - 1] = -1.0
        return int(np.argmax(others)) + 1
    return h.sandhi_tone if h is not None and h.sandhi_tone != syl.tone else None


def _syllable(
    i, syl: Syllable, h, probs, c, start, end, model, tone_only: bool = False
) -> SyllableResult:
    initial_ok: bool | None = None if tone_only else False
    final_ok: bool | None = initial_ok
    if h is not None:
        hi, hf = split_syllable(h.pinyin)
        initial_ok, final_ok = hi == syl.initial, hf == syl.final
    pitch_tone = int(np.argmax(probs)) + 1 if probs is not None else None
    p_expected = float(probs[syl.tone - 1]) if probs is not None else None
    tone_ok = judge_tone(syl, h, p_expected, model)
    tone_sure: bool | None = None
    near = None  # the other tone a near verdict lies between ("cannot tell")
    if tone_only and pitch_tone is not None and syl.tone != 5:
        # with no recognizer evidence at all, the expected tone must be the likeliest one
        tone_ok = pitch_tone == syl.tone
    elif probs is not None and near_veto(syl, h, p_expected, model):
        tone_sure = False
        near = drill.likeliest_other(probs, syl.tone)
    tone_heard = heard_tone(syl, h, probs, tone_ok)
    advice, advice_zh = advice_for(syl, h, initial_ok, final_ok, tone_ok, tone_heard, near)
    return syllable_result(
        i, syl, start, end, c, initial_ok, final_ok, tone_ok, tone_heard, p_expected, pitch_tone,
        heard=f"{h.pinyin}{h.sandhi_tone}" if h is not None else None,
        heard_text=h.char if h is not None else None,
        advice=(advice, advice_zh),
        tone_sure=tone_sure,
    )  # fmt: skip
