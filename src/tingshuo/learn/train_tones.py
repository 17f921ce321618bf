"""Fit the tone classifier (`data/tone_model.json`) on native and synthesized readings.

    python -m tingshuo.learn.train_tones [--data ../shared/data] [--synth 1500]

Two kinds of training data, each analysed exactly as an assessment would be (the recognizer,
the alignment, the pitch track); a syllable is an example when the recognizer heard its pinyin
(so its timing is trustworthy) and it has enough voicing:

- human: the 80 AISHELL utterances of the long-form file (W0321-W0360 of both speakers),
  none of which is among the 400 the benchmark validates on; labels are the expected tones
  after sandhi;
- synthesized: tingshuo's Mandarin voice reading clauses of the Chinese WMT22 news sources
  (never a practice sentence nor an AISHELL transcript, so none that a benchmark scores), every
  other one with half of its toned syllables given another tone, at a random pace; labels are
  the tones the voice was told to say. Each synthesized reading is used twice more with its
  pitch range scaled (x0.6-1.4), since one voice has one range and learners do not.

The human syllables weigh half as much as the synthesized ones together, so the model still
fits human voices. The three flagging levels (`assess.judge_tone`) are set on human syllables
the model has not seen: each speaker is scored by a model fitted without them, and the levels
are the probabilities of the expected tone that 85 % (pitch alone), 98 % (veto) and 50 %
(override) of those native syllables reach.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import os
import random
import re
from importlib import resources
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

log = logging.getLogger(__name__)

# shares of held-out native syllables whose tone must pass: by the pitch alone, with the
# recognizer agreeing (the veto level), and against the recognizer (the override level)
ACCEPT = {"threshold": 0.85, "veto": 0.98, "override": 0.5}
HIDDEN, L2, EPOCHS = 32, 0.01, 1000
HUMAN_WEIGHT = 0.5  # the human syllables' total weight against the synthesized ones'
PITCH_SCALES = (0.6, 1.4)
_HAN = re.compile(r"^[\u4e00-\u9fff，。？！、：；]+$")
_MARKS = re.compile(r"[，。？！、：；]")


def examples(items, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Features and tones of the reliable syllables of (text, tones said or None, Analysis).

    The neighbours' tones in the features are always the prompt's, as in an assessment.
    """
    from ..errors import TingshuoError
    from .align import align, syllable_spans
    from .sandhi import reference_syllables
    from .tones import contour, features

    xs, ys = [], []
    for text, said, analysis in items:
        try:
            expected = reference_syllables(text)
        except TingshuoError:  # a reference with Latin letters (奔驰F零十五): skipped
            continue
        track = analysis.pitch
        if scale != 1.0:
            track = dataclasses.replace(track, semitones=track.semitones * scale)
        heard = analysis.recognition.syllables
        links = align(expected, heard)
        spans = syllable_spans(links, heard, analysis.speech, track)
        contours = [contour(track, s, e) for s, e in spans]
        tones = [s.tone for s in expected]
        labels = said or tones
        for i, (syl, j) in enumerate(zip(expected, links, strict=True)):
            if j is None or heard[j].pinyin != syl.pinyin:
                continue
            x = features(track, spans, contours, tones, i)
            if x is not None:
                xs.append(x)
                ys.append(labels[i])
    if not xs:
        return np.zeros((0, 0)), np.zeros(0, dtype=int)
    return np.array(xs), np.array(ys, dtype=int)


def training_set(human, synth, seed: int = 3):
    """Human and synthesized examples (the latter also with scaled pitch ranges), and weights."""
    xh, yh = examples(human)
    rng = np.random.default_rng(seed)
    parts = [examples(synth)]
    for _ in range(2):
        for item in synth:  # each reading at its own scale
            parts.append(examples([item], float(rng.uniform(*PITCH_SCALES))))
    xs = np.vstack([p[0] for p in parts if len(p[1])])
    ys = np.concatenate([p[1] for p in parts])
    x, y = np.vstack([xh, xs]), np.concatenate([yh, ys])
    w = np.concatenate(
        [np.full(len(yh), HUMAN_WEIGHT * max(1, len(ys)) / len(yh)), np.ones(len(ys))]
    )
    return x, y, w


