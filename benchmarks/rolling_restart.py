"""A rolling restart (issue 31): every gateway and worker stopped with SIGTERM and replaced,
one at a time, while a console speaks into a room and phones watch it.

    python -m benchmarks.rolling_restart                  # a 5-minute room, about 7 minutes
    python -m benchmarks.rolling_restart --minutes 1.5 --only worker,gateway

Needs Debian's redis-server and a PostgreSQL URL (`--database-url`, default
$TINGSHUO_TEST_POSTGRES_URL). Everything runs on loopback, started in the wrong order on
purpose: 2 gateways (`tingshuo serve`) and 2 workers (`tingshuo worker`) first, Redis a few
seconds later (they wait for it). A small TCP balancer sends each connection to the first
gateway that accepts, as a health-checking load balancer does; the pages' sockets reconnect
through it by themselves. The console is a client that does what `static/console.js` does:
100 ms frames in real time from AISHELL sentences with a second between them, frames kept
while its socket is down and sent once the room is ready again, reconnecting at once on
1012. Each phone does what `static/captions.js` `RoomEvents` does: reconnecting with
`since`, at once on 1012.

The restarts (each `--only` part, in this order): each worker in turn, the one holding the
room first, gets SIGTERM and is then replaced (so the room moves at each worker's stop: to
the other worker, then to the first one's replacement); then each gateway (a replacement
joins the balancer first, then the old one gets SIGTERM).

Reported: exit statuses, close codes the sockets saw, sentences with no stored caption
(lost), stored captions that overlap another or a phone got twice (doubled), captions a phone
never got, and the lag of each final at the phones (arrival minus the end of its phrase in
the console's audio), over the room and after each worker's SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

from tingshuo.asr.scoring import cer
from tingshuo.audio.decode import load_audio

from .common import DATA, read_tsv
from .room_clients import FRAME, Balancer, Console, Phone, Shown, free_port

ORG = "rolling-organizer"
AISHELL = DATA / "aishell-asr0009-sample-2spk"


# -- the processes


class Proc:
    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tingshuo", "-v", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log.open("ab"),
        )

    def said(self, text: str) -> bool:
        """Its log holds `text` (lines wrapped for a terminal joined again)."""
        return text in " ".join(self.log.read_text(errors="replace").split())

    def terminate(self, timeout: float = 60) -> int | None:
        """SIGTERM; its exit status (None: it did not end in time, and was killed)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


class Gateway(Proc):
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        super().__init__(["serve", "--port", str(self.port), "--token", ORG], env, log)

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=5).status_code == 200:
                    return
            if self.proc.poll() is not None:
                raise RuntimeError(f"a gateway ended: {self.log.read_text()[-2000:]}")
            time.sleep(0.2)
        raise RuntimeError("a gateway did not start")


