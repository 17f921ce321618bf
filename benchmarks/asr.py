"""Listening-core benchmark: accuracy, speed, memory and streaming latency.

    python -m benchmarks.asr              # everything (about 15 minutes on 2 cores)
    python -m benchmarks.asr --limit 40   # a quick look
    python -m benchmarks.asr --second-pass --skip-streaming   # with the second pass's figures

Prints one table. CER/WER normalisation: see tingshuo.asr.scoring.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.progress import track
from rich.table import Table

from tingshuo.asr import load_recognizer
from tingshuo.asr.base import Hypothesis, Request
from tingshuo.asr.scoring import cer, edit_distance, normalize_zh, wer
from tingshuo.asr.streaming import policy_config, transcribe_audio
from tingshuo.asr.worker import RecognizerWorker
from tingshuo.audio.decode import SAMPLE_RATE, load_audio
from tingshuo.audio.sources import BLOCK_S, file_blocks
from tingshuo.events import Final, Partial
from tingshuo.live.recipe import Recipe, open_session
from tingshuo.settings import Settings
from tingshuo.store.db import open_store

from .common import DATA, median, p95, peak_rss_mb, read_tsv

AISHELL = DATA / "aishell-asr0009-sample-2spk"
LJ = DATA / "ljspeech-subset-en"

# Names of people, companies, places and bodies that occur in the AISHELL references,
# listed from the references alone (not from recognition errors).
HOTWORDS = [
    "万科",
    "万达",
    "中原地产",
    "杨澄宇",
    "左小蕾",
    "凤凰网",
    "凤凰资本论",
    "中国银河证券",
    "住建部",
    "米思特理",
    "六本木",
    "三井不动产",
    "平泽市",
    "通用汽车",
    "硅谷",
    "恒大地产",
    "中指院",
    "中新网",
    "保利地产",
    "番禺",
    "证监会",
    "光韵达",
    "候若洪",
]

console = Console()


def transcribe_file(worker, path: Path, lang: str, hotwords=()) -> tuple[str, float, float]:
    """The same path as `tingshuo transcribe`: utterances by the commit policy, one final each."""
    audio = load_audio(path)
    t = time.perf_counter()
    config = policy_config(Settings())
    pieces = transcribe_audio(worker, audio, config, lang, hotwords)
    text = ("" if lang == "zh" else " ").join(p.text for p in pieces)
    return text, time.perf_counter() - t, audio.size / SAMPLE_RATE


def accuracy(worker, limit: int | None) -> dict:
    rows = read_tsv(AISHELL / "manifest.tsv")[:limit]
    refs, hyps, compute, audio_s = [], [], 0.0, 0.0
    for row in track(rows, description="AISHELL", console=console):
        text, took, dur = transcribe_file(worker, AISHELL / row["path"], "zh")
        refs.append(row["reference_text"])
        hyps.append(text)
        compute += took
        audio_s += dur
    lj_rows = read_tsv(LJ / "manifest.tsv")
    lj_refs, lj_hyps = [], []
    for row in track(lj_rows, description="LJ Speech", console=console):
        text, took, dur = transcribe_file(worker, LJ / row["path"], "en")
        lj_refs.append(row["reference_text"])
        lj_hyps.append(text)
        compute += took
        audio_s += dur
    return {
        "n_zh": len(rows),
        "cer": cer(refs, hyps),
        "n_en": len(lj_rows),
        "wer": wer(lj_refs, lj_hyps),
        "rtf": compute / audio_s,  # decoding only: files are decoded before the clock starts
        "rows": rows,
        "hyps": hyps,
    }


def hotword_gain(worker, rows: list[dict], baseline: list[str]) -> dict:
    picked = [
        (r, h)
        for r, h in zip(rows, baseline, strict=True)
        if any(w in r["reference_text"] for w in HOTWORDS)
    ]
    refs = [r["reference_text"] for r, _ in picked]
    before = [h for _, h in picked]
    after = []
    for row, _ in track(picked, description="hot words", console=console):
        after.append(transcribe_file(worker, AISHELL / row["path"], "zh", HOTWORDS)[0])

    def hits(hyps: list[str]) -> tuple[int, int]:
        found = total = 0
        for ref, hyp in zip(refs, hyps, strict=True):
            for w in HOTWORDS:
                n = ref.count(w)
                total += n
                found += min(n, hyp.count(w))
        return found, total

    (f0, total), (f1, _) = hits(before), hits(after)
    return {
        "sentences": len(picked),
        "terms": total,
        "recall_before": f0 / max(total, 1),
        "recall_after": f1 / max(total, 1),
        "cer_before": cer(refs, before),
        "cer_after": cer(refs, after),
    }


class _Recording:
    """The recognizer, keeping each Mandarin final's other readings for the second pass."""

    def __init__(self, recognizer) -> None:
        self._recognizer = recognizer
        self.finals: list[tuple[str, list[str]]] = []

    def __getattr__(self, name: str):
        return getattr(self._recognizer, name)

    def recognize(self, request: Request) -> Hypothesis:
        hypothesis = self._recognizer.recognize(request)
        if not request.draft:
            self.finals.append((hypothesis.text, list(hypothesis.alternatives)))
        return hypothesis


