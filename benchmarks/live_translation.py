"""Live rooms with translation on: do captions keep time, and do translations keep pace?

    python -m benchmarks.live_translation                  # 1 and 2 rooms, quiet and busy
    python -m benchmarks.live_translation --seconds 60 --cases 1q,1b

Starts `tingshuo serve` in a subprocess (a private database and token), makes rooms that
listen in Mandarin and translate into English, and plays the two-speaker AISHELL long-form
recording into each at 1× (`start/file`; each room its own stretch, so that no caption is
in the translation cache) while a viewer WebSocket per room listens. Each case has a fresh
server. Cases:
`1q` one room on a quiet machine, `2q` two rooms, `1b` one room while another process keeps
one core busy (a Python loop at normal priority), `2b` two rooms so; `1q-off` and `1b-off`
the same room without translation, for comparison.

For every final, measured on the viewer (server `ts` of each event, same clock):
- **final lag**: its publish time minus the moment its last word was played;
- **translation lag**: the complete translation's publish time minus the final's;
- **first word**: the first partial translation's publish time minus the final's;
- what each final got: a translation by the main model, one by the fast model (degraded), or
  a marked skip; finals with no translation event at all are counted as lost;
- **drafts per utterance**: partial captions seen for each utterance longer than 2 s.
Run time: about 3 minutes per case with `--seconds 120`, and 2 for the cost table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from rich.console import Console
from rich.table import Table
from websockets.asyncio.client import connect

from tingshuo.audio.decode import load_audio

from .common import median, p95
from .server_load import LONGFORM, Server, rss_mb, write_wav

console = Console(stderr=True)
# rooms, another process busy beside, translated
CASES = {
    "1q": (1, False, True),
    "2q": (2, False, True),
    "1b": (1, True, True),
    "2b": (2, True, True),
    "1q-off": (1, False, False),
    "1b-off": (1, True, False),
}


def hog() -> subprocess.Popen:
    """Another program holding one core: a busy loop at normal priority."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


async def watch_room(server: Server, room: dict, started: asyncio.Event, out: dict) -> None:
    url = f"{server.ws}/ws/rooms/{room['id']}/events?token={room['viewer_token']}"
    finals: dict[int, dict] = {}
    partials: dict[int, int] = defaultdict(int)
    firsts: dict[int, float] = {}
    done: dict[int, dict] = {}
    lag_events: list[dict] = []
    async with connect(url, max_queue=None, open_timeout=120) as ws:
        async for message in ws:
            event = json.loads(message)
            kind = event["type"]
            if kind == "caught_up":
                started.set()
            elif kind == "partial":
                partials[event["utterance"]] += 1
            elif kind == "final":
                seg = event["segment"]
                finals[seg["id"]] = {"ts": event["ts"], "seg": seg, "utt": event["utterance"]}
            elif kind == "translation":
                sid = event["segment_id"]
                if event.get("partial"):
                    firsts.setdefault(sid, event["ts"])
                else:
                    done[sid] = event
            elif kind == "lag":
                lag_events.append(event)
            elif kind == "state" and event["state"] == "idle":
                break
    out.update(finals=finals, partials=partials, firsts=firsts, done=done, lags=lag_events)


