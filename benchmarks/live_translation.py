"""Live rooms with translation on: do captions keep time, do translations keep pace, and how
right are the captions that are stored?

    python -m benchmarks.live_translation                  # 1 and 2 rooms, quiet and busy
    python -m benchmarks.live_translation --seconds 60 --cases 1q,1b
    python -m benchmarks.live_translation --cases 1q,1q-nosp,2q,2q-nosp --costs 0
    python -m benchmarks.live_translation --cases en,en-nosp --costs 0   # an en→zh room

Starts `tingshuo serve` in a subprocess (a private database and token), makes rooms that
listen in Mandarin and translate into English, and plays the two-speaker AISHELL long-form
recording into each at 1× (`start/file`; each room its own stretch, so that no caption is
in the translation cache) while a viewer WebSocket per room listens. Each case has a fresh
server. Cases:
`1q` one room on a quiet machine, `2q` two rooms, `1b` one room while another process keeps
one core busy (a Python loop at normal priority), `2b` two rooms so; `1q-off` and `1b-off`
the same room without translation, for comparison; `-nosp` after a case: the same without the
second pass (`TINGSHUO_SECOND_PASS=false`); `-norec`: the room's sound not recorded
(`TINGSHUO_RECORD=false`; rooms record by default). `en` (and `en-nosp`): one room that listens in
English and translates into Chinese, playing the speechocean762 sentences that experts rated
8 or more (English read by Mandarin speakers, 0.5 s apart) and then the LJ Speech ones.

For every final, measured on the viewer (server `ts` of each event, same clock):
- **final lag**: its publish time minus the moment its last word was played;
- **translation lag**: the complete translation's publish time minus the final's;
- **first word**: the first partial translation's publish time minus the final's;
- what each final got: a translation by the main model, one by the fast model (degraded), or
  a marked skip; finals with no translation event at all are counted as lost;
- **drafts per utterance**: partial captions seen for each utterance longer than 2 s;
- **CER** (WER for English) of the captions as stored once the room has ended and the second
  pass has finished, against the reference of the utterances played whole; the corrections
  the second pass made, and how long after its correction a caption's new translation was
  complete (the translation lag above is the final's first complete translation).
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

import numpy as np
from rich.console import Console
from rich.table import Table
from websockets.asyncio.client import connect

from tingshuo.asr.scoring import cer, wer
from tingshuo.audio.decode import load_audio

from .common import DATA, median, p95, read_tsv
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
    "en": (1, False, True),
}
SPEECHOCEAN = DATA / "english-l2-speechocean762-adults"
LJ = DATA / "ljspeech-subset-en"


def case_of(name: str) -> tuple[int, bool, bool, bool, str, bool]:
    """(rooms, busy, translated, second pass, language, recorded) of a case name."""
    base = name.replace("-nosp", "", 1).replace("-norec", "", 1)
    if base not in CASES or "-nosp" in base or "-norec" in base:
        raise SystemExit(f"unknown case {name!r}: use {', '.join(CASES)}, with -nosp, -norec")
    return (
        *CASES[base],
        "-nosp" not in name,
        "en" if base == "en" else "zh",
        "-norec" not in name,
    )


def english_talk() -> tuple[np.ndarray, str]:
    """The well-read speechocean762 sentences, then LJ Speech's, 0.5 s apart; the reference."""
    rows = [
        (SPEECHOCEAN, r)
        for r in read_tsv(SPEECHOCEAN / "manifest.tsv")
        if float(r["sent_total_mean5"]) >= 8
    ] + [(LJ, r) for r in read_tsv(LJ / "manifest.tsv")]
    gap = np.zeros(8000, dtype=np.float32)
    parts = [gap]
    for folder, row in rows:
        parts += [load_audio(folder / row["path"]), gap]
    return np.concatenate(parts), " ".join(r["reference_text"] for _, r in rows)


def stretches(seconds: float, rooms: int) -> list[tuple[float, float, str]]:
    """For each room, a stretch of the long file that starts and ends between utterances:
    (start, end, reference of the utterances in it)."""
    rows = read_tsv(LONGFORM.parent / "segments.tsv")
    out = []
    begin = 0.0
    for _ in range(rooms):
        inside = [r for r in rows if float(r["start_s"]) >= begin]
        first = float(inside[0]["start_s"]) - 0.3
        kept = [r for r in inside if float(r["end_s"]) <= first + seconds]
        end = float(kept[-1]["end_s"]) + 0.3
        out.append((first, end, "".join(r["reference_text"] for r in kept)))
        begin = end + 30.0
        if begin + seconds > float(rows[-1]["end_s"]):
            begin = max(0.0, float(rows[-1]["end_s"]) - seconds - 30)
    return out


