"""Live server load: many viewers on one room, and how many rooms run in real time.

    python -m benchmarks.server_load                          # 1, 100, 1000 viewers; 1..6 rooms
    python -m benchmarks.server_load --viewers 1,1000 --seconds 30 --max-rooms 4

Starts `tingshuo serve` in a subprocess (a private database and token), plays the two-speaker
AISHELL long-form recording into rooms as live (1×, `start/file`), and measures:

- **delivery**: N viewer WebSockets on one room (all in this process, asyncio). The added
  latency of an event is its arrival time at a viewer minus the server's publish time (`ts`
  in every event; same clock, same machine), over every event × viewer. It includes this
  process's own scheduling of N sockets, so it is an upper bound.
- **memory**: the server's RSS before the viewers connect and while they are connected.
- **rooms in real time**: K rooms listen at once to the same recording; for each final, its
  lag is publish time minus the moment its last word was played; a room keeps real time when
  the last final of the recording is out within `--realtime-lag` seconds of its end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table
from websockets.asyncio.client import connect

from tingshuo.audio.decode import load_audio

from .common import DATA, median, p95

LONGFORM = DATA / "aishell-asr0009-sample-2spk" / "longform" / "longform_2spk.flac"
TOKEN = "benchmark-organizer"
console = Console(stderr=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Server:
    def __init__(self, folder: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws = f"ws://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "TINGSHUO_DATABASE_URL": f"sqlite:///{folder / 'bench.db'}",
            "TINGSHUO_MAX_VIEWERS_PER_ROOM": "5000",
            "TINGSHUO_MAX_VIEWERS_PER_ADDRESS": "0",  # every viewer here comes from one address
            "TINGSHUO_MAX_VIEWERS_PER_LINK": "0",
            "TINGSHUO_MAX_LIVE_ROOMS": "32",
            "OMP_WAIT_POLICY": "PASSIVE",
            **(env or {}),
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tingshuo"]
            + (["-v"] if os.environ.get("BENCH_SERVER_LOG") else [])
            + ["serve", "--port", str(self.port), "--token", TOKEN],
            env=env,
            stdout=subprocess.DEVNULL,
            # the server's log, where BENCH_SERVER_LOG names a file
            stderr=open(os.environ.get("BENCH_SERVER_LOG", os.devnull), "ab"),  # noqa: SIM115
        )
        self.http = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
        )
        deadline = time.monotonic() + 180
        while True:
            try:
                if self.http.get("/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise SystemExit("the server did not start")
            time.sleep(0.3)

    def room(self, name: str) -> dict:
        r = self.http.post("/api/rooms", json={"name": name, "lang": "zh"})
        r.raise_for_status()
        return r.json()

    def play(self, room: dict, wav: Path) -> float:
        with wav.open("rb") as f:
            r = self.http.post(
                f"/api/rooms/{room['id']}/start/file",
                files={"file": ("talk.wav", f, "audio/wav")},
                data={"speed": "1"},
            )
        r.raise_for_status()
        return time.time()

    def close(self) -> None:
        self.http.close()
        self.proc.terminate()
        self.proc.wait(30)


def write_wav(path: Path, audio: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())


async def viewer(url: str, ready: asyncio.Event, out: dict[str, list[float]]) -> None:
    """One phone: records how long each live event took from publish to here."""
    async with connect(url, max_queue=None, open_timeout=120) as ws:
        async for message in ws:
            now = time.time()
            event = json.loads(message)
            kind = event["type"]
            if kind == "caught_up":
                ready.set()
            elif "ts" in event and kind in ("partial", "final"):
                out[kind].append(now - event["ts"])
            if kind == "state" and event["state"] == "idle":
                return


async def delivery(server: Server, wav: Path, n: int) -> dict:
    room = server.room(f"{n} viewers")
    url = f"{server.ws}/ws/rooms/{room['id']}/events?token={room['viewer_token']}"
    base_rss = rss_mb(server.proc.pid)
    out: dict[str, list[float]] = {"partial": [], "final": []}
    readies = [asyncio.Event() for _ in range(n)]
    tasks = []
    for i in range(n):
        tasks.append(asyncio.create_task(viewer(url, readies[i], out)))
        if i % 50 == 49:
            await asyncio.sleep(0.05)  # do not open a thousand handshakes in one burst
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 300)
    connected_rss = rss_mb(server.proc.pid)
    await asyncio.to_thread(server.play, room, wav)
    peak = connected_rss
    while not all(t.done() for t in tasks):
        await asyncio.sleep(1)
        peak = max(peak, rss_mb(server.proc.pid))
    for t in tasks:
        t.result()
    both = out["partial"] + out["final"]
    return {
        "viewers": n,
        "events": len(both) // max(n, 1),
        "p50": median(both) * 1000,
        "p95": p95(both) * 1000,
        "final_p95": p95(out["final"]) * 1000,
        "rss_before": base_rss,
        "rss_peak": peak,
    }


async def rooms_at_once(server: Server, wav: Path, k: int, seconds: float) -> dict:
    rooms = [server.room(f"room {i} of {k}") for i in range(k)]
    results: list[dict] = [{} for _ in rooms]

    async def watch(i: int, room: dict, started: asyncio.Event) -> None:
        url = f"{server.ws}/ws/rooms/{room['id']}/events?token={room['viewer_token']}"
        lags, last = [], 0.0
        async with connect(url, max_queue=None) as ws:
            async for message in ws:
                event = json.loads(message)
                if event["type"] == "caught_up":
                    started.set()
                elif event["type"] == "final":
                    lag = event["ts"] - (results[i]["t0"] + event["segment"]["end"])
                    lags.append(lag)
                    last = event["ts"]
                elif event["type"] == "state" and event["state"] == "idle":
                    break
        results[i].update(lags=lags, end_lag=last - (results[i]["t0"] + seconds))

    starts = [asyncio.Event() for _ in rooms]
    watchers = [asyncio.create_task(watch(i, r, starts[i])) for i, r in enumerate(rooms)]
    await asyncio.gather(*(s.wait() for s in starts))
    for i, room in enumerate(rooms):
        # the file's clock starts once the upload is in
        results[i]["t0"] = await asyncio.to_thread(server.play, room, wav)
    await asyncio.gather(*watchers)
    lags = [x for r in results for x in r["lags"]]
    end = max(r["end_lag"] for r in results)
    return {"rooms": k, "finals": len(lags), "p50": median(lags), "p95": p95(lags), "end": end}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--viewers", default="1,100,1000", help="viewer counts to try")
    parser.add_argument("--seconds", type=float, default=45.0, help="audio played per trial")
    parser.add_argument("--max-rooms", type=int, default=6)
    parser.add_argument("--realtime-lag", type=float, default=3.0, help="seconds allowed")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # a thousand sockets

    audio = load_audio(LONGFORM)[: int(args.seconds * 16000)]
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "talk.wav"
        write_wav(wav, audio)
        warm = Path(tmp) / "warm.wav"
        write_wav(warm, audio[: 8 * 16000])
        server = Server(Path(tmp))
        try:
            # the first decodes allocate the model's buffers: measure memory after them
            asyncio.run(rooms_at_once(server, warm, 1, 8.0))
            table = Table(
                "viewers",
                "events each",
                "added latency p50 ms",
                "p95 ms",
                "finals p95 ms",
                "server RSS before MB",
                "with viewers MB",
                title="one room, N viewers",
            )
            for n in [int(x) for x in args.viewers.split(",")]:
                console.log(f"{n} viewers, {args.seconds:.0f} s of audio")
                r = asyncio.run(delivery(server, wav, n))
                table.add_row(
                    str(n),
                    str(r["events"]),
                    f"{r['p50']:.1f}",
                    f"{r['p95']:.1f}",
                    f"{r['final_p95']:.1f}",
                    f"{r['rss_before']:.0f}",
                    f"{r['rss_peak']:.0f}",
                )
            rooms = Table(
                "rooms",
                "finals",
                "final lag p50 s",
                "p95 s",
                "last final after end s",
                "real time",
                title=f"rooms listening at once ({os.cpu_count()} cores)",
            )
            for k in range(1, args.max_rooms + 1):
                console.log(f"{k} rooms at once")
                r = asyncio.run(rooms_at_once(server, wav, k, args.seconds))
                ok = r["end"] <= args.realtime_lag
                rooms.add_row(
                    str(k),
                    str(r["finals"]),
                    f"{r['p50']:.2f}",
                    f"{r['p95']:.2f}",
                    f"{r['end']:.2f}",
                    "yes" if ok else "no",
                )
                if not ok:
                    break
        finally:
            server.close()
    out = Console()
    out.print(table)
    out.print(rooms)


if __name__ == "__main__":
    main()
