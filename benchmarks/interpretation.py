"""Spoken interpretation as a listener hears it: how soon, how far behind, how intelligible,
and what many listeners cost.

    python -m benchmarks.interpretation                 # the whole 7.2-minute recording
    python -m benchmarks.interpretation --seconds 90 --listeners 50

Starts `tingshuo serve` in a subprocess, makes a room that listens in Mandarin and
translates into English, and plays the two-speaker AISHELL long-form recording into it at
1×. A listener does what the phone page does with Listen on (`phone-listen.js`): each
caption is queued as it comes; its pieces are asked for in order
(`/api/rooms/{id}/speech/{id}?part=k&wait=…`: the first words are cut while the translation
is still being written) and played one after another (the voice speaks at 1.1×), 1.2× faster
again when the line started more than 3 s after its caption or others wait; a line whose
translation has not begun 5 s after its caption is skipped, and so is the rest of a line
once 7 s have passed since its caption.

- **speech starts**: when the listener starts a line's first piece, minus when its phrase
  ended in the audio played (its `end` on the session clock): median and p95;
- **behind**: the same gap at every piece started and at every line skipped (the moment
  the listener gave up on it); its largest value;
- **WER**: tingshuo's own recognizer (English) on the MP3 pieces the listener received for
  each line heard whole, against the line's complete translation;
- **listeners**: the same room again on the first `--load-seconds` seconds, with 0 and with
  `--listeners` extra listeners (each a WebSocket that fetches every piece): server CPU
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
FAST = 1.2  # the phone's playback rate on top of the voice's pace (1.1×)
FASTER_AFTER_S = 3.0
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
        self.lines: list[dict] = []  # each line heard (in part) or skipped
        self.texts: dict[int, str] = {}  # caption id -> its complete translation
        self.translated: list[float] = []  # each translation's arrival after its caption's
        self.first_words: list[float] = []  # its first draft's arrival after its caption's
        self.came: dict[int, float] = {}
        self.drafts: dict[int, list] = {}  # caption id -> (after its caption, partial, text)
        self.http: httpx.AsyncClient | None = None

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
                elif m["type"] == "final" and m["segment"]["id"] and not m.get("replay"):
                    sid = m["segment"]["id"]
                    self.came[sid] = now
                    line = {"seg": m["segment"], "pieces": []}
                    # its first piece is asked for at once (the server waits until it is cut)
                    line["coming"] = asyncio.ensure_future(self.first(sid, now, line))
                    await self.queue.put((sid, now, line))
                elif m["type"] == "translation" and m["lang"] == "en":
                    sid = m["segment_id"]
                    if sid not in self.came:
                        continue
                    self.drafts.setdefault(sid, []).append(
                        (round(now - self.came[sid], 3), m.get("partial", False), m["text"])
                    )
                    if m.get("partial"):
                        if sid not in self.texts and len(self.first_words) < len(self.came):
                            self.texts[sid] = ""
                            self.first_words.append(now - self.came[sid])
                    elif not m.get("skipped"):
                        self.translated.append(now - self.came[sid])
                        self.texts[sid] = m["text"]
                elif m["type"] == "state" and m["state"] == "idle":
                    break
        await self.queue.put((0, 0.0, {}))

    async def piece(
        self, http: httpx.AsyncClient, sid: int, part: int, wait: float
    ) -> httpx.Response:
        return await http.get(
            f"/api/rooms/{self.room['id']}/speech/{sid}",
            params={"lang": "en", "token": self.room["viewer_token"], "part": part,
                    "wait": f"{wait:.1f}"},
        )  # fmt: skip

    async def first(self, sid: int, came: float, line: dict) -> httpx.Response:
        r = await self.piece(self.http, sid, 0, max(0.0, came + LATE_S - time.time()))
        if r.status_code == 200:
            line["ready"] = time.time()
        return r

    async def play(self, http: httpx.AsyncClient) -> None:
        while True:
            sid, came, line = await self.queue.get()
            if not sid:
                return
            self.lines.append(line)
            coming = line.pop("coming")
            if time.time() - came > DROP_S:
                line["skipped"] = time.time()
                coming.cancel()
                continue
            part = 0
            while True:
                r = await coming
                now = time.time()
                if r.status_code != 200 or now - came > DROP_S:
                    if part == 0:
                        line["skipped"] = now
                    elif r.status_code == 200:
                        line["cut"] = True  # the rest of it dropped to keep up
                    break
                part += 1
                coming = asyncio.ensure_future(self.piece(http, sid, part, DROP_S))
                rate = FAST if not self.queue.empty() or now - came > FASTER_AFTER_S else 1.0
                line["pieces"].append({"started": now, "rate": rate,
                                       "mp3": r.content if self.keep_audio else b""})  # fmt: skip
                await asyncio.sleep(float(r.headers["x-duration"]) / rate)


async def listen(server: Server, room: dict, wav: Path, extra: int) -> dict:
    """Play the file into the room with one timed listener and `extra` others."""
    phones = [Listener(server, room, keep_audio=i == 0) for i in range(1 + extra)]
    starts = [asyncio.Event() for _ in phones]
    limits = httpx.Limits(max_connections=400)
    async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as http:
        tasks = [asyncio.create_task(p.events(s)) for p, s in zip(phones, starts, strict=True)]
        for p in phones:
            p.http = http
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
            "rss": peak, "translated": phones[0].translated,
            "first_words": phones[0].first_words, "texts": phones[0].texts,
            "drafts": phones[0].drafts, "came": phones[0].came}  # fmt: skip


def decode_mp3(data: bytes) -> np.ndarray:
    with av.open(io.BytesIO(data)) as f:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=16000)
        chunks = [r.to_ndarray().reshape(-1) for fr in f.decode(audio=0)
                  for r in resampler.resample(fr)]  # fmt: skip
    return np.concatenate(chunks).astype(np.float32)


def english_wer(lines: list[dict], texts: dict[int, str], save: Path | None) -> tuple[float, int]:
    """Each line heard whole: its pieces as received, recognized as one, against its complete
    translation."""
    from tingshuo.asr import load_recognizer
    from tingshuo.asr.base import Request
    from tingshuo.asr.scoring import wer
    from tingshuo.settings import Settings

    recognizer = load_recognizer(Settings())
    refs, hyps, kept = [], [], []
    for line in lines:
        sid = line["seg"]["id"]
        if line.get("cut") or not texts.get(sid) or not line["pieces"]:
            continue
        audio = np.concatenate([decode_mp3(x["mp3"]) for x in line["pieces"]])
        refs.append(texts[sid])
        hyps.append(recognizer.recognize(Request(audio, "en")).text)
        kept.append({"id": sid, "zh": line["seg"]["text"], "en": refs[-1], "heard": hyps[-1],
                     "wer": wer([refs[-1]], [hyps[-1]]),
                     "pieces": len(line["pieces"])})  # fmt: skip
        if save is not None:
            write_wav(save / f"{sid}.wav", audio)
    if save is not None:
        (save / "heard.json").write_text(json.dumps(kept, ensure_ascii=False, indent=1))
    return wer(refs, hyps), len(refs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=0, help="audio played (0: all of it)")
    parser.add_argument("--listeners", type=int, default=200, help="extra listeners (0: none)")
    parser.add_argument("--load-seconds", type=float, default=60.0, help="audio for the load cases")
    parser.add_argument(
        "--save", type=Path, help="a folder for each line heard (wav) and lines.json"
    )
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
    heard = [x for x in run["lines"] if x["pieces"]]
    skipped = [x for x in run["lines"] if "skipped" in x]
    starts = [x["pieces"][0]["started"] - (t0 + x["seg"]["end"]) for x in heard]
    # how far behind the speaker the listener is at each piece it starts, and at each skip
    behind = [p["started"] - (t0 + x["seg"]["end"]) for x in heard for p in x["pieces"]]
    behind += [x["skipped"] - (t0 + x["seg"]["end"]) for x in skipped]
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
    if args.save:  # every line's timeline, for looking into where the time goes
        timeline = [{"seg": x["seg"], "ready": x.get("ready"), "skipped": x.get("skipped"),
                     "came": run["came"].get(x["seg"]["id"]),
                     "pieces": [{k: v for k, v in p.items() if k != "mp3"} for p in x["pieces"]],
                     "drafts": run["drafts"].get(x["seg"]["id"], [])}
                    for x in run["lines"]]  # fmt: skip
        saved = {"t0": t0, "lines": timeline}
        (args.save / "lines.json").write_text(json.dumps(saved, ensure_ascii=False, indent=1))
    console.log("recognizing what the listener received")
    error, scored = english_wer(heard, run["texts"], args.save)
    pieces = [p for x in heard for p in x["pieces"]]

    table = Table("measure", "value", title=f"spoken interpretation zh→en, {n / 16000:.0f} s, "
                  f"{os.cpu_count()} cores")  # fmt: skip
    table.add_row("lines heard · skipped · cut short", f"{len(heard)} · {len(skipped)} · "
                  f"{sum(bool(x.get('cut')) for x in heard)}")  # fmt: skip
    table.add_row("pieces per line heard, mean", f"{len(pieces) / max(len(heard), 1):.2f}")
    table.add_row(
        "translation's first words after its caption, median · p95",
        f"{median(run['first_words']):.2f} s · {p95(run['first_words']):.2f} s",
    )
    table.add_row(
        "complete translation after its caption, median · p95",
        f"{median(run['translated']):.2f} s · {p95(run['translated']):.2f} s",
    )
    ready = [x["ready"] - (t0 + x["seg"]["end"]) for x in run["lines"] if "ready" in x]
    table.add_row(
        "phrase end → its first piece is ready, median · p95",
        f"{median(ready):.2f} s · {p95(ready):.2f} s",
    )
    table.add_row("phrase end → its English speech starts, median", f"{median(starts):.2f} s")
    table.add_row("… p95", f"{p95(starts):.2f} s")
    table.add_row("behind the speaker at each piece or skip, p95", f"{p95(behind):.2f} s")
    table.add_row("most behind (skipped lines counted)", f"{max(behind, default=0):.2f} s")
    faster = sum(p["rate"] > 1 for p in pieces)
    table.add_row("pieces played 1.2× faster", f"{faster} of {len(pieces)}")
    table.add_row(f"WER of the received English ({scored} whole lines)", f"{100 * error:.1f} %")
    for extra, r in loads:
        table.add_row(
            f"{extra} extra listeners: server CPU · peak RSS",
            f"{r['cpu']:.1f} s per {args.load_seconds:.0f} s · {r['rss']:.0f} MB",
        )
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
