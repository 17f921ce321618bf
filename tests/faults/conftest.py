"""Fault suite (issue 12): hostile input and broken conditions, each with what a client sees.

Servers here are real uvicorn servers in this process (tests/test_ws.py's LiveServer) sharing
the session's recognizer; each gets a private database.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tingshuo.server.app import create_app
from tingshuo.settings import Settings

from ..test_ws import ORG, LiveServer

AUTH = {"Authorization": f"Bearer {ORG}"}


@contextlib.contextmanager
def live_server(worker, folder: Path, **overrides) -> Iterator[LiveServer]:
    overrides.setdefault("database_url", f"sqlite:///{folder / 'tingshuo.db'}")
    settings = Settings(token=ORG, **overrides)
    with LiveServer(create_app(settings, worker=worker), settings) as live:
        yield live


def rss_mb() -> float:
    """This process's resident memory now (the servers under test run in it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def health_latency(url: str, seconds: float, stop) -> float:
    """The slowest /health answer while `stop()` is false (at most `seconds`)."""
    worst = 0.0
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=url, timeout=30) as client:
        while time.monotonic() < deadline and not stop():
            t0 = time.monotonic()
            assert client.get("/health").status_code == 200
            worst = max(worst, time.monotonic() - t0)
            time.sleep(0.02)
    return worst


@pytest.fixture(scope="module")
def server(worker, tmp_path_factory):
    """A server with the default limits but a 2 MB upload limit."""
    with live_server(worker, tmp_path_factory.mktemp("faults"), max_upload_mb=2) as live:
        yield live
