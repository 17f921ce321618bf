"""Meeting-minutes benchmark: time per minute of meeting, items kept and dropped, memory.

    python -m benchmarks.minutes          # the 7.2-min two-speaker AISHELL recording (~1 min)

The transcript is the recording's reference (its 80 turns, with the two speakers named), so the
figures measure the minutes alone, not the recognizer. Grounding: the share of the model's
decisions and action items whose words are mostly in the transcript (the rest are dropped).
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time

from rich.console import Console
from rich.table import Table

from tingshuo.events import Segment
from tingshuo.minutes import transcript_chunks, write_minutes
from tingshuo.mt import load_translator
from tingshuo.settings import Settings
from tingshuo.store.db import open_store

from .common import DATA, peak_rss_mb, read_tsv

console = Console()
LONGFORM = DATA / "aishell-asr0009-sample-2spk" / "longform" / "segments.tsv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=None, help="only the first N turns")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rows = read_tsv(LONGFORM)[: args.turns]
    names = {"S0150": "王经理", "S0252": "李总"}
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{tmp}/minutes.db")
        info = store.create_session("产业周会", lang="zh")
        for r in rows:
            store.add_segment(
                Segment(
                    session_id=info.id,
                    start=float(r["start_s"]),
                    end=float(r["end_s"]),
                    lang="zh",
                    text=r["reference_text"] + "。",
                    speaker=names.get(r["speaker"], r["speaker"]),
                )
            )
        segments = store.segments(info.id)
        info = store.get_session(info.id)
    started = time.perf_counter()
    llm = load_translator(Settings()).llm
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    minutes = write_minutes(info, segments, llm)
    took = time.perf_counter() - started
    meeting_min = segments[-1].end / 60
    asked = len(minutes.decisions) + len(minutes.actions) + len(minutes.dropped)
    table = Table(title=f"meeting minutes: {len(segments)} turns, {meeting_min:.1f} min")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("transcript chunks (model requests × 2)", str(len(transcript_chunks(segments))))
    table.add_row("seconds per minute of meeting", f"{took / meeting_min:.1f}")
    table.add_row("total", f"{took:.1f} s (model load {load_s:.1f} s)")
    table.add_row("topics", "、".join(minutes.topics))
    table.add_row("key points", str(len(minutes.points)))
    table.add_row(
        "decisions / action items kept", f"{len(minutes.decisions)} / {len(minutes.actions)}"
    )
    table.add_row("items dropped as not in the transcript", f"{len(minutes.dropped)} of {asked}")
    table.add_row("peak memory", f"{peak_rss_mb():.0f} MB")
    console.print(table)


if __name__ == "__main__":
    main()
