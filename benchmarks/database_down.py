"""The database away for 30 s in the middle of a live room (issue 12, items 4 and 5).

    python -m benchmarks.database_down                    # SQLite, then PostgreSQL if set
    python -m benchmarks.database_down --db sqlite --seconds 90 --outage 30

Starts `tingshuo serve` in a subprocess, plays the first `--seconds` of the two-speaker
AISHELL long-form recording into a room at 1× while a viewer watches, and `--outage-at`
seconds in takes the database away for `--outage` seconds:

- **sqlite**: another program holds the file's write lock (`BEGIN EXCLUSIVE`);
- **postgresql**: the cluster is stopped (`pg_ctlcluster … stop -m fast`) and started again;
  needs `TINGSHUO_TEST_POSTGRES_URL` (as CI sets it) and the right to run `pg_ctlcluster`.

Reported: captions the viewer saw (in all, and while the database was away), captions a
second viewer who joined during the outage was given on catch-up, how many of the shown
captions the store holds afterwards (the floor: all of them), final lag (publish time minus
the moment the phrase's last word was played) during and outside the outage, and server RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console
from rich.table import Table
from websockets.asyncio.client import connect

from tingshuo.audio.decode import load_audio

from .common import median, p95
from .server_load import LONGFORM, Server, rss_mb, write_wav

console = Console(stderr=True)


@contextlib.contextmanager
def sqlite_locked(db: Path) -> Iterator[None]:
    other = sqlite3.connect(db, timeout=30)
    other.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        other.close()


@contextlib.contextmanager
def postgres_stopped() -> Iterator[None]:
    version, name = subprocess.run(
        ["pg_lsclusters", "-h"], capture_output=True, text=True, check=True
    ).stdout.split()[:2]
    subprocess.run(["pg_ctlcluster", version, name, "stop", "-m", "fast"], check=True)
    try:
        yield
    finally:
        subprocess.run(["pg_ctlcluster", version, name, "start"], check=True)


async def catch_up(url: str) -> int:
    async with connect(url, open_timeout=60) as ws:
        n = 0
        async for message in ws:
            event = json.loads(message)
            if event["type"] == "final":
                n += 1
            if event["type"] == "caught_up":
                return n
    return n


async def trial(server: Server, wav: Path, outage, at: float, length: float) -> dict:
    room = server.room("database away")
    url = f"{server.ws}/ws/rooms/{room['id']}/events?token={room['viewer_token']}"
    finals: list[dict] = []
    notices: list[dict] = []
    window: list[float] = [float("inf"), float("inf")]
    ready = asyncio.Event()
    base_rss = rss_mb(server.proc.pid)
    peak = [base_rss]

    async def watch() -> None:
        async with connect(url, max_queue=None, open_timeout=60) as ws:
            async for message in ws:
                event = json.loads(message)
                if event["type"] == "caught_up":
                    ready.set()
                elif event["type"] == "final":
                    finals.append({**event["segment"], "ts": event["ts"]})
                elif event["type"] == "store":
                    notices.append(event)
                elif event["type"] == "state" and event["state"] == "idle":
                    return

    watcher = asyncio.create_task(watch())
    await ready.wait()
    t0 = await asyncio.to_thread(server.play, room, wav)
    await asyncio.sleep(max(0.0, t0 + at - time.time()))
    joined = 0
    with outage():
        window[0] = time.time()
        await asyncio.sleep(length / 2)
        shown_then = len(finals)
        joined = await catch_up(url)
        while time.time() < window[0] + length:
            peak[0] = max(peak[0], rss_mb(server.proc.pid))
            await asyncio.sleep(0.5)
        window[1] = time.time()
    while not watcher.done():
        peak[0] = max(peak[0], rss_mb(server.proc.pid))
        await asyncio.sleep(0.5)
    watcher.result()
    # give the writer its last retry, then compare the store with what was shown
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        health = server.http.get("/health").json()
        if health["store_waiting"] == 0:
            break
        await asyncio.sleep(0.5)
    stored = server.http.get(f"/api/rooms/{room['id']}/segments").json()
    kept = {(s["id"], s["text"]) for s in stored}
    shown = [(s["id"], s["text"]) for s in finals]

    def lag(s: dict) -> float:
        return s["ts"] - (t0 + s["end"])

    during = [lag(s) for s in finals if window[0] <= s["ts"] <= window[1] + 2]
    outside = [lag(s) for s in finals if not window[0] <= s["ts"] <= window[1] + 2]
    return {
        "shown": len(shown),
        "during": len(during),
        "joined": f"{joined}/{shown_then}",
        "missing": sum(1 for s in shown if s not in kept),
        "unshown": len(kept - set(shown)),
        "told": any(not n["saving"] for n in notices) and bool(notices) and notices[-1]["saving"],
        "lag_during": f"{median(during):.2f} / {p95(during):.2f}",
        "lag_outside": f"{median(outside):.2f} / {p95(outside):.2f}",
        "rss": f"{base_rss:.0f} → {peak[0]:.0f}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--seconds", type=float, default=90.0)
    parser.add_argument("--outage-at", type=float, default=20.0)
    parser.add_argument("--outage", type=float, default=30.0)
    args = parser.parse_args()
    table = Table(title=f"database away for {args.outage:.0f} s in a {args.seconds:.0f} s room")
    for column in (
        "database",
        "captions shown",
        "while away",
        "late joiner caught up",
        "shown, not stored",
        "stored, not shown",
        "viewers told",
        "final lag away (median / p95 s)",
        "final lag otherwise",
        "server RSS MB",
    ):
        table.add_column(column)
    audio = load_audio(LONGFORM)[: int(args.seconds * 16000)]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        wav = folder / "talk.wav"
        write_wav(wav, audio)
        for db in args.db.split(","):
            if db == "sqlite":
                path = folder / "bench.db"
                env = {"TINGSHUO_DATABASE_URL": f"sqlite:///{path}"}
                outage = lambda path=path: sqlite_locked(path)  # noqa: E731
            else:
                url = os.environ.get("TINGSHUO_TEST_POSTGRES_URL")
                if not url:
                    console.print("postgresql skipped: set TINGSHUO_TEST_POSTGRES_URL")
                    continue
                env, outage = {"TINGSHUO_DATABASE_URL": url}, postgres_stopped
            server = Server(folder, env)
            try:
                console.print(f"{db}: playing {args.seconds:.0f} s …")
                r = asyncio.run(trial(server, wav, outage, args.outage_at, args.outage))
            finally:
                server.close()
            table.add_row(db, *(str(v) for v in r.values()))
    Console().print(table)


if __name__ == "__main__":
    main()
