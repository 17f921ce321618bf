"""Translation benchmark: quality, speed, caption latency and memory.

    python -m benchmarks.translation                      # everything (30-40 min on 2 cores)
    python -m benchmarks.translation --limit 40           # a quick look
    python -m benchmarks.translation --with-recognizer    # with speech recognition running

Sets: WMT22 zh→en and en→zh (a fixed random sample, seed below, scored against both human
references) and the 547 English meeting-transcript segments of WMT23 en→zh (in order, each
with the two captions before it as context, as in a live session; one reference). BLEU and
chrF by sacrebleu: tokenize="zh" for a Chinese target, 13a for English. The meetings' speaker
tags "(PERSON11)" are metadata in a live session, not speech: they are taken off the source
and put back before the output, as the reference writes them.

Latency is the time of one `translate` call (retries included) for the segments of at most
30 characters, the size of a live caption. With --with-recognizer the Whisper recognizer
transcribes the AISHELL long-form recording in a loop on one thread meanwhile: busier than a
live session, where it idles between utterances.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import re
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

import sacrebleu
from rich.console import Console
from rich.progress import track
from rich.table import Table

from tingshuo.mt.base import Turn
from tingshuo.mt.llm import LlmTranslator, load_translator
from tingshuo.settings import Settings

from .common import DATA, median, p95, peak_rss_mb

WMT22 = DATA / "wmt22-general-zh-en"
WMT23 = DATA / "wmt23-general-en-zh"
SEED = 20221
SAMPLE = 300
CAPTION_CHARS = 30
FLOORS = {"zh→en BLEU": 20.0, "en→zh BLEU": 45.0, "caption median s": 0.6}


@dataclass
class TestSet:
    name: str
    src: str
    tgt: str
    sources: list[str]
    references: list[list[str]]  # one list per reference, aligned with sources
    in_context: bool  # consecutive segments: the previous ones go along as context
    # put before each output as it is: speaker tags, which a live caption carries as data
    labels: list[str] = field(default_factory=list)


@dataclass
class Result:
    name: str
    segments: int
    bleu: float
    chrf: float
    sentences_per_s: float
    caption_count: int
    caption_median_s: float
    caption_p95_s: float
    hypotheses: list[str] = field(repr=False)
    seconds: list[float] = field(repr=False)  # per segment


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def wmt22(direction: str, src: str, tgt: str, limit: int) -> TestSet:
    folder = WMT22 / direction
    sources = _lines(folder / f"src.{src}")
    refs = [_lines(folder / f"ref.{r}.{tgt}") for r in "AB"]
    picked = sorted(random.Random(SEED).sample(range(len(sources)), min(limit, len(sources))))
    return TestSet(
        f"WMT22 {src}→{tgt}",
        src,
        tgt,
        [sources[i] for i in picked],
        [[ref[i] for i in picked] for ref in refs],
        in_context=False,
    )


def wmt23_meetings(limit: int) -> TestSet:
    """The meeting block; its "(PERSON11) " speaker tags are taken off the source and put back
    on the output in the reference's "[PERSON11] " form."""
    sources, labels = [], []
    for line in _lines(WMT23 / "meeting.src.en")[:limit]:
        tag = re.match(r"\((PERSON\d+)\)\s*", line)
        labels.append(f"[{tag.group(1)}] " if tag else "")
        sources.append(line[tag.end() :] if tag else line)
    refs = [_lines(WMT23 / "meeting.ref.A.zh")[:limit]]
    return TestSet("WMT23 meetings en→zh", "en", "zh", sources, refs, True, labels)


def run(translator: LlmTranslator, test: TestSet, context_size: int) -> Result:
    hypotheses: list[str] = []
    seconds: list[float] = []
    caption_times: list[float] = []
    context: deque[Turn] = deque(maxlen=context_size)
    started = time.perf_counter()
    labels = test.labels or [""] * len(test.sources)
    for source, label in track(
        list(zip(test.sources, labels, strict=True)), description=test.name, transient=True
    ):
        t0 = time.perf_counter()
        out = translator.translate(source, test.src, test.tgt, list(context)) if source else ""
        took = time.perf_counter() - t0
        hypotheses.append(label + out)
        seconds.append(took)
        if len(source) <= CAPTION_CHARS:
            caption_times.append(took)
        if test.in_context and source:
            context.append(Turn(source.strip(), out))
    elapsed = time.perf_counter() - started
    tokenize = "zh" if test.tgt == "zh" else "13a"
    return Result(
        test.name,
        len(test.sources),
        sacrebleu.corpus_bleu(hypotheses, test.references, tokenize=tokenize).score,
        sacrebleu.corpus_chrf(hypotheses, test.references).score,
        len(test.sources) / elapsed,
        len(caption_times),
        median(caption_times),
        p95(caption_times),
        hypotheses,
        seconds,
    )


