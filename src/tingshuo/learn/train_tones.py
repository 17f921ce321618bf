"""Fit the tone classifier (`data/tone_model.json`) on native readings.

    python -m tingshuo.learn.train_tones [--data ../shared/data]

Training data: the 80 AISHELL utterances of the long-form file (W0321-W0360 of both
speakers), none of which is among the 400 the benchmark validates on. Each is analysed
exactly as an assessment would be; a syllable is a training example when the recognizer
heard its pinyin (so its timing is trustworthy) and it has enough voicing. Labels are the
expected tones after sandhi. The flagging threshold is set so that 95 % of these native
syllables are accepted.
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

ACCEPT = 0.95  # share of native training syllables whose tone must pass


def examples(items) -> tuple[np.ndarray, np.ndarray]:
    """Features and tones of the reliable syllables of (text, Analysis) pairs."""
    from .align import align, syllable_times
    from .sandhi import reference_syllables
    from .tones import contour, features

    xs, ys = [], []
    for text, analysis in items:
        expected = reference_syllables(text)
        heard = analysis.recognition.syllables
        links = align(expected, heard)
        spans = syllable_times(links, heard, analysis.speech)
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


def threshold_for(model, x: np.ndarray, y: np.ndarray, accept: float = ACCEPT) -> float:
    probs = model.probabilities(x)
    p = probs[np.arange(len(y)), y - 1][y != 5]  # light tones are not judged
    return float(np.quantile(p, 1 - accept))


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
    from .tones import ToneModel, fit

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    x, y = examples(analyse_longform(data))
    log.info("%d training syllables; tones %s", len(y), np.bincount(y, minlength=6)[1:])
    params = fit(x, y)
    model = ToneModel(params | {"threshold": 0.0})
    params["threshold"] = threshold_for(model, x, y)
    accuracy = float(np.mean(model.probabilities(x).argmax(axis=1) + 1 == y))
    log.info("training accuracy %.1f %%, threshold %.3f", 100 * accuracy, params["threshold"])
    out.write_text(json.dumps({k: np.round(v, 5).tolist() for k, v in params.items()}))
    log.info("wrote %s", out)


if __name__ == "__main__":
    typer.run(main)
