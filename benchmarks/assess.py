"""Pronunciation assessment benchmark on native AISHELL readings.

    python -m benchmarks.assess              # all 400 sentences (about 4 minutes on 2 cores)
    python -m benchmarks.assess --limit 60   # a quick look

Each recording is analysed once and scored against
- its own transcript (native speech: nearly every syllable should be judged right);
- a wrong-tone prompt: a third of the toned syllables get another tone (each must be flagged);
- a wrong-syllable prompt: a quarter of the syllables become another syllable;
and a sample is also given another sentence's prompt, silence and English speech (each must
be refused). Prints the rates, the tone-shape confusion matrix and seconds per assessment.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import random
import time

import numpy as np
from rich.console import Console
from rich.progress import track
from rich.table import Table

from tingshuo.asr import load_recognizer
from tingshuo.audio.decode import SAMPLE_RATE, load_audio
from tingshuo.errors import TingshuoError
from tingshuo.learn.assess import analyse, score
from tingshuo.learn.sandhi import SHAPES, Syllable, reference_syllables, valid_syllables
from tingshuo.learn.tones import load_tone_model
from tingshuo.settings import Settings

from .common import DATA, median, peak_rss_mb, read_tsv

AISHELL = DATA / "aishell-asr0009-sample-2spk"
LJ = DATA / "ljspeech-subset-en"


def wrong_tones(expected: list[Syllable], rng: random.Random) -> tuple[list[Syllable], set[int]]:
    """A third of the syllables with a full tone get another full tone."""
    candidates = [i for i, s in enumerate(expected) if s.tone != 5]
    changed = set(rng.sample(candidates, max(1, len(candidates) // 3))) if candidates else set()
    out = []
    for i, s in enumerate(expected):
        if i in changed:
            tone = rng.choice([t for t in (1, 2, 3, 4) if t not in (s.tone, s.citation_tone)])
            s = dataclasses.replace(s, tone=tone, citation_tone=tone)
        out.append(s)
    return out, changed


def wrong_syllables(
    expected: list[Syllable], rng: random.Random, pool: list[str]
) -> tuple[list[Syllable], set[int]]:
    """A quarter of the syllables become another syllable (same tone)."""
    changed = set(rng.sample(range(len(expected)), max(1, len(expected) // 4)))
    out = []
    for i, s in enumerate(expected):
        if i in changed:
            other = rng.choice([p for p in pool if p != s.pinyin])
            s = dataclasses.replace(s, pinyin=other, text=other)
        out.append(s)
    return out, changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=0, help="only the first N sentences")
    parser.add_argument("--seed", type=int, default=6)
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    logging.basicConfig(level=logging.WARNING)
    console = Console()
    settings = Settings()
    recognizer = load_recognizer(settings)
    out = run(recognizer, settings, args.limit, args.seed, console)
    _print(console, *(out[k] for k in _PRINTED))
    console.print(
        f"{out['assessed']} sentences assessed, {out['skipped']} skipped (Latin letters in the "
        f"reference), {out['refused_native']} native readings refused; "
        f"peak memory {peak_rss_mb():.0f} MB"
    )


_PRINTED = ("native", "tone_flags", "syl_flags", "confusion", "seconds", "seconds_10", "refusals")


def run(recognizer, settings: Settings, limit: int = 0, seed: int = 6, console=None) -> dict:
    """Every measure of the benchmark, as a dict (see `_PRINTED` and `main`)."""
    console = console or Console()
    model = load_tone_model()
    rng = random.Random(seed)
    pool = sorted(valid_syllables())
    rows = read_tsv(AISHELL / "manifest.tsv")
    if limit:
        rows = rows[:limit]

    native = {
        "syllables": 0,
        "correct": 0,
        "tone_ok": 0,
        "tone_judged": 0,
        "pitch_ok": 0,
        "pitch_judged": 0,
    }
    tone_flags = {"changed": 0, "flagged": 0, "pitch_flagged": 0}
    syl_flags = {"changed": 0, "flagged": 0}
    confusion = np.zeros((5, 6), dtype=int)  # expected tone x heard shape (+ unclear)
    seconds, seconds_10 = [], []
    skipped, refused_native = 0, 0
    analyses = []
    for row in track(rows, description="assessing", console=console):
        try:
            expected = reference_syllables(row["reference_text"])
        except TingshuoError:  # references with Latin letters (apple pay)
            skipped += 1
            continue
        audio = load_audio(AISHELL / row["path"])
        t0 = time.perf_counter()
        try:
            analysis = analyse(recognizer, audio, settings)
            result = score(analysis, expected, row["reference_text"], model, recognizer)
        except TingshuoError:
            refused_native += 1
            continue
        elapsed = time.perf_counter() - t0
        seconds.append(elapsed)
        if 8 <= len(expected) <= 12:
            seconds_10.append(elapsed)
        analyses.append((row, analysis, expected))
        for syl, r in zip(expected, result.syllables, strict=True):
            native["syllables"] += 1
            sure = r.tone_sure is not False  # "cannot tell" is not judged right
            native["correct"] += bool(
                r.initial_ok and r.final_ok and r.tone_ok is not False and sure
            )
            if syl.tone != 5 and r.tone_ok is not None:
                native["tone_judged"] += 1
                native["tone_ok"] += bool(r.tone_ok and sure)
            if syl.tone != 5 and r.tone_probability is not None:
                native["pitch_judged"] += 1
                native["pitch_ok"] += bool(r.tone_probability >= model.threshold)
            col = r.pitch_tone - 1 if r.pitch_tone else 5
            confusion[syl.tone - 1, col] += 1

        bad, changed = wrong_tones(expected, rng)
        result = _score_or_none(analysis, bad, model)
        for i in changed:
            tone_flags["changed"] += 1
            r = result.syllables[i] if result else None
            tone_flags["flagged"] += r is None or (r.tone_ok is False and r.tone_sure is not False)
            tone_flags["pitch_flagged"] += bool(
                r is not None
                and r.tone_probability is not None
                and r.tone_probability < model.threshold
            )
        bad, changed = wrong_syllables(expected, rng, pool)
        result = _score_or_none(analysis, bad, model)
        for i in changed:
            syl_flags["changed"] += 1
            r = result.syllables[i] if result else None
            syl_flags["flagged"] += r is None or not (r.initial_ok and r.final_ok)

    refusals = _bad_input(recognizer, settings, analyses, model, rng)
    return {
        "native": native,
        "tone_flags": tone_flags,
        "syl_flags": syl_flags,
        "confusion": confusion,
        "seconds": seconds,
        "seconds_10": seconds_10,
        "refusals": refusals,
        "assessed": len(analyses),
        "skipped": skipped,
        "refused_native": refused_native,
    }


def _score_or_none(analysis, expected, model):
    try:
        return score(analysis, expected, "", model)
    except TingshuoError:  # refused as a different sentence: every change counts as caught
        return None


def _bad_input(recognizer, settings, analyses, model, rng) -> dict[str, tuple[int, int]]:
    """How many bad inputs were refused with a message, out of how many."""
    out = {}
    sample = analyses[:: max(1, len(analyses) // 20)][:20]
    refused = 0
    for k, (_, analysis, _) in enumerate(sample):
        other = sample[(k + len(sample) // 2) % len(sample)][2]
        try:
            score(analysis, other, "", model)
        except TingshuoError:
            refused += 1
    out["another sentence's prompt"] = (refused, len(sample))
    refused = 0
    noise = np.random.default_rng(0)
    for audio in (
        np.zeros(3 * SAMPLE_RATE, dtype=np.float32),
        (0.003 * noise.standard_normal(3 * SAMPLE_RATE)).astype(np.float32),
    ):
        try:
            analyse(recognizer, audio, settings)
        except TingshuoError:
            refused += 1
    out["silence, faint noise"] = (refused, 2)
    refused, total = 0, 0
    prompt = reference_syllables("今天天气很好，我们去公园散步吧。")
    for row in read_tsv(LJ / "manifest.tsv")[:5]:
        total += 1
        try:
            score(
                analyse(recognizer, load_audio(LJ / row["path"]), settings),
                prompt,
                "",
                model,
                recognizer,
            )
        except TingshuoError:
            refused += 1
    out["English speech"] = (refused, total)
    return out


def _pct(a: int, b: int) -> str:
    return f"{100 * a / b:.1f} % ({a}/{b})" if b else "n/a"


def _print(console, native, tone_flags, syl_flags, confusion, seconds, seconds_10, refusals):
    table = Table(title="Pronunciation assessment, AISHELL native readings")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("floor", justify="right")
    table.add_row(
        "native syllables judged correct", _pct(native["correct"], native["syllables"]), "≥ 90 %"
    )
    table.add_row(
        "native tones judged correct (toned syllables)",
        _pct(native["tone_ok"], native["tone_judged"]),
        "",
    )
    table.add_row(
        "  … by the pitch contour alone", _pct(native["pitch_ok"], native["pitch_judged"]), ""
    )
    table.add_row(
        "mismatched tones flagged (wrong-tone prompt)",
        _pct(tone_flags["flagged"], tone_flags["changed"]),
        "≥ 80 %",
    )
    table.add_row(
        "  … by the pitch contour alone",
        _pct(tone_flags["pitch_flagged"], tone_flags["changed"]),
        "",
    )
    table.add_row(
        "changed syllables flagged (initial or final)",
        _pct(syl_flags["flagged"], syl_flags["changed"]),
        "",
    )
    for name, (a, b) in refusals.items():
        table.add_row(f"refused: {name}", f"{a}/{b}", "all")
    table.add_row("seconds per assessment, median (all)", f"{median(seconds):.2f}", "")
    table.add_row(
        "seconds per assessment, median (8–12 syllables)", f"{median(seconds_10):.2f}", "≤ 2 s"
    )
    console.print(table)
    matrix = Table(title="Tone-shape confusion (rows: expected tone after sandhi; native)")
    matrix.add_column("expected")
    for t in (1, 2, 3, 4, 5):
        matrix.add_column(SHAPES[t], justify="right")
    matrix.add_column("unclear", justify="right")
    for t in range(5):
        total = max(1, confusion[t].sum())
        matrix.add_row(
            f"{t + 1} {SHAPES[t + 1]}",
            *[f"{100 * v / total:.0f} %" for v in confusion[t]],
        )
    console.print(matrix)


if __name__ == "__main__":
    main()
