"""Distributed mode (issue 13): rooms per worker, viewers through Redis, failover.

    python -m benchmarks.cluster                         # about 12 minutes
    python -m benchmarks.cluster --parts viewers,failover --kills 5

Needs Debian's redis-server and a PostgreSQL URL (`--database-url`, default
$TINGSHUO_TEST_POSTGRES_URL). Starts redis-server, gateways (`tingshuo serve` with
TINGSHUO_BUS_URL) and workers (`tingshuo worker`) as subprocesses on loopback and plays the
two-speaker AISHELL long-form recording into rooms at 1× (`start/file`):

- **rooms**: K rooms at once with 1 and with 2 worker processes (each `--rooms 4`); final lag
  is publish time minus the moment the phrase's last word was played; a room keeps real time
  when its last final is out within 3 s of the recording's end;
- **viewers**: 1,000 viewer WebSockets on one room, half on each of 2 gateways (a client
  process per gateway); delivery latency is arrival minus the event's publish time (`ts`,
  stamped by the publishing worker), over every event × viewer; beside it the same 1,000 on
  one `tingshuo serve` without Redis (in one client process, as `benchmarks.server_load`);
- **failover**: one room, 2 workers; `--kills` times, 12 s apart, the worker that holds the
  room is killed (kill -9) and a new one started; the time from each kill to the next final a
  viewer gets, and afterwards whether the stored session lost or repeated anything, against a
  run without kills (every caption of that run has one overlapping stored caption, and no two
  stored captions overlap in time).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from websockets.asyncio.client import connect

from tingshuo.audio.decode import load_audio

from .common import median, p95
from .server_load import LONGFORM, Server, free_port, rooms_at_once, write_wav

console = Console(stderr=True)


class Worker:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tingshuo", "-v", "worker", "--rooms", "4"],
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=log.open("ab"),
        )

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


class Cluster:
    def __init__(self, folder: Path, database_url: str, workers: int, gateways: int) -> None:
        self.folder = folder
        port = free_port()
        self.redis = subprocess.Popen(
            ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        self.env = {
            "TINGSHUO_DATABASE_URL": database_url,
            "TINGSHUO_BUS_URL": f"redis://127.0.0.1:{port}/0",
        }
        self.port = port
        self.workers = [Worker(self.env, folder / f"worker{i}.log") for i in range(workers)]
        self.gateways = [Server(folder, self.env) for _ in range(gateways)]
        self.wait_for_workers(workers)

    def wait_for_workers(self, n: int, timeout: float = 180) -> None:
        """Until `n` workers say they are ready (their logs)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready = sum(
                "ready for" in p.read_text(errors="replace")
                for p in self.folder.glob("worker*.log")
            )
            if ready >= n:
                return
            time.sleep(0.5)
        raise SystemExit("the workers did not start")

    def holder(self, room_id: str) -> Worker:
        import redis

        value = redis.Redis(port=self.port).get(f"tingshuo:room:{room_id}:lease")
        held = value.decode() if value else ""
        return next(w for w in self.workers if f"-{w.proc.pid}-" in held)

    def close(self) -> None:
        for g in self.gateways:
            g.close()
        for w in self.workers:
            w.stop()
        self.redis.terminate()
        self.redis.wait(10)


def _viewer_process(urls: list[str], ready, go, results) -> None:
    """One client process: its viewers connect, say ready, and report latencies at the end
    (phones are separate devices: one process per gateway keeps the client's own scheduling
    of a thousand sockets out of the figure as far as two cores allow)."""

    async def run() -> list[tuple[str, float]]:
        got: list[tuple[str, float]] = []
        readies = [asyncio.Event() for _ in urls]

        async def viewer(url: str, ready_one: asyncio.Event) -> None:
            async with connect(url, max_queue=None, open_timeout=120) as ws:
                async for message in ws:
                    now = time.time()
                    event = json.loads(message)
                    if event["type"] == "caught_up":
                        ready_one.set()
                    elif event["type"] in ("partial", "final") and "ts" in event:
                        got.append((event["type"], now - event["ts"]))
                    if event["type"] == "state" and event["state"] == "idle":
                        return

        tasks = []
        for i, url in enumerate(urls):
            tasks.append(asyncio.create_task(viewer(url, readies[i])))
            if i % 50 == 49:
                await asyncio.sleep(0.05)
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 300)
        ready.set()
        await asyncio.gather(*tasks)
        return got

    results.put(asyncio.run(run()))


