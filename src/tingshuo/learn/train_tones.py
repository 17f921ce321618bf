"""Fit the tone classifier (`data/tone_model.json`) on native readings.

    python -m tingshuo.learn.train_tones [--data ../shared/data]

Training data: the 80 AISHELL utterances of the long-form file (W0321-W0360 of both
speakers), none of which is among the 400 the benchmark validates on. Each is analysed
exactly as an assessment would be; a syllable is a training example when the recognizer
heard its pinyin (so its timing is trustworthy) and it has enough voicing. Labels are the
expected tones after sandhi. The three flagging levels (`assess.judge_tone`) are set so that
85 % (pitch alone), 99 % (veto) and 50 % (override) of these native syllables pass.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

log = logging.getLogger(__name__)

# shares of native training syllables whose tone must pass: by the pitch alone, with the
# recognizer agreeing (the veto level), and against the recognizer (the override level)
ACCEPT = {"threshold": 0.85, "veto": 0.99, "override": 0.5}


def examples(items) -> tuple[np.ndarray, np.ndarray]:
    """Features and tones of the reliable syllables of (text, Analysis) pairs."""
    from ..errors import TingshuoError
    from .align import align, syllable_spans
    from .sandhi import reference_syllables
    from .tones import contour, features

    xs, ys = [], []
    for text, analysis in items:
        try:
            expected = reference_syllables(text)
        except TingshuoError:  # a reference with Latin letters (奔驰F零十五): skipped
            continue
        heard = analysis.recognition.syllables
        links = align(expected, heard)
        spans = syllable_spans(links, heard, analysis.speech, analysis.pitch)
        contours = [contour(analysis.pitch, s, e) for s, e in spans]
        tones = [s.tone for s in expected]
        for i, (syl, j) in enumerate(zip(expected, links, strict=True)):
            if j is None or heard[j].pinyin != syl.pinyin:
                continue
            x = features(analysis.pitch, spans, contours, tones, i)
            if x is not None:
                xs.append(x)
                ys.append(syl.tone)
    return np.array(xs), np.array(ys)


def thresholds(model, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    probs = model.probabilities(x)
    p = probs[np.arange(len(y)), y - 1][y != 5]  # light tones are not judged
    return {name: float(np.quantile(p, 1 - share)) for name, share in ACCEPT.items()}


def train(x: np.ndarray, y: np.ndarray) -> tuple[dict, dict[str, float]]:
    from .tones import ToneModel, fit

    params = fit(x, y, hidden=8, l2=0.03, epochs=1000)
    levels = thresholds(ToneModel(params | {"threshold": 0.0}), x, y)
    return params | levels, levels


def analyse_longform(data: Path):
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
        yield row["reference_text"], analyse(recognizer, audio[max(0, lo) : hi], settings)


_DATA = Path(os.environ.get("TINGSHUO_DATA", "../shared/data"))
_OUT = Path(__file__).parent / "data" / "tone_model.json"


def main(
    data: Annotated[Path, typer.Option(help="the shared data folder")] = _DATA,
    out: Annotated[Path, typer.Option(help="where to write the model")] = _OUT,
) -> None:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("faster_whisper").setLevel(logging.WARNING)
    x, y = examples(analyse_longform(data))
    log.info("%d training syllables; tones %s", len(y), np.bincount(y, minlength=6)[1:])
    model_params, levels = train(x, y)
    log.info("thresholds %s", levels)
    out.write_text(json.dumps({k: np.round(v, 5).tolist() for k, v in model_params.items()}))
    log.info("wrote %s", out)


if __name__ == "__main__":
    typer.run(main)
