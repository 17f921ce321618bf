"""The sentence path's tone judgement on native speech with one tone changed by Praat.

    python -m benchmarks.assess_pitch_changed              # 60 AISHELL sentences
    python -m benchmarks.assess_pitch_changed --limit 10   # a quick look

`benchmarks.assess_synth` changes tones in tingshuo's own voice; this changes them in native
speech. Each AISHELL sentence (of the 400 the sentence benchmark scores, none of which the
tone models were fitted on) is assessed as read. One syllable whose tone was judged right,
not the first or the last, then has its pitch moved to another tone's contour with Praat's
Manipulation (its pitch tier replaced within the syllable, overlap-add resynthesis), and the
new sound is assessed against the same sentence. Prints the share of changed syllables
flagged, and of the other syllables still passed (those judged right as read, and all), each
per tone (a changed syllable by the tone it was given).

The contours are Chao's tone letters on the sentence's own scale: letter 3.5 at the
sentence's median pitch, 2.5 semitones a letter; 55 (level), 35 (rising), 21 (the third tone
before another syllable) and 51 (falling).
"""

from __future__ import annotations

import argparse
import logging
import random

import numpy as np
from rich.console import Console
from rich.progress import track
from rich.table import Table

from tingshuo.asr import load_recognizer
from tingshuo.audio.decode import SAMPLE_RATE, load_audio
from tingshuo.errors import TingshuoError
from tingshuo.learn.assess import assess_audio
from tingshuo.learn.train_tones import chao, repitched
from tingshuo.settings import Settings

from .assess_synth import _HAN_ONLY, AISHELL
from .common import read_tsv

LETTERS = {1: (5, 5), 2: (3, 5), 3: (2, 1, 1), 4: (5, 1)}
ST_PER_LETTER = 2.5


def changed_pitch(audio: np.ndarray, span: tuple[float, float], tone: int) -> np.ndarray:
    """`audio` with the pitch inside `span` moved to `tone`'s contour (`LETTERS`) on the
    sentence's own scale (`train_tones.chao`, `train_tones.repitched`)."""
    import parselmouth

    sound = parselmouth.Sound(audio.astype(np.float64), sampling_frequency=SAMPLE_RATE)
    f0 = sound.to_pitch().selected_array["frequency"]
    median = float(np.median(f0[f0 > 0]))
    return repitched(audio, median, [(span, chao(LETTERS[tone], 3.5, ST_PER_LETTER))])


def run(recognizer, settings: Settings, limit: int, seed: int) -> dict:
    rng = random.Random(seed)
    rows = [r for r in read_tsv(AISHELL / "manifest.tsv") if _HAN_ONLY.match(r["reference_text"])]
    rows = rng.sample(rows, min(limit, len(rows)))
    flagged = np.zeros((4, 2), dtype=int)  # by the tone the syllable was given: (flagged, n)
    passed = np.zeros((4, 2), dtype=int)  # by its own tone: (passed, n), passed as read
    passed_all = np.zeros((4, 2), dtype=int)  # every other syllable, whatever its verdict as read
    for row in track(rows, description="pitch-changed sentences"):
        text = row["reference_text"]
        audio = load_audio(AISHELL / row["path"])
        try:
            before = assess_audio(recognizer, audio, text, settings)
        except TingshuoError as e:
            logging.warning("%s: %s", text, e)
            continue
        right = [
            s
            for s in before.syllables[1:-1]
            if s.tone_ok
            and s.tone_sure is not False
            and 1 <= int(s.expected[-1]) <= 4
            and s.end - s.start >= 0.08
        ]
        if not right:
            continue
        target = rng.choice(right)
        own = int(target.expected[-1])
        tone = rng.choice([t for t in (1, 2, 3, 4) if t != own])
        try:
            after = assess_audio(
                recognizer, changed_pitch(audio, (target.start, target.end), tone), text, settings
            )
        except TingshuoError as e:
            logging.warning("%s changed: %s", text, e)
            continue
        for s0, s1 in zip(before.syllables, after.syllables, strict=True):
            if s0.index == target.index:
                # a sure ✗ ("cannot tell" is neither a flag nor a pass)
                flagged[tone - 1] += (s1.tone_ok is False and s1.tone_sure is not False, 1)
            elif 1 <= int(s0.expected[-1]) <= 4:
                ok = (s1.tone_ok is not False and s1.tone_sure is not False, 1)
                passed_all[int(s0.expected[-1]) - 1] += ok
                if s0.tone_ok and s0.tone_sure is not False:
                    passed[int(s0.expected[-1]) - 1] += ok
    return {"flagged": flagged, "passed": passed, "all": passed_all, "sentences": len(rows)}


def _pct(counts: np.ndarray) -> str:
    a, b = counts
    return f"{100 * a / b:.1f} % ({a}/{b})" if b else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=60, help="AISHELL sentences")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    settings = Settings()
    out = run(load_recognizer(settings), settings, args.limit, args.seed)
    table = Table(title=f"Native sentences, one tone changed by Praat ({out['sentences']})")
    for column in (
        "",
        "changed syllables flagged",
        "other syllables passed (of those passed as read)",
        "(all)",
    ):
        table.add_column(column, justify="right" if column else "left")
    flagged, passed, every = out["flagged"], out["passed"], out["all"]
    table.add_row("all", *(_pct(x.sum(axis=0)) for x in (flagged, passed, every)))
    for t in (1, 2, 3, 4):
        table.add_row(f"tone {t}", *(_pct(x[t - 1]) for x in (flagged, passed, every)))
    table.add_row("floor", "≥ 70 %", "≥ 95 %", "")
    Console().print(table)


if __name__ == "__main__":
    main()