def readings(recognizer, rows: list[dict], cache: Path | None) -> list[list[dict]]:
    """Each AISHELL file's finals (the same path as `accuracy`) with the beam's other
    readings of each; kept in `cache` (JSON) when given, so that tuning runs skip Whisper."""
    if cache is not None and cache.is_file():
        kept = json.loads(cache.read_text(encoding="utf-8"))
        if [r["utt_id"] for r in rows] == [k["utt_id"] for k in kept[: len(rows)]]:
            return [k["finals"] for k in kept[: len(rows)]]
    recording = _Recording(recognizer)
    worker = RecognizerWorker(recording)
    out = []
    for row in track(rows, description="AISHELL n-best", console=console):
        recording.finals.clear()
        audio = load_audio(AISHELL / row["path"])
        pieces = list(transcribe_audio(worker, audio, policy_config(Settings()), "zh"))
        finals = []
        heard = list(recording.finals)
        for piece in pieces:
            match = next((i for i, (t, _) in enumerate(heard) if t == piece.text), None)
            alternatives = heard.pop(match)[1] if match is not None else []
            finals.append({"text": piece.text, "alternatives": alternatives})
        out.append(finals)
    if cache is not None:
        kept = [{"utt_id": r["utt_id"], "finals": f} for r, f in zip(rows, out, strict=True)]
        cache.write_text(json.dumps(kept, ensure_ascii=False, indent=0), encoding="utf-8")
    return out