def hog() -> subprocess.Popen:
    """Another program holding one core: a busy loop at normal priority."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


async def watch_room(server: Server, room: dict, started: asyncio.Event, out: dict) -> None:
    url = f"{server.ws}/ws/rooms/{room['id']}/events?token={room['viewer_token']}"
    finish = asyncio.Event()
    finals: dict[int, dict] = {}
    partials: dict[int, int] = defaultdict(int)
    firsts: dict[int, float] = {}
    done: dict[int, dict] = {}
    corrected: dict[int, float] = {}  # segment → when the second pass corrected it
    retranslated: dict[int, float] = {}  # segment → its new translation's lag after that
    lag_events: list[dict] = []
    async with connect(url, max_queue=None, open_timeout=120) as ws:
        while not finish.is_set():
            try:
                message = await asyncio.wait_for(ws.recv(), 1.0)
            except TimeoutError:
                continue
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
                elif sid in corrected:
                    retranslated.setdefault(sid, event["ts"] - corrected[sid])
                else:
                    done.setdefault(sid, event)
            elif kind == "correction":
                corrected[event["segment_id"]] = event["ts"]
            elif kind == "lag":
                lag_events.append(event)
            elif kind == "state" and event["state"] == "idle" and "idle" not in out:
                out["idle"] = True
                # the second pass may still correct the last captions: listen a while more
                asyncio.get_running_loop().call_later(25.0, finish.set)
            if finish.is_set():
                break
    out.update(
        finals=finals,
        partials=partials,
        firsts=firsts,
        done=done,
        lags=lag_events,
        corrected=corrected,
        retranslated=retranslated,
    )


async def run_case(
    server: Server,
    wavs: list[Path],
    rooms_n: int,
    seconds: float,
    verbose: bool = False,
    translated: bool = True,
    lang: str = "zh",
    references: list[str] | None = None,
) -> dict:
    rooms = []
    for i in range(rooms_n):
        r = server.http.post(
            "/api/rooms",
            json={
                "name": f"room {i + 1} of {rooms_n}",
                "lang": lang,
                "targets": ([] if not translated else ["en"] if lang == "zh" else ["zh"]),
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
    stored: list[str] = []
    for out in outs:
        sessions = {f["seg"]["session_id"] for f in out["finals"].values()}
        texts = []
        for sid in sessions:
            got = server.http.get(f"/api/sessions/{sid}")
            got.raise_for_status()
            texts += [(seg["start"], seg["text"]) for seg in got.json()["segments"]]
        joiner = "" if lang == "zh" else " "
        stored.append(joiner.join(t for _, t in sorted(texts)))
    error = float("nan")
    if references is not None:
        error = (cer if lang == "zh" else wer)(references, stored)
    corrections = sum(len(o["corrected"]) for o in outs)
    retranslated = [lag for o in outs for lag in o["retranslated"].values()]
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
        "error": error,
        "corrections": corrections,
        "retranslated_p50": median(retranslated),
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
    parser.add_argument(
        "--cases",
        default="1q,1q-nosp,2q,1b",
        help="of 1q, 2q, 1b, 2b, en, each with -nosp and/or -norec",
    )
    parser.add_argument(
        "--english-cut",
        action="store_true",
        help="play only --seconds of the English talk (no WER then; all 7 min by default)",
    )
    parser.add_argument("--verbose", action="store_true", help="every final and lag report")
    parser.add_argument(
        "--costs", type=int, default=30, help="captions for the cost-per-caption table (0: none)"
    )
    args = parser.parse_args()
    if args.costs:
        Console(width=200).print(costs_table(args.costs))
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    for c in cases:
        case_of(c)

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
        "CER / WER stored",
        "corrected by 2nd pass",
        "retranslated after p50 s",
        "RSS MB",
        title=f"live rooms, {args.seconds:.0f} s of audio each, {os.cpu_count()} cores",
    )
    with tempfile.TemporaryDirectory() as tmp:
        # each room hears its own stretch of the file (its captions are not in the other's
        # cache), from a pause to a pause
        whole = load_audio(LONGFORM)
        talks: dict[str, list[tuple[Path, str]]] = {"zh": [], "en": []}
        for i, (start, end, reference) in enumerate(stretches(args.seconds, 2)):
            wav = Path(tmp) / f"talk{i}.wav"
            write_wav(wav, whole[int(start * 16000) : int(end * 16000)])
            talks["zh"].append((wav, reference))
        if any(case_of(c)[4] == "en" for c in cases):
            english, reference = english_talk()
            wav = Path(tmp) / "english.wav"
            write_wav(wav, english[: int(args.seconds * 16000)] if args.english_cut else english)
            talks["en"].append((wav, reference))
        warm = Path(tmp) / "warm.wav"
        write_wav(warm, whole[-10 * 16000 :])
        for case in cases:
            rooms_n, busy, translated, second_pass, lang, recorded = case_of(case)
            label = f"{rooms_n} room{'s' if rooms_n > 1 else ''}, " + (
                "one core busy" if busy else "quiet"
            )
            label += "" if translated else ", no translation"
            label += "" if second_pass else ", no second pass"
            label += ", en→zh" if lang == "en" else ""
            label += "" if recorded else ", not recorded"
            console.log(label)
            # a fresh server for each case: no translation is in its cache yet
            folder = Path(tmp) / f"{len(list(Path(tmp).glob('*')))}-{case}"
            folder.mkdir()
            server = Server(
                folder,
                {
                    "TINGSHUO_SECOND_PASS": str(second_pass).lower(),
                    "TINGSHUO_RECORD": str(recorded).lower(),
                },
            )
            played = talks[lang][:rooms_n]
            try:
                # load the models (recognizer, translators, voices) before anything is timed
                asyncio.run(run_case(server, [warm], 1, 10.0))
                other = hog() if busy else None
                try:
                    r = asyncio.run(
                        run_case(
                            server,
                            [w for w, _ in played],
                            rooms_n,
                            args.seconds,
                            args.verbose,
                            translated,
                            lang,
                            [ref for _, ref in played] if not args.english_cut else None,
                        )
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
                f"{100 * r['error']:.1f} %",
                str(r["corrections"]),
                f"{r['retranslated_p50']:.2f}",
                f"{r['rss']:.0f}",
            )
    Console(width=240).print(table)


if __name__ == "__main__":
    main()