def levels(probs: np.ndarray, y: np.ndarray) -> dict[str, float]:
    p = probs[np.arange(len(y)), y - 1]
    judged = y != 5  # light tones are not judged
    out = {name: float(np.quantile(p[judged], 1 - share)) for name, share in ACCEPT.items()}
    return out


def train(human_by_speaker: dict[str, list], synth: list) -> tuple[dict, dict[str, float]]:
    """The model fitted on everything, with levels from each speaker held out in turn."""
    from .tones import ToneModel, fit

    def fitted(human):
        x, y, w = training_set(human, synth)
        return fit(x, y, hidden=HIDDEN, l2=L2, epochs=EPOCHS, weights=w)

    held_probs, held_y = [], []
    for speaker, items in human_by_speaker.items():
        others = [it for s, its in human_by_speaker.items() if s != speaker for it in its]
        model = ToneModel(fitted(others) | {"threshold": 0.0})
        x, y = examples(items)
        held_probs.append(model.probabilities(x))
        held_y.append(y)
        log.info("held-out %s: %d syllables", speaker, len(y))
    probs, y = np.vstack(held_probs), np.concatenate(held_y)
    judged = y != 5
    log.info("held-out 4-way accuracy %.3f", np.mean(probs.argmax(1)[judged] + 1 == y[judged]))
    lv = levels(probs, y)
    params = fitted([it for its in human_by_speaker.values() for it in its])
    return params | lv, lv