def second_pass(
    settings: Settings,
    recognizer,
    limit: int | None,
    cache: Path | None,
    across_files: bool = False,
    threads: int = 1,
) -> dict:
    """CER of the AISHELL finals before and after the second pass (asr/second_pass.py),
    without hot words; harm to finals that were right; cost per final. Each final is read
    after the captions before it in its own file, as `tingshuo transcribe` reads a file
    (`across_files`: the two before it from the same speaker, as in a talk)."""
    from tingshuo.asr.second_pass import SecondPass

    rows = read_tsv(AISHELL / "manifest.tsv")[:limit]
    finals = readings(recognizer, rows, cache)
    reviewer = SecondPass.load(settings, threads=threads)
    before, after, costs, changed = [], [], [], 0
    context: list[str] = []
    speaker = None
    for row, pieces in track(
        list(zip(rows, finals, strict=True)), description="second pass", console=console
    ):
        if row["speaker"] != speaker or not across_files:
            speaker, context = row["speaker"], []  # another talk, or another file
        texts = []
        for piece in pieces:
            review = reviewer.review(piece["text"], context, (), piece["alternatives"])
            costs.append(review.seconds)
            changed += review.changed
            texts.append(review.text)
            context.append(review.text)
        before.append("".join(p["text"] for p in pieces))
        after.append("".join(texts))
    refs = [r["reference_text"] for r in rows]
    right = [i for i, (r, b) in enumerate(zip(refs, before, strict=True)) if cer([r], [b]) == 0]
    harmed = [i for i in right if cer([refs[i]], [after[i]]) > 0]
    right_chars = sum(len(normalize_zh(refs[i])) for i in right)
    moved = sum(edit_distance(normalize_zh(before[i]), normalize_zh(after[i])) for i in right)
    # the margin and costs were chosen on the first 100 sentences; the rest is held out
    halves = {}
    for name, picked in (
        ("S0150 1-100 (tuned on)", range(0, 100)),
        ("S0150 101-200 (held out)", range(100, 200)),
        ("S0252 201-400 (held out)", range(200, 400)),
        ("all held out (101-400)", range(100, 400)),
    ):
        picked = [i for i in picked if i < len(rows)]
        if picked:
            halves[name] = (
                len(picked),
                cer([refs[i] for i in picked], [before[i] for i in picked]),
                cer([refs[i] for i in picked], [after[i] for i in picked]),
            )
    return {
        "n": len(rows),
        "cer_before": cer(refs, before),
        "cer_after": cer(refs, after),
        "halves": halves,
        "finals": len(costs),
        "changed": changed,
        "right": len(right),
        "harmed": len(harmed),
        "right_chars_changed": moved / max(right_chars, 1),
        "cost": costs,
        "margin": reviewer.margin,
    }