class Worker(Proc):
    def __init__(self, env: dict[str, str], log: Path) -> None:
        super().__init__(["worker", "--rooms", "2"], env, log)

    def wait_ready(self, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while not self.said("ready for"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"a worker did not start: {self.log.read_text()[-2000:]}")
            time.sleep(0.2)


def redis_server(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


# -- the rehearsal


def talk(
    rows: list[dict[str, str]], seconds: float
) -> tuple[np.ndarray, list[tuple[float, float, str]]]:
    """AISHELL sentences with a second between them, about `seconds` long, and each
    sentence's span and text."""
    parts, spans, t = [np.zeros(8000, dtype=np.float32)], [], 0.5
    for row in rows:
        clip = load_audio(AISHELL / row["path"])
        spans.append((t, t + clip.size / 16000, row["reference_text"]))
        parts += [clip, np.zeros(16000, dtype=np.float32)]
        t += clip.size / 16000 + 1.0
        if t >= seconds:
            break
    return np.concatenate(parts), spans


@dataclass
class Report:
    exits: dict[str, int | None] = field(default_factory=dict)  # process -> exit status
    phone_closes: list[int | None] = field(default_factory=list)
    console_closes: list[int | None] = field(default_factory=list)
    sentences: int = 0
    stored: int = 0
    lost: int = 0  # sentences no stored caption overlaps
    doubled: int = 0  # stored captions overlapping the one before, or shown twice
    unseen: int = 0  # (phone, stored caption) pairs the phone never got
    cer: float = 0.0
    lags: list[float] = field(default_factory=list)  # every final at every phone
    after_worker_stop: list[float] = field(default_factory=list)  # finals within 20 s of one
    waited_for_redis: bool = False  # every process said it waited, then came up
    log_folder: str = ""

    def lines(self) -> list[str]:
        def p(q: float, xs: list[float]) -> str:
            return f"{np.quantile(xs, q):.2f}" if xs else "-"

        return [
            f"exit statuses: {self.exits}",
            f"sockets closed: phones {self.phone_closes}, console {self.console_closes}",
            f"sentences {self.sentences}, stored captions {self.stored}: lost {self.lost}, "
            f"doubled {self.doubled}, not shown to a phone {self.unseen}, CER {self.cer:.3f}",
            f"final lag at the phones: p50 {p(0.5, self.lags)} s, p95 {p(0.95, self.lags)} s, "
            f"max {p(1.0, self.lags)} s",
            f"after a worker's SIGTERM: max {p(1.0, self.after_worker_stop)} s over "
            f"{len(self.after_worker_stop)} finals",
            f"started before Redis, waited and came up: {self.waited_for_redis}",
            f"logs: {self.log_folder}",
        ]


def rehearse(
    database_url: str,
    folder: Path,
    minutes: float = 5.0,
    parts: tuple[str, ...] = ("worker", "gateway"),
    phones: int = 3,
    replace: bool = True,
) -> Report:
    """One room of `minutes` through the restarts of `parts`; with `replace`, each process
    stopped is replaced first (a rolling restart of all), else one worker and one gateway
    are stopped and the others carry on."""
    report = Report(log_folder=str(folder))
    port = free_port()
    env = {**os.environ, "TINGSHUO_DATABASE_URL": database_url,
           "TINGSHUO_BUS_URL": f"redis://127.0.0.1:{port}/0", "TINGSHUO_WORKER_LEASE_S": "3",
           "TINGSHUO_SECOND_PASS": "false", "OMP_WAIT_POLICY": "PASSIVE"}  # fmt: skip
    n = [0]

    def log(kind: str) -> Path:
        n[0] += 1
        return folder / f"{kind}{n[0]}.log"

    balancer = Balancer()
    # started before Redis, as a compose file may start them: they wait for it
    gateways = [Gateway(env, log("gateway")) for _ in range(2)]
    workers = [Worker(env, log("worker")) for _ in range(2)]
    everyone: list[Proc] = [*gateways, *workers]
    redis = None
    try:
        deadline = time.monotonic() + 60
        while not all(p.said("waiting for it") for p in everyone):
            assert time.monotonic() < deadline, "not every process said it waits for Redis"
            time.sleep(0.2)
        redis = redis_server(port)
        for p in everyone:
            p.wait_ready()
        report.waited_for_redis = all(p.said("is there: going on") for p in everyone)
        balancer.backends = [g.port for g in gateways]
        base = f"http://127.0.0.1:{balancer.port}"
        http = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {ORG}"}, timeout=60)
        room = http.post("/api/rooms", json={"name": "rolling", "lang": "zh"}).json()
        audio, spans = talk(read_tsv(AISHELL / "manifest.tsv"), minutes * 60)
        report.sentences = len(spans)
        ws_base = f"ws://127.0.0.1:{balancer.port}"
        watching = [Phone(ws_base, room) for _ in range(phones)]
        for phone in watching:
            assert phone.ready.wait(30)
        console = Console(ws_base, room, audio, ORG)
        length = audio.size / 16000
        stops: list[float] = []  # when each worker got SIGTERM
        first_workers = list(workers)
        steps = [(k, i) for k in parts for i in range(2 if replace else 1)]
        for step, (kind, _) in enumerate(steps):
            at = length * (step + 1) / (len(steps) + 1)
            if kind == "worker":
                # the one holding the room, unless it is a replacement (each original once)
                holder = _holder(port, room["id"], workers)
                left = [w for w in first_workers if w in workers]
                holder = holder if holder in left else left[0]
                _sleep_until(console, at)
                stops.append(time.time())
                report.exits[f"worker {holder.proc.pid}"] = holder.terminate()
                workers.remove(holder)
                if replace:  # after the stop: the room then moves at each worker's stop
                    fresh = Worker(env, log("worker"))
                    workers.append(fresh)
                    everyone.append(fresh)
                    fresh.wait_ready()
            else:
                old = next(g for g in gateways if g.port in balancer.backends[:1])
                if replace:
                    fresh_gw = Gateway(env, log("gateway"))
                    fresh_gw.wait_ready()
                    balancer.backends.append(fresh_gw.port)
                    everyone.append(fresh_gw)
                _sleep_until(console, at)
                report.exits[f"gateway {old.proc.pid}"] = old.terminate()
                balancer.backends.remove(old.port)
                gateways.remove(old)
                if replace:
                    gateways.append(fresh_gw)
        console.join(length + 180)
        for phone in watching:
            phone.join(180)
        report.console_closes = console.closes
        report.phone_closes = [c for p in watching for c in p.closes]
        stored = http.get(f"/api/rooms/{room['id']}/segments").json()
        _judge(report, spans, stored, watching, console.t0, stops)
        http.close()
        return report
    finally:
        for p in everyone:
            p.kill()
        if redis is not None:
            redis.terminate()
            redis.wait(10)
        balancer.close()


def _sleep_until(console: Console, at: float) -> None:
    """Until the console has sent `at` seconds of its audio."""
    while console.sent * FRAME / 16000 < at and console.is_alive():
        time.sleep(0.1)


def _holder(port: int, room_id: str, workers: list[Worker]) -> Worker:
    import redis

    client = redis.Redis(port=port)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        held = (client.get(f"tingshuo:room:{room_id}:lease") or b"").decode()
        for w in workers:
            if f"-{w.proc.pid}-" in held:
                return w
        time.sleep(0.2)
    raise RuntimeError("no worker holds the room")


def _judge(report: Report, spans: list[tuple[float, float, str]], stored: list[dict],
           phones: list[Phone], t0: float, stops: list[float]) -> None:  # fmt: skip
    report.stored = len(stored)
    report.lost = sum(
        1 for s, e, _ in spans if not any(c["start"] < e and c["end"] > s for c in stored)
    )
    ordered = sorted(stored, key=lambda c: c["start"])
    overlapping = sum(
        1 for a, b in zip(ordered, ordered[1:], strict=False) if b["start"] < a["end"] - 0.3
    )
    shown_twice = sum(len(p.finals) - len({f.id for f in p.finals}) for p in phones)
    report.doubled = overlapping + shown_twice
    ids = {c["id"] for c in stored}
    report.unseen = sum(len(ids - {f.id for f in p.finals}) for p in phones)
    # (over the whole text: a sentence may come as two captions)
    said, heard = "".join(t for _, _, t in spans), "".join(c["text"] for c in ordered)
    report.cer = cer([said], [heard])
    for p in phones:
        first: dict[int, Shown] = {}
        for f in p.finals:
            first.setdefault(f.id, f)
        for f in first.values():
            lag = f.at - (t0 + f.end)
            report.lags.append(lag)
            if any(0 <= f.at - stop <= 20 for stop in stops):
                report.after_worker_stop.append(lag)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--only", default="worker,gateway", help="worker, gateway or both")
    parser.add_argument("--phones", type=int, default=3)
    parser.add_argument("--database-url", default=os.environ.get("TINGSHUO_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    if not args.database_url:
        raise SystemExit("give --database-url (PostgreSQL) or TINGSHUO_TEST_POSTGRES_URL")
    folder = Path(tempfile.mkdtemp(prefix="rolling-"))
    report = rehearse(args.database_url, folder, args.minutes, tuple(args.only.split(",")),
                      args.phones)  # fmt: skip
    for line in report.lines():
        print(line)


if __name__ == "__main__":
    main()
