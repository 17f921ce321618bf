"""Assess a reading of a prompt, syllable by syllable: initial, final, tone; fluency, completeness.

Two steps, so a recording is analysed once and can be scored against several prompts:
`analyse` (voice activity, recognition with character times, pitch) is the expensive part;
`score` (alignment, tone classification, scores) takes milliseconds.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from ..errors import TingshuoError
from ..settings import Settings
from . import drill, phones
from .align import (
    HeardSyllable,
    Recognition,
    align,
    recognize,
    syllable_spans,
    trim_hallucinations,
)
from .pitch import PitchTrack, track_pitch
from .sandhi import SHAPES, SHAPES_ZH, Syllable, reference_syllables, split_syllable
from .tones import ToneModel, contour, features, load_tone_model

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
VAD_FRAME_S = 512 / SAMPLE_RATE
MIN_SPEECH_S = 0.2  # less speech than this in the whole recording: nothing to assess
MIN_PAUSE_S = 0.4  # a silence this long inside the reading counts as a pause
FLUENT_RATE = 2.5  # syllables per second that earn a full speed score
SLOW_RATE = 1.0  # ... and a zero one
# below this share of the prompt's syllables heard as such, it is another sentence
MIN_MATCHED = 0.3
MAX_DRILL = 2  # prompts of up to this many syllables may be judged by pitch alone
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
    syllables: list[SyllableResult]
    scores: Scores


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
    duration = audio.size / SAMPLE_RATE
    if duration > settings.assess_max_audio_s:
        raise TingshuoError(
            f"the recording is {duration:.0f} s long; assess at most "
            f"{settings.assess_max_audio_s:.0f} s at a time (one or two sentences)"
        )
    speech, silences, speech_s = _voice_activity(audio)
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
        syllables=results,
        scores=_scores(results, expected, links, heard, analysis, tone_only),
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
    duration = audio.size / SAMPLE_RATE
    if duration > settings.assess_max_audio_s:
        raise TingshuoError(
            f"the recording is {duration:.0f} s long; assess at most "
            f"{settings.assess_max_audio_s:.0f} s at a time (one or two sentences)"
        )
    speech, silences, speech_s = _voice_activity(audio)
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
    contours = drill.contours_for(analysis.pitch, analysis.spans)
    results = []
    for i, (syl, (start, end)) in enumerate(zip(expected, analysis.spans, strict=True)):
        results.append(_drill_syllable(i, syl, verdicts[i], probs[i], contours[i], start, end))
    fake = Analysis(
        analysis.duration_s,
        analysis.speech,
        analysis.silences,
        Recognition("", [], 1.0),
        analysis.pitch,
        audio,
    )
    links: list[int | None] = [None] * len(expected)
    heard = [v.heard_char for v in verdicts if v is not None]
    return Assessment(
        prompt=prompt or "".join(s.text for s in expected),
        mode="drill",
        recognized="".join(h for h in heard if h) if len(heard) == len(expected) else "",
        duration_s=round(analysis.duration_s, 2),
        speaker_median_hz=round(analysis.pitch.median_hz, 1),
        syllables=results,
        scores=_scores(results, expected, links, [], fake, tone_only=True),
    )


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
    if syl.tone == 5:
        tone_ok: bool | None = True if c is not None else None
        tone_heard = 5 if c is not None else None
    elif probs is None:
        tone_ok, tone_heard = None, None
    else:
        tone_ok = drill.tone_passes(probs, syl.tone)
        tone_heard = syl.tone if tone_ok else drill.likeliest_other(probs, syl.tone)
    heard_pinyin = v.heard if v is not None else None
    h = (
        HeardSyllable(v.heard_char or "", heard_pinyin, syl.tone, syl.tone, start, end, 1.0)
        if heard_pinyin
        else None
    )
    advice, advice_zh = _advice(syl, h, initial_ok, final_ok, tone_ok, tone_heard)
    if initial_ok is None:
        advice = advice.replace(
            "the recognizer could not make out the syllable", "only the tone is judged"
        )
    return _result(
        i, syl, start, end, c, initial_ok, final_ok, tone_ok, tone_heard, p_expected, pitch_tone,
        heard=f"{heard_pinyin}{tone_heard or ''}" if heard_pinyin else None,
        heard_text=v.heard_char if v is not None else None,
        advice=(advice, advice_zh),
    )  # fmt: skip


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
        fits = bool({syl.tone, syl.citation_tone} & {h.tone, h.sandhi_tone})
        if p_expected is None:
            return fits
        if fits:
            return p_expected >= model.veto
        return p_expected >= model.override
    if p_expected is None:
        return None
    return p_expected >= model.threshold


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
    if tone_only and pitch_tone is not None and syl.tone != 5:
        # with no recognizer evidence at all, the expected tone must be the likeliest one
        tone_ok = pitch_tone == syl.tone
    tone_heard = heard_tone(syl, h, probs, tone_ok)
    advice, advice_zh = _advice(syl, h, initial_ok, final_ok, tone_ok, tone_heard)
    return _result(
        i, syl, start, end, c, initial_ok, final_ok, tone_ok, tone_heard, p_expected, pitch_tone,
        heard=f"{h.pinyin}{h.sandhi_tone}" if h is not None else None,
        heard_text=h.char if h is not None else None,
        advice=(advice, advice_zh),
    )  # fmt: skip


def _result(
    i, syl: Syllable, start, end, c, initial_ok, final_ok, tone_ok, tone_heard, p_expected,
    pitch_tone, heard: str | None, heard_text: str | None, advice: tuple[str, str],
) -> SyllableResult:  # fmt: skip
    """One syllable's result as both paths give it: its score weighs what could be judged."""
    parts = {
        k: float(x) for k, x in (("initial", initial_ok), ("final", final_ok)) if x is not None
    }
    if tone_ok is not None:
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
        start=round(start, 2),
        end=round(end, 2),
        score=value,
        contour=[round(float(x), 2) for x in c.curve] if c is not None else [],
        advice=advice[0],
        advice_zh=advice[1],
        pitch_tone=pitch_tone,
    )