def english_second_pass(settings: Settings, recognizer) -> dict:
    """WER of the speechocean762 sentences that experts rated 8 or more (English read by
    Mandarin speakers), joined 0.5 s apart and transcribed as one file, without and with the
    second pass (two threads, as `tingshuo transcribe` runs it)."""
    import numpy as np

    from tingshuo.asr.second_pass import SecondPass

    folder = DATA / "english-l2-speechocean762-adults"
    rows = [r for r in read_tsv(folder / "manifest.tsv") if float(r["sent_total_mean5"]) >= 8]
    gap = np.zeros(SAMPLE_RATE // 2, dtype=np.float32)
    audio = np.concatenate([gap, *[x for r in rows for x in (load_audio(folder / r["path"]), gap)]])
    end60 = 0.5 + sum(float(r["duration_s"]) + 0.5 for r in rows[:60])
    refs = {"all": " ".join(r["reference_text"] for r in rows)}
    refs["first 60"] = " ".join(r["reference_text"] for r in rows[:60])
    worker = RecognizerWorker(recognizer)
    out = {"n": len(rows)}
    for name, reviewer in (("without", None), ("with", SecondPass.load(settings, threads=2))):
        t = time.perf_counter()
        segs = list(
            transcribe_audio(worker, audio, policy_config(settings), "en", second_pass=reviewer)
        )
        out[name] = {
            "all": wer([refs["all"]], [" ".join(x.text for x in segs)]),
            "first 60": wer([refs["first 60"]], [" ".join(x.text for x in segs if x.end < end60)]),
            "rtf": (time.perf_counter() - t) / (audio.size / SAMPLE_RATE),
        }
    return out


def speech_bounds(refs: list[dict]) -> list[tuple[float, float]]:
    """(onset, offset) of the spoken part of each reference utterance, in seconds."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    audio = load_audio(AISHELL / "longform" / "longform_2spk.flac")
    chunks = get_speech_timestamps(audio, VadOptions(min_silence_duration_ms=200, speech_pad_ms=0))
    speech = [(c["start"] / SAMPLE_RATE, c["end"] / SAMPLE_RATE) for c in chunks]
    bounds = []
    for r in refs:
        start, end = float(r["start_s"]), float(r["end_s"])
        parts = [(a, b) for a, b in speech if b > start and a < end]
        if parts:
            bounds.append((max(parts[0][0], start), min(parts[-1][1], end)))
    return bounds


def streaming(settings: Settings, worker: RecognizerWorker, seconds: float | None) -> dict:
    """Play the long-form file at 1× through a live session; time partials and finals."""
    refs = read_tsv(AISHELL / "longform" / "segments.tsv")
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{tmp}/bench.db")
        session = open_session(Recipe("zh", title="benchmark"), worker, store, settings)
        events: list[tuple[float, Partial | Final]] = []
        blocks = file_blocks(AISHELL / "longform" / "longform_2spk.flac", realtime=True)
        if seconds:
            blocks = itertools.islice(blocks, int(seconds / BLOCK_S))
        t0 = time.monotonic()
        session.run(blocks, lambda e: events.append((time.monotonic() - t0, e)))
    # Each reference utterance's file starts and ends with some room silence: its spoken part
    # is found by the offline Silero VAD over the whole file, independently of the live path.
    spoken = speech_bounds(refs)
    finals = [(t, e) for t, e in events if isinstance(e, Final)]
    first_partial: dict[int, float] = {}
    for t, e in events:
        if isinstance(e, Partial):
            first_partial.setdefault(e.utterance, t)
    onset_lat, final_lat = [], []
    for t, e in finals:
        seg = e.segment
        covered = [(on, off) for on, off in spoken if seg.start - 0.5 < on < seg.end]
        if not covered:
            continue
        # the phrase ends where the last utterance the final covers stops being spoken
        ends = [off for _, off in covered if off <= seg.end + 0.5]
        if ends:
            final_lat.append(t - max(ends))
        if e.utterance in first_partial:
            onset_lat.append(first_partial[e.utterance] - min(on for on, _ in covered))
    heard = [r for r in refs if seconds is None or float(r["start_s"]) < seconds]
    return {
        "audio_s": seconds or float(refs[-1]["end_s"]),
        "finals": len(finals),
        "partials": sum(isinstance(e, Partial) for _, e in events),
        "first_partial": onset_lat,
        "final": final_lat,
        "cer": cer(
            ["".join(r["reference_text"] for r in heard)],
            ["".join(e.segment.text for _, e in finals)],
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--limit", type=int, help="AISHELL sentences to score (default: all 400)")
    parser.add_argument("--stream-seconds", type=float, help="play only this much of the long file")
    parser.add_argument("--skip-streaming", action="store_true")
    parser.add_argument("--model", default=None)
    parser.add_argument(
        "--dump", type=Path, help="write each AISHELL reference and hypothesis here"
    )
    parser.add_argument(
        "--second-pass",
        action="store_true",
        help="also measure the second pass by the Qwen model (asr/second_pass.py)",
    )
    parser.add_argument(
        "--nbest-cache",
        type=Path,
        help="keep the AISHELL finals and their other readings in this JSON file (and reuse it)",
    )
    parser.add_argument(
        "--only-second-pass",
        action="store_true",
        help="measure only the second pass (with --nbest-cache, Whisper runs once)",
    )
    parser.add_argument(
        "--english",
        action="store_true",
        help="only English read by Mandarin speakers (speechocean762), with and without the "
        "second pass",
    )
    parser.add_argument(
        "--context-across-files",
        action="store_true",
        help="the second pass reads the speaker's previous sentences (files) before each",
    )
    parser.add_argument(
        "--second-pass-threads", type=int, default=1, help="2: as `tingshuo transcribe` runs it"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    settings = Settings()
    t = time.perf_counter()
    recognizer = load_recognizer(settings, args.model)
    load_s = time.perf_counter() - t

    def show_second_pass() -> None:
        result = second_pass(
            settings,
            recognizer,
            args.limit,
            args.nbest_cache,
            args.context_across_files,
            args.second_pass_threads,
        )
        console.print(second_pass_table(result))

    if args.english:
        r = english_second_pass(settings, recognizer)
        table = Table(title=f"speechocean762, {r['n']} sentences rated ≥ 8, joined: WER")
        for column in ("", "all", "first 60", "real-time factor"):
            table.add_column(column, justify="right")
        for name in ("without", "with"):
            w = r[name]
            table.add_row(
                f"{name} the second pass",
                f"{w['all']:.2%}",
                f"{w['first 60']:.2%}",
                f"{w['rtf']:.2f}",
            )
        console.print(table)
        return
    if args.only_second_pass:
        show_second_pass()
        return
    worker = RecognizerWorker(recognizer)
    acc = accuracy(worker, args.limit)
    if args.dump:
        with args.dump.open("w", encoding="utf-8") as f:
            for row, hyp in zip(acc["rows"], acc["hyps"], strict=True):
                f.write(
                    f"{cer([row['reference_text']], [hyp]):.3f}\t{row['reference_text']}\t{hyp}\n"
                )
    hot = hotword_gain(worker, acc["rows"], acc["hyps"])
    stream = None if args.skip_streaming else streaming(settings, worker, args.stream_seconds)

    table = Table(
        title=f"tingshuo listening core — model {args.model or settings.asr_model}, "
        f"{settings.asr_compute_type}, {settings.asr_threads} threads, "
        f"beam {settings.asr_beam_size}"
    )
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("floor", justify="right")
    table.add_row(f"CER, AISHELL ({acc['n_zh']} sentences)", f"{acc['cer']:.1%}", "≤ 12 %")
    table.add_row(f"WER, LJ Speech ({acc['n_en']} sentences)", f"{acc['wer']:.1%}", "")
    table.add_row("real-time factor, file transcription", f"{acc['rtf']:.3f}", "≤ 0.3")
    table.add_row("model load", f"{load_s:.1f} s", "")
    table.add_row(
        f"hot words: term recall ({hot['terms']} terms in {hot['sentences']} sentences)",
        f"{hot['recall_before']:.0%} → {hot['recall_after']:.0%}",
        "",
    )
    table.add_row(
        "hot words: CER on those sentences", f"{hot['cer_before']:.1%} → {hot['cer_after']:.1%}", ""
    )
    if stream:
        fp, fl = stream["first_partial"], stream["final"]
        table.add_row(
            f"streaming at 1×: {stream['audio_s']:.0f} s, {stream['finals']} finals, "
            f"{stream['partials']} partials",
            "",
            "",
        )
        table.add_row(
            "  speech onset → first partial, median / p95",
            f"{median(fp):.2f} / {p95(fp):.2f} s",
            "≤ 1.0 s",
        )
        table.add_row(
            "  end of phrase → final, median / p95",
            f"{median(fl):.2f} / {p95(fl):.2f} s",
            "≤ 1.5 s",
        )
        table.add_row("  streaming CER (finals vs reference)", f"{stream['cer']:.1%}", "")
    table.add_row("peak memory (RSS)", f"{peak_rss_mb():.0f} MB", "")
    console.print(table)
    if args.second_pass:
        show_second_pass()


def second_pass_table(result: dict) -> Table:
    table = Table(
        title=f"second pass by the Qwen model (margin {result['margin']:.1f} nats), "
        f"{result['finals']} finals of {result['n']} AISHELL sentences"
    )
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("floor", justify="right")
    table.add_row(
        f"CER, AISHELL ({result['n']} sentences), without → with",
        f"{result['cer_before']:.2%} → {result['cer_after']:.2%}",
        "≤ 7.7 %",
    )
    for name, (n, b, a) in result["halves"].items():
        table.add_row(f"  {name}, {n} sentences", f"{b:.2%} → {a:.2%}", "")
    table.add_row("finals changed", f"{result['changed']} of {result['finals']}", "")
    table.add_row(
        f"correct finals (CER 0 before, {result['right']}) made wrong",
        f"{result['harmed']} ({result['harmed'] / max(result['right'], 1):.1%})",
        "",
    )
    table.add_row(
        "  characters of correct finals changed",
        f"{result['right_chars_changed']:.2%}",
        "≤ 1 %",
    )
    cost = result["cost"]
    table.add_row("cost per final, median / p95", f"{median(cost):.2f} / {p95(cost):.2f} s", "")
    table.add_row("peak memory of the process (RSS)", f"{peak_rss_mb():.0f} MB", "")
    return table


if __name__ == "__main__":
    main()