async def viewers_on(gateways: list[Server], wav: Path, n: int) -> dict:
    """n viewers spread over the gateways, one client process per gateway."""
    import multiprocessing as mp

    room = gateways[0].room(f"{n} viewers")
    per: list[list[str]] = [[] for _ in gateways]
    for i in range(n):
        g = gateways[i % len(gateways)]
        per[i % len(gateways)].append(
            f"{g.ws}/ws/rooms/{room['id']}/events?token={room['viewer_token']}"
        )
    ctx = mp.get_context("fork")
    results = ctx.Queue()
    readies = [ctx.Event() for _ in per]
    procs = [
        ctx.Process(target=_viewer_process, args=(urls, readies[i], None, results))
        for i, urls in enumerate(per)
    ]
    for proc in procs:
        proc.start()
    for ready in readies:
        await asyncio.to_thread(ready.wait, 300)
    await asyncio.to_thread(gateways[0].play, room, wav)
    got = [x for _ in procs for x in await asyncio.to_thread(results.get, True, 600)]
    for proc in procs:
        proc.join(30)
    lat = [t for _, t in got]
    finals = [t for kind, t in got if kind == "final"]
    return {"events": len(lat) // max(n, 1), "p50": median(lat) * 1000,
            "p95": p95(lat) * 1000, "final_p95": p95(finals) * 1000}  # fmt: skip


async def watch(gateway: Server, room: dict, out: list[dict]) -> None:
    url = f"{gateway.ws}/ws/rooms/{room['id']}/events?token={room['viewer_token']}"
    async with connect(url, max_queue=None, open_timeout=60) as ws:
        async for message in ws:
            event = json.loads(message)
            out.append({**event, "_at": time.monotonic()})
            if event["type"] == "state" and event["state"] == "idle" and "status" in event:
                return


async def failover(cluster: Cluster, wav: Path, kills: int, every: float) -> dict:
    gateway = cluster.gateways[0]
    # a run without kills: what the stored session should hold
    ref_room = gateway.room("reference")
    ref_events: list[dict] = []
    watcher = asyncio.create_task(watch(gateway, ref_room, ref_events))
    await asyncio.sleep(1)
    await asyncio.to_thread(gateway.play, ref_room, wav)
    await watcher
    reference = gateway.http.get(f"/api/rooms/{ref_room['id']}/segments").json()

    room = gateway.room("failover")
    events: list[dict] = []
    watcher = asyncio.create_task(watch(cluster.gateways[-1], room, events))
    await asyncio.sleep(1)
    await asyncio.to_thread(gateway.play, room, wav)
    gaps = []
    for i in range(kills):
        await asyncio.sleep(every)
        if watcher.done():
            break
        victim = await asyncio.to_thread(cluster.holder, room["id"])
        victim.kill()
        killed = time.monotonic()
        cluster.workers.remove(victim)
        cluster.workers.append(Worker(cluster.env, cluster.folder / f"worker-r{i}.log"))
        while not watcher.done():
            if any(e["type"] == "final" and e["_at"] > killed for e in events):
                break
            await asyncio.sleep(0.05)
        later = [e["_at"] for e in events if e["type"] == "final" and e["_at"] > killed]
        gaps.append(later[0] - killed if later else float("nan"))
        console.log(f"kill {i + 1}: next final after {gaps[-1]:.1f} s")
        await asyncio.to_thread(cluster.wait_for_workers, len(cluster.workers) + i + 1)
    await watcher
    stored = gateway.http.get(f"/api/rooms/{room['id']}/segments").json()

    def overlap(a: dict, b: dict) -> bool:
        return min(a["end"], b["end"]) - max(a["start"], b["start"]) > 0.2

    lost = sum(1 for r in reference if not any(overlap(r, s) for s in stored))
    repeated = sum(1 for a, b in zip(stored, stored[1:], strict=False) if overlap(a, b))
    ids = [s["id"] for s in stored]
    return {
        "kills": len(gaps),
        "gaps": gaps,
        "reference": len(reference),
        "stored": len(stored),
        "lost": lost,
        "repeated": repeated + (len(ids) - len(set(ids))),
    }


