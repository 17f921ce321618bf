"""Spoken interpretation as a listener hears it: how soon, how far behind, how intelligible,
and what many listeners cost.

    python -m benchmarks.interpretation                 # the whole 7.2-minute recording
    python -m benchmarks.interpretation --seconds 90 --listeners 50

Starts `tingshuo serve` in a subprocess, makes a room that listens in Mandarin and
translates into English, and plays the two-speaker AISHELL long-form recording into it at
1×. A listener does what the phone page does with Listen on (`phone-listen.js`): each
complete English translation is queued; lines are fetched (`/api/rooms/{id}/speech/{id}`)
and played one after another, 1.3× while others wait; a line whose translation came more
than 5 s after its caption, or not begun 7 s after its caption, is skipped.

- **speech starts**: when the listener starts a line, minus when its phrase ended in the
  audio played (its `end` on the session clock): median and p95;
- **behind**: the largest such gap, counting a skipped line at the moment it was skipped;
- **WER**: tingshuo's own recognizer (English) on the MP3s the listener received, against
  the translation text;
- **listeners**: the same room again on the first `--load-seconds` seconds, with 0 and with
  `--listeners` extra listeners (each a WebSocket that fetches every line): server CPU
  seconds and peak memory.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import tempfile
import time
from pathlib import Path

import av
import httpx
import numpy as np
from rich.console import Console
from rich.table import Table
from websockets.asyncio.client import connect

from tingshuo.audio.decode import load_audio

from .common import median, p95
from .server_load import LONGFORM, Server, rss_mb, write_wav

console = Console(stderr=True)
FAST = 1.3
LATE_S = 5.0
DROP_S = 7.0


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Listener:
    """The phone's player (see the module doc), timing what it does."""

    def __init__(self, server: Server, room: dict, keep_audio: bool) -> None:
        self.server, self.room, self.keep_audio = server, room, keep_audio
        self.queue: asyncio.Queue[tuple[int, float, dict]] = asyncio.Queue()
        self.finals: dict[int, tuple[float, dict]] = {}  # id -> (arrived, segment)
        self.lines: list[dict] = []  # each heard or skipped line
        self.waiting = 0
        self.translated: list[float] = []  # each translation's arrival after its caption's

    async def events(self, started: asyncio.Event) -> None:
        url = (
            f"{self.server.ws}/ws/rooms/{self.room['id']}/events?token={self.room['viewer_token']}"
        )
        async with connect(url, max_queue=None, open_timeout=120) as ws:
            async for message in ws:
                m = json.loads(message)
                now = time.time()
                if m["type"] == "caught_up":
                    started.set()
                elif m["type"] == "final" and m["segment"]["id"]:
                    self.finals[m["segment"]["id"]] = (now, m["segment"])
                elif m["type"] == "translation" and m["lang"] == "en" and not m.get("partial"):
                    sid = m["segment_id"]
                    came, seg = self.finals.get(sid, (now, None))
                    if seg is None:
                        continue
                    self.translated.append(now - came)
                    if m.get("skipped") or now - came > LATE_S:
                        self.lines.append({"seg": seg, "skipped": now, "text": m["text"]})
                        continue
                    self.waiting += 1
                    await self.queue.put((sid, came, {"seg": seg, "text": m["text"]}))
                elif m["type"] == "state" and m["state"] == "idle":
                    break
        await self.queue.put((0, 0.0, {}))

    async def play(self, http: httpx.AsyncClient) -> None:
        free_at = 0.0  # when the line being played ends
        while True:
            sid, came, line = await self.queue.get()
            if not sid:
                return
            self.waiting -= 1
            await asyncio.sleep(max(0.0, free_at - time.time()))
            if time.time() - came > DROP_S:
                line["skipped"] = time.time()
                self.lines.append(line)
                continue
            r = await http.get(
                f"/api/rooms/{self.room['id']}/speech/{sid}",
                params={"lang": "en", "token": self.room["viewer_token"]},
            )
            if r.status_code != 200:
                line["skipped"] = time.time()
                self.lines.append(line)
                continue
            start = time.time()
            rate = FAST if self.waiting else 1.0
            line.update(started=start, rate=rate, mp3=r.content if self.keep_audio else b"")
            self.lines.append(line)
            free_at = start + float(r.headers["x-duration"]) / rate


