"""Speaker turns benchmark: per-final speaker accuracy, speakers found, embedding time.

    python -m benchmarks.speakers               # everything (about 2 minutes on 2 cores)
    python -m benchmarks.speakers --no-pipeline # embeddings and clustering only (about 1 minute)

The threshold is chosen on one part of the data and reported on the rest:
- tuning: the 400 AISHELL sentences in `audio/` (2 speakers, W0121–W0320) put in random
  two-speaker conversations shaped like the long-form file (turns of 2–4 sentences), and
  speechocean762 English read by Mandarin speakers, speakers with an even id, in random
  four-speaker conversations;
- held out: the long-form file (80 other sentences, W0321–W0360), cut at its true utterance
  bounds and through the whole pipeline (the recognizer's finals, each scored against the
  speaker who says most of it), and speechocean762's odd-id speakers.
Accuracy: finals whose label maps to their true speaker under the best one-to-one mapping of
labels to speakers (labels left without a speaker count as wrong).
"""

from __future__ import annotations

import argparse
import logging
import random
import time
from collections import defaultdict

import numpy as np
from rich.console import Console
from rich.progress import track
from rich.table import Table
from scipy.optimize import linear_sum_assignment

from tingshuo.audio.decode import SAMPLE_RATE, load_audio
from tingshuo.settings import Settings
from tingshuo.speakers import Diarizer, SpeakerTurns, Voice, load_speaker_encoder

from .common import DATA, median, p95, peak_rss_mb, read_tsv

AISHELL = DATA / "aishell-asr0009-sample-2spk"
OCEAN = DATA / "english-l2-speechocean762-adults"
THRESHOLDS = [round(0.55 + 0.025 * i, 3) for i in range(15)]  # 0.55 … 0.9
SHORT_S = 0.9  # a "short" utterance: 0.9 s from the middle of a sentence

console = Console()


def correct(truth: list[str], labels: list[str | None]) -> list[bool]:
    """Which labels are right under the best one-to-one mapping of labels to speakers."""
    speakers = sorted(set(truth))
    found = sorted({x for x in labels if x is not None})
    if not found:
        return [False] * len(truth)
    counts = np.zeros((len(found), len(speakers)))
    for t, x in zip(truth, labels, strict=True):
        if x is not None:
            counts[found.index(x), speakers.index(t)] += 1
    rows, cols = linear_sum_assignment(-counts)
    mapping = {found[r]: speakers[c] for r, c in zip(rows, cols, strict=True)}
    return [mapping.get(x) == t for t, x in zip(truth, labels, strict=True)]


def best_mapping_accuracy(truth: list[str], labels: list[str | None]) -> float:
    return float(np.mean(correct(truth, labels)))


def run_turns(
    voices: list[Voice], threshold: float, min_voice_s: float
) -> tuple[list[str | None], int]:
    turns = SpeakerTurns(threshold, min_voice_s)
    labels = [turns.assign(v) for v in voices]
    return labels, len(turns.speakers)