def recognizer_load(settings: Settings, stop: threading.Event) -> threading.Thread:
    """Keep the speech recognizer busy on its own thread, as a live session would."""
    from tingshuo.asr import load_recognizer
    from tingshuo.asr.base import Request
    from tingshuo.audio.decode import load_audio

    recognizer = load_recognizer(settings)
    audio = load_audio(DATA / "aishell-asr0009-sample-2spk" / "longform" / "longform_2spk.flac")

    def loop() -> None:
        while not stop.is_set():
            for _ in recognizer.transcribe(Request(audio, "zh")):
                if stop.is_set():
                    break

    thread = threading.Thread(target=loop, name="recognizer-load", daemon=True)
    thread.start()
    return thread


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="segments per set (quick look)")
    parser.add_argument("--model", default=None, help="qwen2.5-1.5b, qwen2.5-0.5b or a .gguf")
    parser.add_argument("--threads", type=int, default=None, help="default: settings.mt_threads")
    parser.add_argument(
        "--sets", default="zh-en,en-zh,meetings", help="comma-separated: zh-en, en-zh, meetings"
    )
    parser.add_argument("--with-recognizer", action="store_true")
    parser.add_argument("--save", type=Path, default=None, help="write results and outputs (JSON)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    settings = Settings()
    if args.threads:
        settings = settings.model_copy(update={"mt_threads": args.threads})
    wanted = args.sets.split(",")
    sets = []
    if "zh-en" in wanted:
        sets.append(wmt22("zh-en", "zh", "en", args.limit or SAMPLE))
    if "en-zh" in wanted:
        sets.append(wmt22("en-zh", "en", "zh", args.limit or SAMPLE))
    if "meetings" in wanted:
        sets.append(wmt23_meetings(args.limit or 547))

    console = Console(width=110)
    loaded = time.perf_counter()
    translator = load_translator(settings, args.model)
    load_s = time.perf_counter() - loaded
    stop = threading.Event()
    if args.with_recognizer:
        recognizer_load(settings.model_copy(update={"asr_threads": 1}), stop)
    results = [run(translator, test, settings.mt_context_captions) for test in sets]
    stop.set()

    table = Table(title=f"Translation: {translator.name}, {settings.mt_threads} thread(s)")
    for column in (
        "set",
        "segments",
        "BLEU",
        "chrF",
        "sent/s",
        "captions ≤30",
        "median s",
        "p95 s",
    ):
        table.add_column(column, justify="left" if column == "set" else "right")
    for r in results:
        table.add_row(
            r.name,
            str(r.segments),
            f"{r.bleu:.1f}",
            f"{r.chrf:.1f}",
            f"{r.sentences_per_s:.2f}",
            str(r.caption_count),
            f"{r.caption_median_s:.2f}",
            f"{r.caption_p95_s:.2f}",
        )
    console.print(table)
    captions = [r for r in results if r.caption_count]
    console.print(
        f"sample seed {SEED}; model load {load_s:.1f} s; peak RSS {peak_rss_mb():.0f} MB"
        + ("; recognizer running" if args.with_recognizer else "")
    )
    checks = {f"{r.name.split()[-1]} BLEU": r.bleu for r in results if r.name.startswith("WMT22")}
    if captions:
        checks["caption median s"] = max(r.caption_median_s for r in captions)
    for name, value in checks.items():
        floor = FLOORS[name]
        ok = value <= floor if name.endswith(" s") else value >= floor
        console.print(f"{'[green]meets' if ok else '[red]misses'}[/] {name}: {value:.2f} ({floor})")
    if args.save:
        args.save.write_text(
            json.dumps([asdict(r) for r in results], ensure_ascii=False, indent=1),
            encoding="utf-8",
        )


if __name__ == "__main__":
    main()
