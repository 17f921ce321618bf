"""Start in any order (issue 31): 2 gateways and 2 workers started at the same instant on an
empty PostgreSQL database, round after round.

    python -m benchmarks.cluster_start                  # 20 rounds, about 10 minutes on 2 cores
    python -m benchmarks.cluster_start --rounds 3 --gateways 3 --workers 1

Needs Debian's redis-server and a PostgreSQL server whose user may create databases
(`--database-url`, default $TINGSHUO_TEST_POSTGRES_URL). Each round makes a new, empty
database, empties Redis, starts `tingshuo serve` ×2 (gateways: TINGSHUO_BUS_URL) and
`tingshuo worker` ×2 in the same moment, and counts the round good when every gateway answers
/health and every worker says it is ready, with no process gone. Every process upgrades the
schema at start (store/schema.py, under PostgreSQL's advisory lock): before Alembic, 4 starts in
8 failed here on `create_all`'s race. Each process's log is kept for a failed round, and
checked in every round for the database password.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import redis
from rich.console import Console
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from .common import median
from .server_load import free_port

console = Console(stderr=True)
TOKEN = "cluster-start-token"


class Started:
    """A `tingshuo` process of a round, its log in `log`."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self.args = args
        self.proc = subprocess.Popen([sys.executable, "-m", "tingshuo", "-v", *args],
                                     env=env, stdout=subprocess.DEVNULL,
                                     stderr=log.open("wb"))  # fmt: skip

    def said(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def one_round(folder: Path, database_url: str, redis_url: str, gateways: int, workers: int,
              timeout: float) -> tuple[bool, float, str]:  # fmt: skip
    """(came up, seconds until the last was up, why not)."""
    env = {**os.environ, "TINGSHUO_DATABASE_URL": database_url, "TINGSHUO_BUS_URL": redis_url,
           "TINGSHUO_WORKER_LEASE_S": "3", "OMP_WAIT_POLICY": "PASSIVE",
           "COLUMNS": "300"}  # fmt: skip
    ports = [free_port() for _ in range(gateways)]
    began = time.monotonic()
    procs = [
        Started(["serve", "--port", str(port), "--token", TOKEN], env, folder / f"gateway{i}.log")
        for i, port in enumerate(ports)
    ] + [
        Started(["worker", "--rooms", "2"], env, folder / f"worker{i}.log") for i in range(workers)
    ]
    up: dict[int, float] = {}
    why = ""
    try:
        while len(up) < len(procs) and not why:
            for i, p in enumerate(procs):
                if i in up:
                    continue
                if p.proc.poll() is not None:
                    last = (p.said().strip().splitlines() or ["(nothing)"])[-1]
                    why = f"{p.log.name} exited {p.proc.returncode}: {last}"
                    break
                if i < gateways:
                    try:
                        ok = httpx.get(f"http://127.0.0.1:{ports[i]}/health", timeout=2)
                        if ok.status_code == 200:
                            up[i] = time.monotonic() - began
                    except httpx.TransportError:
                        pass
                elif "ready for" in p.said():
                    up[i] = time.monotonic() - began
            if time.monotonic() - began > timeout:
                why = f"not all up after {timeout:.0f} s"
            time.sleep(0.2)
    finally:
        for p in procs:
            p.stop()
    password = make_url(database_url).password
    if password and any(f":{password}@" in p.said() for p in procs):
        why = why or "a log shows the database password"
    return not why, max(up.values(), default=float("nan")), why


def admin_sql(admin, statement: str, wait_s: float = 180.0) -> None:
    """A CREATE or DROP DATABASE, retried while the server is away (a restart)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            with admin.connect() as db:
                db.execute(text(statement))
            return
        except OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--gateways", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds for a round")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("TINGSHUO_TEST_POSTGRES_URL"),
        help="a PostgreSQL server's URL; each round makes a database of its own there",
    )
    args = parser.parse_args()
    if not args.database_url:
        raise SystemExit("give --database-url (or set TINGSHUO_TEST_POSTGRES_URL)")
    server = make_url(args.database_url)
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    port = free_port()
    redis_server = subprocess.Popen(["redis-server", "--port", str(port), "--save", "",
                                     "--appendonly", "no"], stdout=subprocess.DEVNULL)  # fmt: skip
    bus = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            bus.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise SystemExit("redis-server did not start") from None
            time.sleep(0.05)
    good, times = 0, []
    try:
        for n in range(1, args.rounds + 1):
            name = f"tingshuo_start_{secrets.token_hex(4)}"
            admin_sql(admin, f"CREATE DATABASE {name}")
            bus.flushall()
            folder = Path(tempfile.mkdtemp(prefix=f"cluster_start_{n:02d}_"))
            try:
                ok, took, why = one_round(
                    folder,
                    server.set(database=name).render_as_string(hide_password=False),
                    f"redis://127.0.0.1:{port}/0",
                    args.gateways,
                    args.workers,
                    args.timeout,
                )
            finally:
                admin_sql(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            good += ok
            if ok:
                times.append(took)
                shutil.rmtree(folder, ignore_errors=True)
                console.print(f"round {n:2d}: all up in {took:.1f} s", highlight=False)
            else:
                console.print(f"round {n:2d}: [red]FAILED[/red] {why} (logs in {folder})",
                              highlight=False)  # fmt: skip
    finally:
        redis_server.terminate()
        redis_server.wait(10)
        admin.dispose()
    console.print(
        f"{args.gateways} gateways + {args.workers} workers at once on an empty PostgreSQL "
        f"database: {good}/{args.rounds} rounds came up; all up in {median(times):.1f} s "
        f"(median), {max(times, default=float('nan')):.1f} s (slowest)",
        highlight=False,
        soft_wrap=True,
    )
    sys.exit(0 if good == args.rounds else 1)


if __name__ == "__main__":
    main()