def conversations(
    by_speaker: dict[str, list[int]], n: int, per: int, runs: tuple[int, int], seed: int
) -> list[list[int]]:
    """`n` random conversations of `per` speakers, each speaking in turns of `runs` utterances."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        people = rng.sample(sorted(by_speaker), per)
        pools = {p: rng.sample(by_speaker[p], len(by_speaker[p])) for p in people}
        order: list[int] = []
        last = None
        while any(pools.values()):
            who = rng.choice(
                [p for p in people if pools[p] and (p != last or len(people) == 1)]
                or [p for p in people if pools[p]]
            )
            take = rng.randint(*runs)
            order += pools[who][:take]
            pools[who] = pools[who][take:]
            last = who
        out.append(order)
    return out


def score(
    voices: list[Voice], truth: list[str], convs: list[list[int]], threshold: float, min_s: float
) -> tuple[float, float]:
    """Mean accuracy and mean |speakers found − true speakers| over conversations."""
    accs, extra = [], []
    for conv in convs:
        labels, found = run_turns([voices[i] for i in conv], threshold, min_s)
        t = [truth[i] for i in conv]
        accs.append(best_mapping_accuracy(t, labels))
        extra.append(abs(found - len(set(t))))
    return float(np.mean(accs)), float(np.mean(extra))


def embed_rows(diarizer: Diarizer, folder, rows: list[dict], what: str, times: list[float]):
    voices = []
    for row in track(rows, description=what, console=console):
        audio = load_audio(folder / row["path"])
        voices.append(diarizer.voice(audio))
        times.append(diarizer.last_embed_s)
    return voices


def pipeline(settings: Settings, diarizer: Diarizer, refs: list[dict]) -> dict:
    """The long-form file as `tingshuo transcribe` reads it; each final timed and scored."""
    from tingshuo.asr import load_recognizer
    from tingshuo.asr.streaming import StreamingTranscriber, policy_config, transcribe_audio
    from tingshuo.asr.worker import RecognizerWorker

    worker = RecognizerWorker(load_recognizer(settings))
    audio = load_audio(AISHELL / "longform" / "longform_2spk.flac")
    commit_s: list[float] = []
    embed_s: list[float] = []
    original = StreamingTranscriber._commit

    def timed(self, action):
        t = time.perf_counter()
        out = original(self, action)
        commit_s.append(time.perf_counter() - t)
        if self.diarizer is not None:
            embed_s.append(self.diarizer.last_embed_s)
        return out

    StreamingTranscriber._commit = timed  # type: ignore[method-assign]
    try:
        runs = {}
        # the first 2 minutes without labels: the baseline time to commit a final
        for name, d in (("plain", None), ("speakers", diarizer)):
            commit_s.clear()
            clip = audio if d is not None else audio[: 120 * SAMPLE_RATE]
            segs = list(transcribe_audio(worker, clip, policy_config(settings), "zh", diarizer=d))
            runs[name] = (segs, list(commit_s))
    finally:
        StreamingTranscriber._commit = original  # type: ignore[method-assign]
        worker.close()
    segs, with_commit = runs["speakers"]
    truth = []
    for seg in segs:
        overlap: dict[str, float] = defaultdict(float)
        for r in refs:
            a, b = max(seg.start, float(r["start_s"])), min(seg.end, float(r["end_s"]))
            if b > a:
                overlap[r["speaker"]] += b - a
        truth.append(max(overlap, key=overlap.get) if overlap else "?")
    labels = [s.speaker for s in segs]
    n_base = len(runs["plain"][1])
    return {
        "finals": len(segs),
        "accuracy": best_mapping_accuracy(truth, labels),
        "found": len({x for x in labels if x}),
        "embed_s": embed_s,
        "commit_plain": runs["plain"][1],
        "commit_speakers": with_commit[:n_base],  # the same finals as the baseline
        "labels": labels,
        "truth": truth,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--no-pipeline", action="store_true", help="skip the recognizer run")
    parser.add_argument("--conversations", type=int, default=20)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    settings = Settings()
    t = time.perf_counter()
    encoder = load_speaker_encoder(settings)
    load_s = time.perf_counter() - t
    diarizer = Diarizer(encoder, SpeakerTurns(settings.speaker_threshold, 1.0))
    embed_times: list[float] = []

    # tuning data
    tune_rows = read_tsv(AISHELL / "manifest.tsv")
    tune_voices = embed_rows(diarizer, AISHELL, tune_rows, "AISHELL sentences", embed_times)
    tune_truth = [r["speaker"] for r in tune_rows]
    ocean_rows = read_tsv(OCEAN / "manifest.tsv")
    ocean_voices = embed_rows(diarizer, OCEAN, ocean_rows, "speechocean762", embed_times)
    ocean_truth = [r["speaker"] for r in ocean_rows]
    ocean_by: dict[str, dict[str, list[int]]] = {"tune": {}, "held": {}}
    for i, r in enumerate(ocean_rows):
        part = "tune" if int(r["speaker"]) % 2 == 0 else "held"
        ocean_by[part].setdefault(r["speaker"], []).append(i)
    aishell_by: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(tune_rows):
        aishell_by[r["speaker"]].append(i)
    # conversations of 40 sentences drawn from the 400 (as long as the held-out file)
    aishell_convs = [
        c[:40] for c in conversations(aishell_by, args.conversations, 2, (2, 4), seed=1)
    ]
    ocean_tune = conversations(ocean_by["tune"], args.conversations, 4, (1, 3), seed=2)
    ocean_held = conversations(ocean_by["held"], args.conversations, 4, (1, 3), seed=3)

    sweep = Table(title="threshold sweep on the tuning data (mean accuracy / |speakers − true|)")
    sweep.add_column("threshold", justify="right")
    sweep.add_column("AISHELL 2 speakers", justify="right")
    sweep.add_column("speechocean 4 speakers", justify="right")
    chosen, best = THRESHOLDS[0], -1.0
    for th in THRESHOLDS:
        a_acc, a_extra = score(tune_voices, tune_truth, aishell_convs, th, 1.0)
        o_acc, o_extra = score(ocean_voices, ocean_truth, ocean_tune, th, 1.0)
        sweep.add_row(f"{th:.3f}", f"{a_acc:.1%} / {a_extra:.1f}", f"{o_acc:.1%} / {o_extra:.1f}")
        if (a_acc + o_acc) / 2 > best:
            chosen, best = th, (a_acc + o_acc) / 2
    console.print(sweep)

    # held out
    refs = read_tsv(AISHELL / "longform" / "segments.tsv")
    long_audio = load_audio(AISHELL / "longform" / "longform_2spk.flac")
    cut = []
    for r in refs:
        a, b = int(float(r["start_s"]) * SAMPLE_RATE), int(float(r["end_s"]) * SAMPLE_RATE)
        cut.append(diarizer.voice(long_audio[a:b]))
        embed_times.append(diarizer.last_embed_s)
    long_truth = [r["speaker"] for r in refs]
    # the same utterances with every third one cut short
    shorts = []
    for i, r in enumerate(refs):
        if i % 3 == 2:
            mid = (float(r["start_s"]) + float(r["end_s"])) / 2
            a = int((mid - SHORT_S / 2) * SAMPLE_RATE)
            shorts.append(diarizer.voice(long_audio[a : a + int(SHORT_S * SAMPLE_RATE)]))
        else:
            shorts.append(cut[i])

    table = Table(title=f"speaker turns — Resemblyzer GE2E, threshold {chosen} (chosen above)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for th in sorted({chosen, settings.speaker_threshold}):
        labels, found = run_turns(cut, th, settings.speaker_min_voice_s)
        note = " (setting)" if th == settings.speaker_threshold else ""
        table.add_row(
            f"long-form, true utterance bounds, threshold {th}{note}: accuracy, speakers (2)",
            f"{best_mapping_accuracy(long_truth, labels):.1%}, {found}",
        )
        labels, found = run_turns(shorts, th, settings.speaker_min_voice_s)
        ok = correct(long_truth, labels)
        short_ok = [x for i, x in enumerate(ok) if i % 3 == 2]
        table.add_row(
            f"  with every 3rd utterance cut to {SHORT_S} s: accuracy all / short, speakers",
            f"{np.mean(ok):.1%} / {np.mean(short_ok):.1%}, {found}",
        )
        o_acc, o_extra = score(ocean_voices, ocean_truth, ocean_held, th, 1.0)
        table.add_row(
            f"speechocean762 held-out speakers, {args.conversations} conversations of 4: "
            "accuracy, |found − 4|",
            f"{o_acc:.1%}, {o_extra:.1f}",
        )
    if not args.no_pipeline:
        diarizer.turns = SpeakerTurns(settings.speaker_threshold, settings.speaker_min_voice_s)
        run = pipeline(settings, diarizer, refs)
        table.add_row(
            f"long-form through the pipeline ({run['finals']} finals), threshold "
            f"{settings.speaker_threshold}: accuracy, speakers (2)",
            f"{run['accuracy']:.1%}, {run['found']}",
        )
        table.add_row(
            "  embedding per final, median / p95",
            f"{median(run['embed_s']) * 1000:.0f} / {p95(run['embed_s']) * 1000:.0f} ms",
        )
        table.add_row(
            "  commit of a final (decode ∥ embed), without → with speakers, median",
            f"{median(run['commit_plain']) * 1000:.0f} → "
            f"{median(run['commit_speakers']) * 1000:.0f} ms",
        )
    table.add_row(
        f"embedding time, all {len(embed_times)} utterances, median / p95",
        f"{median(embed_times) * 1000:.0f} / {p95(embed_times) * 1000:.0f} ms",
    )
    table.add_row("encoder load", f"{load_s:.1f} s")
    table.add_row("peak memory (RSS)", f"{peak_rss_mb():.0f} MB")
    console.print(table)


if __name__ == "__main__":
    main()