def analyse_longform(data: Path):
    """(speaker, reference, Analysis) for each utterance of the long-form file."""
    from ..asr import load_recognizer
    from ..audio.decode import load_audio
    from ..settings import Settings
    from .assess import SAMPLE_RATE, analyse

    settings = Settings()
    recognizer = load_recognizer(settings)
    folder = data / "aishell-asr0009-sample-2spk" / "longform"
    audio = load_audio(folder / "longform_2spk.flac")
    with (folder / "segments.tsv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    for row in rows:
        # 0.15 s either side: the utterances are 0.35 s or more apart
        lo = int((float(row["start_s"]) - 0.15) * SAMPLE_RATE)
        hi = int((float(row["end_s"]) + 0.15) * SAMPLE_RATE)
        analysis = analyse(recognizer, audio[max(0, lo) : hi], settings)
        yield row["speaker"], row["reference_text"], analysis


def synth_texts(data: Path, count: int, seed: int = 11) -> list[str]:
    """Han-only clauses of 6-22 syllables from WMT22's Chinese (sources, references), shuffled.

    Practice sentences and AISHELL transcripts (which the benchmarks score) are left out.
    """
    practice = resources.files("tingshuo.learn").joinpath("data/practice.tsv").read_text("utf-8")
    excluded = {r["text"] for r in csv.DictReader(practice.splitlines(), delimiter="\t")}
    with (data / "aishell-asr0009-sample-2spk" / "manifest.tsv").open(encoding="utf-8") as f:
        excluded |= {r["reference_text"] for r in csv.DictReader(f, delimiter="\t")}
    wmt = data / "wmt22-general-zh-en"
    lines = [
        line.strip()
        for path in (wmt / "zh-en" / "src.zh", wmt / "en-zh" / "ref.A.zh")
        for line in path.read_text("utf-8").splitlines()
    ]
    clauses = []
    for line in lines:
        for sentence in re.split(r"(?<=[。！？；])", line):
            # a long sentence is read clause by clause
            pieces = [sentence] if len(sentence) <= 24 else re.split(r"(?<=，)", sentence)
            for clause in pieces:
                clause = clause.strip()
                size = len(_MARKS.sub("", clause))
                if _HAN.match(clause) and 6 <= size <= 22 and clause not in excluded:
                    clauses.append(clause)
    clauses = sorted(set(clauses))
    random.Random(seed).shuffle(clauses)
    return clauses[:count]


def read_with_tones(voice, text: str, tones: list[int]) -> np.ndarray:
    """The voice reading `text` with the given tone per Han character, at 16 kHz."""
    from ..audio.decode import SAMPLE_RATE
    from ..errors import TingshuoError
    from ..tts.audio_out import resample

    original = voice.phones

    def phones(spoken: str) -> list[tuple[str, list[str]]]:
        units = original(spoken)
        if sum(1 for u in units if u[0]) != len(tones):
            raise TingshuoError("the voice's units do not match the syllables")
        it = iter(tones)
        out = []
        for unit_text, unit_phones in units:
            if unit_text:
                last = re.sub(r"\d$", str(next(it)), unit_phones[-1])
                unit_phones = [*unit_phones[:-1], last]
            out.append((unit_text, unit_phones))
        return out

    voice.phones = phones  # this reading only: the tones are the experiment's
    try:
        speech = voice.synthesize(text)
    finally:
        voice.phones = original
    return resample(speech.audio, speech.sample_rate, SAMPLE_RATE)


def synthesize(data: Path, count: int, seed: int = 11):
    """(text, tones said, Analysis) for `count` synthesized readings (see the module doc)."""
    from rich.progress import track

    from ..asr import load_recognizer
    from ..errors import TingshuoError
    from ..settings import Settings
    from ..tts.zh_fastspeech import ZhFastSpeech
    from .assess import analyse
    from .sandhi import reference_syllables

    settings = Settings()
    recognizer = load_recognizer(settings)
    voice = ZhFastSpeech(settings.cache_dir, pace=settings.tts_zh_pace)
    for k, text in enumerate(track(synth_texts(data, count, seed), description="synthesizing")):
        rng = random.Random(seed * 1_000_003 + k)  # per reading: any slice reproduces
        try:
            expected = reference_syllables(text)
        except TingshuoError:
            continue
        tones = [s.tone for s in expected]
        if k % 2:
            toned = [i for i, s in enumerate(expected) if s.tone != 5]
            for i in rng.sample(toned, len(toned) // 2):
                tones[i] = rng.choice([t for t in (1, 2, 3, 4) if t != expected[i].tone])
        voice.pace = settings.tts_zh_pace * rng.uniform(0.8, 1.25)
        try:
            yield text, tones, analyse(recognizer, read_with_tones(voice, text, tones), settings)
        except TingshuoError as e:  # the voice's units or the recognizer disagree: skipped
            log.debug("%s: %s", text, e)


_DATA = Path(os.environ.get("TINGSHUO_DATA", "../shared/data"))
_OUT = Path(__file__).parent / "data" / "tone_model.json"


def save(params: dict, out: Path) -> None:
    out.write_text(json.dumps({k: np.round(v, 5).tolist() for k, v in params.items()}))


def main(
    data: Annotated[Path, typer.Option(help="the shared data folder")] = _DATA,
    out: Annotated[Path, typer.Option(help="where to write the model")] = _OUT,
    synth: Annotated[int, typer.Option(help="synthesized readings to train on")] = 1500,
) -> None:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("faster_whisper").setLevel(logging.WARNING)
    human: dict[str, list] = {}
    for speaker, text, analysis in analyse_longform(data):
        human.setdefault(speaker, []).append((text, None, analysis))
    readings = list(synthesize(data, synth))
    n_human = sum(len(items) for items in human.values())
    log.info("%d human utterances, %d synthesized readings", n_human, len(readings))
    params, lv = train(human, readings)
    log.info("levels %s", lv)
    save(params, out)
    log.info("wrote %s", out)


if __name__ == "__main__":
    typer.run(main)