async def run_case(
    server: Server,
    wavs: list[Path],
    rooms_n: int,
    seconds: float,
    verbose: bool = False,
    translated: bool = True,
) -> dict:
    rooms = []
    for i in range(rooms_n):
        r = server.http.post(
            "/api/rooms",
            json={
                "name": f"room {i + 1} of {rooms_n}",
                "lang": "zh",
                "targets": ["en"] if translated else [],
            },
        )
        r.raise_for_status()
        rooms.append(r.json())
    outs: list[dict] = [{} for _ in rooms]
    starts = [asyncio.Event() for _ in rooms]
    watchers = [
        asyncio.create_task(watch_room(server, room, starts[i], outs[i]))
        for i, room in enumerate(rooms)
    ]
    await asyncio.gather(*(s.wait() for s in starts))
    t0s = []
    for room, wav in zip(rooms, wavs, strict=False):
        t0s.append(await asyncio.to_thread(server.play, room, wav))
    peak = rss_mb(server.proc.pid)
    while not all(w.done() for w in watchers):
        await asyncio.sleep(1)
        peak = max(peak, rss_mb(server.proc.pid))
    for w in watchers:
        w.result()

    final_lags, tr_lags, first_words, drafts = [], [], [], []
    counts = {"main": 0, "fast": 0, "skipped": 0, "lost": 0}
    for out, t0 in zip(outs, t0s, strict=True):
        for sid, f in out["finals"].items():
            seg = f["seg"]
            final_lags.append(f["ts"] - (t0 + seg["end"]))
            tr = out["done"].get(sid)
            if tr is None:
                counts["lost"] += translated
            elif tr.get("skipped"):
                counts["skipped"] += 1
            else:
                counts["fast" if tr.get("degraded") else "main"] += 1
                tr_lags.append(tr["ts"] - f["ts"])
            if sid in out["firsts"]:
                first_words.append(out["firsts"][sid] - f["ts"])
            if seg["end"] - seg["start"] > 2.0:
                drafts.append(out["partials"].get(f["utt"], 0))
            if verbose:
                how = "-" if tr is None else "skip" if tr.get("skipped") else tr.get("model")
                after = f"{tr['ts'] - f['ts']:5.2f}" if tr is not None else "  -  "
                print(
                    f"{seg['end']:6.1f} final {final_lags[-1]:5.2f} translated {after} {how} "
                    f"drafts {out['partials'].get(f['utt'], 0)} {seg['text'][:20]}",
                    file=sys.stderr,
                )
        for e in out["lags"] if verbose else []:
            print(f"lag {e['ts'] - t0:6.1f}: {e}", file=sys.stderr)
    n = len(final_lags)
    return {
        "finals": n,
        "final_p50": median(final_lags),
        "final_p95": p95(final_lags),
        "tr_p50": median(tr_lags),
        "tr_p95": p95(tr_lags),
        "first_p50": median(first_words),
        **counts,
        "drafts_min": min(drafts, default=0),
        "drafts_med": median([float(d) for d in drafts]),
        "rss": peak,
        "shed": sorted({e.get("shed", "none") for o in outs for e in o["lags"]} - {"none"}),
    }


def caption_costs(captions: list[str], model: str, window: bool) -> dict:
    """What translating each caption costs the model, in one process: prompt tokens read,
    seconds reading them, tokens written and seconds writing them. `window`: send the two
    previous captions as context each time (a sliding window, the prompt's start changes)
    instead of one conversation that only grows."""
    from tingshuo.mt.base import Turn
    from tingshuo.mt.llama_chat import CallStats
    from tingshuo.mt.llm import load_translator
    from tingshuo.settings import get_settings

    settings = get_settings()
    translator = load_translator(settings, model)
    rows = []
    turns: list[Turn] = []
    for i, text in enumerate(captions):
        if window:
            # no kept conversation: the context is sent again each time, the prompt's start
            # moves with it (how captions were translated before)
            translator.forget(None)
            out = translator.translate(text, "zh", "en", turns[-2:])
        else:
            if i == 0:
                translator.prepare("room", "zh", "en")  # as a room does when it starts
            out = translator.translate(text, "zh", "en", conversation="room")
        turns.append(Turn(text, out))
        st = CallStats.total(translator.calls)  # the caption's call and any repair
        rows.append((st.prompt_tokens, st.prompt_s, st.generated_tokens, st.generate_s))
    del translator
    return {
        "prompt_tokens": median([float(r[0]) for r in rows]),
        "prompt_s": median([r[1] for r in rows]),
        "gen_tokens": median([float(r[2]) for r in rows]),
        "gen_s": median([r[3] for r in rows]),
        "total_p95": p95([r[1] + r[3] for r in rows]),
    }