def latency_row(n: int, r: dict) -> list[str]:
    return [str(n), str(r["events"]), f"{r['p50']:.1f}", f"{r['p95']:.1f}", f"{r['final_p95']:.1f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", default="rooms,viewers,failover")
    parser.add_argument("--database-url", default=os.environ.get("TINGSHUO_TEST_POSTGRES_URL"))
    parser.add_argument("--seconds", type=float, default=45.0)
    parser.add_argument("--max-rooms", type=int, default=4)
    parser.add_argument("--viewers", type=int, default=1000)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--every", type=float, default=12.0, help="seconds between kills")
    args = parser.parse_args()
    if not args.database_url:
        raise SystemExit("a PostgreSQL URL is needed: --database-url or TINGSHUO_TEST_POSTGRES_URL")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    parts = args.parts.split(",")
    full = load_audio(LONGFORM)
    out = Console()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        wav = folder / "talk.wav"
        write_wav(wav, full[: int(args.seconds * 16000)])
        if "rooms" in parts:
            table = Table("workers", "rooms", "final lag p50 s", "p95 s",
                          "last final after end s", "real time",
                          title="rooms in real time, workers on this machine")  # fmt: skip
            for workers in (1, 2):
                cluster = Cluster(folder, args.database_url, workers, 1)
                try:
                    for k in range(1, args.max_rooms + 1):
                        console.log(f"{workers} worker(s), {k} room(s)")
                        r = asyncio.run(rooms_at_once(cluster.gateways[0], wav, k, args.seconds))
                        ok = r["end"] <= 3.0
                        table.add_row(str(workers), str(k), f"{r['p50']:.2f}", f"{r['p95']:.2f}",
                                      f"{r['end']:.2f}", "yes" if ok else "no")  # fmt: skip
                        if not ok:
                            break
                finally:
                    cluster.close()
                for log in folder.glob("worker*.log"):
                    log.unlink()
            out.print(table)
        if "viewers" in parts:
            table = Table("bus", "viewers", "events each", "latency p50 ms", "p95 ms",
                          "finals p95 ms", title="viewers on one room")  # fmt: skip
            cluster = Cluster(folder, args.database_url, 1, 2)
            try:
                console.log(f"{args.viewers} viewers over 2 gateways")
                r = asyncio.run(viewers_on(cluster.gateways, wav, args.viewers))
                table.add_row("Redis, 2 gateways", *latency_row(args.viewers, r))
            finally:
                cluster.close()
            for log in folder.glob("worker*.log"):
                log.unlink()
            server = Server(folder)
            try:
                console.log(f"{args.viewers} viewers, in-process bus")
                r = asyncio.run(viewers_on([server], wav, args.viewers))
                table.add_row("in-process, 1 server", *latency_row(args.viewers, r))
            finally:
                server.close()
            out.print(table)
        if "failover" in parts:
            longer = folder / "failover.wav"
            # each kill also waits for the replacement worker to load (about 10 s)
            write_wav(longer, full[: int((args.kills + 2) * (args.every + 12) * 16000)])
            cluster = Cluster(folder, args.database_url, 2, 2)
            try:
                r = asyncio.run(failover(cluster, longer, args.kills, args.every))
            finally:
                cluster.close()
            table = Table("kills", "kill → next final median s", "worst s",
                          "captions (no kills / with kills)", "lost", "repeated",
                          title="failover: the worker holding a room killed (kill -9)")  # fmt: skip
            gaps = r["gaps"]
            table.add_row(str(r["kills"]), f"{median(gaps):.1f}", f"{max(gaps):.1f}",
                          f"{r['reference']} / {r['stored']}", str(r["lost"]),
                          str(r["repeated"]))  # fmt: skip
            out.print(table)


if __name__ == "__main__":
    main()