def _advice(syl: Syllable, h, initial_ok, final_ok, tone_ok, tone_heard) -> tuple[str, str]:
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
    if tone_ok is False and tone_heard is not None:
        en.append(
            f"tone: {SHAPES[syl.tone]} (tone {syl.tone}) expected, "
            f"heard {SHAPES[tone_heard]} (tone {tone_heard})"
        )
        zh.append(f"声调应为第{syl.tone}声（{SHAPES_ZH[syl.tone]}），听起来像第{tone_heard}声")
    elif tone_ok is False:
        en.append(f"tone: {SHAPES[syl.tone]} (tone {syl.tone}) expected")
        zh.append(f"声调应为第{syl.tone}声（{SHAPES_ZH[syl.tone]}）")
    if tone_ok is None:
        en.append("tone: too little voice to judge")
        zh.append("声调无法判断")
    if not en:
        return "good", "很好"
    return "; ".join(en), "；".join(zh)


def _scores(results, expected, links, heard, analysis: Analysis, tone_only=False) -> Scores:
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
    for s, e in analysis.silences:
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


_VAD_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _vad():
    """One Silero session for all assessments: opening one takes ~0.5 s on a busy machine."""
    from ..audio.vad import StreamingVAD

    return StreamingVAD()


def _voice_activity(
    audio: np.ndarray,
) -> tuple[tuple[float, float], list[tuple[float, float]], float]:
    """(first..last speech, silences between, seconds of speech) by Silero VAD."""
    with _VAD_LOCK:
        vad = _vad()
        vad.reset()
        probs = vad(audio)
    speech = probs >= 0.5
    idx = np.flatnonzero(speech)
    if idx.size == 0:
        return (0.0, 0.0), [], 0.0
    first = max(0.0, idx[0] * VAD_FRAME_S - 0.1)
    last = min(audio.size / SAMPLE_RATE, (idx[-1] + 1) * VAD_FRAME_S + 0.1)
    silences = []
    run_start = None
    for k in range(idx[0], idx[-1] + 1):
        if not speech[k] and run_start is None:
            run_start = k
        elif speech[k] and run_start is not None:
            silences.append((run_start * VAD_FRAME_S, k * VAD_FRAME_S))
            run_start = None
    return (first, last), silences, float(speech.sum() * VAD_FRAME_S)