async def listen(server: Server, room: dict, wav: Path, extra: int) -> dict:
    """Play the file into the room with one timed listener and `extra` others."""
    phones = [Listener(server, room, keep_audio=i == 0) for i in range(1 + extra)]
    starts = [asyncio.Event() for _ in phones]
    limits = httpx.Limits(max_connections=400)
    async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as http:
        tasks = [asyncio.create_task(p.events(s)) for p, s in zip(phones, starts, strict=True)]
        tasks += [asyncio.create_task(p.play(http)) for p in phones]
        await asyncio.gather(*(s.wait() for s in starts))
        for _ in phones:  # each phone says it listens, as Listen on does
            params = {"lang": "en", "token": room["viewer_token"]}
            (await http.post(f"/api/rooms/{room['id']}/listen", params=params)).raise_for_status()
        cpu0 = cpu_s(server.proc.pid)
        t0 = await asyncio.to_thread(server.play, room, wav)
        peak = rss_mb(server.proc.pid)
        while not all(t.done() for t in tasks):
            await asyncio.sleep(0.5)
            peak = max(peak, rss_mb(server.proc.pid))
        for t in tasks:
            t.result()
    return {"t0": t0, "lines": phones[0].lines, "cpu": cpu_s(server.proc.pid) - cpu0,
            "rss": peak, "translated": phones[0].translated}  # fmt: skip


def english_wer(lines: list[dict]) -> tuple[float, int]:
    from tingshuo.asr import load_recognizer
    from tingshuo.asr.base import Request
    from tingshuo.asr.scoring import wer
    from tingshuo.settings import Settings

    recognizer = load_recognizer(Settings())
    refs, hyps = [], []
    for line in lines:
        if not line.get("mp3"):
            continue
        with av.open(io.BytesIO(line["mp3"])) as f:
            resampler = av.AudioResampler(format="flt", layout="mono", rate=16000)
            chunks = [
                r.to_ndarray().reshape(-1)
                for fr in f.decode(audio=0)
                for r in resampler.resample(fr)
            ]
        audio = np.concatenate(chunks).astype(np.float32)
        refs.append(line["text"])
        hyps.append(recognizer.recognize(Request(audio, "en")).text)
    return wer(refs, hyps), len(refs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=0, help="audio played (0: all of it)")
    parser.add_argument("--listeners", type=int, default=200, help="extra listeners (0: none)")
    parser.add_argument("--load-seconds", type=float, default=60.0, help="audio for the load cases")
    args = parser.parse_args()
    whole = load_audio(LONGFORM)
    n = int(args.seconds * 16000) if args.seconds else whole.size
    with tempfile.TemporaryDirectory() as tmp:
        wav, warm, load = Path(tmp) / "talk.wav", Path(tmp) / "warm.wav", Path(tmp) / "load.wav"
        write_wav(wav, whole[:n])
        write_wav(warm, whole[-10 * 16000 :])
        write_wav(load, whole[-int(args.load_seconds * 16000) - 10 * 16000 : -10 * 16000])
        server = Server(Path(tmp))
        try:
            room = server.http.post(
                "/api/rooms", json={"name": "听译", "lang": "zh", "targets": ["en"]}
            ).json()
            console.log("warming up: the recognizer, the translators and the English voice")
            asyncio.run(listen(server, room, warm, 0))
            console.log(f"playing {n / 16000:.0f} s into a zh→en room, one listener")
            run = asyncio.run(listen(server, room, wav, 0))
            loads = []
            for extra in [0, args.listeners] if args.listeners else []:
                console.log(f"{args.load_seconds:.0f} s again with {extra} extra listeners")
                loads.append((extra, asyncio.run(listen(server, room, load, extra))))
        finally:
            server.close()
    t0 = run["t0"]
    heard = [x for x in run["lines"] if "started" in x]
    skipped = [x for x in run["lines"] if "skipped" in x]
    starts = [x["started"] - (t0 + x["seg"]["end"]) for x in heard]
    behind = starts + [x["skipped"] - (t0 + x["seg"]["end"]) for x in skipped]
    console.log("recognizing what the listener received")
    error, scored = english_wer(heard)

    table = Table("measure", "value", title=f"spoken interpretation zh→en, {n / 16000:.0f} s, "
                  f"{os.cpu_count()} cores")  # fmt: skip
    table.add_row("lines heard · skipped", f"{len(heard)} · {len(skipped)}")
    table.add_row(
        "translation after its caption, median · p95",
        f"{median(run['translated']):.2f} s · {p95(run['translated']):.2f} s",
    )
    table.add_row("phrase end → its English speech starts, median", f"{median(starts):.2f} s")
    table.add_row("… p95", f"{p95(starts):.2f} s")
    table.add_row("most behind (skipped lines counted)", f"{max(behind, default=0):.2f} s")
    table.add_row("lines spoken at 1.3×", str(sum(x["rate"] > 1 for x in heard)))
    table.add_row(f"WER of the received English ({scored} lines)", f"{100 * error:.1f} %")
    for extra, r in loads:
        table.add_row(
            f"{extra} extra listeners: server CPU · peak RSS",
            f"{r['cpu']:.1f} s per {args.load_seconds:.0f} s · {r['rss']:.0f} MB",
        )
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