def costs_table(n: int) -> Table:
    from .common import read_tsv

    segments = read_tsv(LONGFORM.parent / "segments.tsv")
    captions = [row["reference_text"] for row in segments[:n]]
    table = Table(
        "model",
        "prompt",
        "prompt tokens read",
        "reading s",
        "tokens written",
        "writing s",
        "caption p95 s",
        title=f"cost per caption, {n} reference captions of the file, zh→en (medians)",
    )
    for model, window in (
        ("qwen2.5-1.5b", True),
        ("qwen2.5-1.5b", False),
        ("qwen2.5-0.5b", False),
    ):
        console.log(f"{model}, {'sliding window' if window else 'one conversation'}")
        r = caption_costs(captions, model, window)
        table.add_row(
            model,
            "2 previous captions each time" if window else "one growing conversation",
            f"{r['prompt_tokens']:.0f}",
            f"{r['prompt_s']:.2f}",
            f"{r['gen_tokens']:.0f}",
            f"{r['gen_s']:.2f}",
            f"{r['total_p95']:.2f}",
        )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="audio played per room")
    parser.add_argument("--cases", default="1q,2q,1b", help="of 1q, 2q, 1b, 2b")
    parser.add_argument("--verbose", action="store_true", help="every final and lag report")
    parser.add_argument(
        "--costs", type=int, default=30, help="captions for the cost-per-caption table (0: none)"
    )
    args = parser.parse_args()
    if args.costs:
        Console(width=200).print(costs_table(args.costs))
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    for c in cases:
        if c not in CASES:
            raise SystemExit(f"unknown case {c!r}: use {', '.join(CASES)}")

    # each room hears its own stretch of the file (its captions are not in the other's cache)
    whole = load_audio(LONGFORM)
    n = int(args.seconds * 16000)
    starts = [0, min(n + 30 * 16000, max(whole.size - n, 0))]
    table = Table(
        "case",
        "finals",
        "final lag p50 s",
        "p95 s",
        "translation after final p50 s",
        "p95 s",
        "first word p50 s",
        "1.5B",
        "0.5B",
        "skipped",
        "lost",
        "drafts/utt >2 s min · median",
        "shed",
        "RSS MB",
        title=f"live rooms zh→en, {args.seconds:.0f} s of audio, {os.cpu_count()} cores",
    )
    with tempfile.TemporaryDirectory() as tmp:
        wavs = []
        for i, start in enumerate(starts):
            wavs.append(Path(tmp) / f"talk{i}.wav")
            write_wav(wavs[-1], whole[start : start + n])
        warm = Path(tmp) / "warm.wav"
        write_wav(warm, whole[-10 * 16000 :])
        for case in cases:
            rooms_n, busy, translated = CASES[case]
            label = f"{rooms_n} room{'s' if rooms_n > 1 else ''}, " + (
                "one core busy" if busy else "quiet"
            )
            label += "" if translated else ", no translation"
            console.log(label)
            # a fresh server for each case: no translation is in its cache yet
            folder = Path(tmp) / case
            folder.mkdir()
            server = Server(folder)
            try:
                # load the models (recognizer, translators, voices) before anything is timed
                asyncio.run(run_case(server, [warm], 1, 10.0))
                other = hog() if busy else None
                try:
                    r = asyncio.run(
                        run_case(server, wavs, rooms_n, args.seconds, args.verbose, translated)
                    )
                finally:
                    if other is not None:
                        other.kill()
                        other.wait()
            finally:
                server.close()
            table.add_row(
                label,
                str(r["finals"]),
                f"{r['final_p50']:.2f}",
                f"{r['final_p95']:.2f}",
                f"{r['tr_p50']:.2f}",
                f"{r['tr_p95']:.2f}",
                f"{r['first_p50']:.2f}",
                str(r["main"]),
                str(r["fast"]),
                str(r["skipped"]),
                str(r["lost"]),
                f"{r['drafts_min']} · {r['drafts_med']:.0f}",
                ", ".join(r["shed"]) or "-",
                f"{r['rss']:.0f}",
            )
    Console(width=240).print(table)


if __name__ == "__main__":
    main()
