"""Rolling restarts and starting in any order (issue 31), on loopback: 2 gateways and 2
workers started before Redis, a console speaking into a room through a load balancer and
phones watching it; one worker, then one gateway, stopped with SIGTERM in a 45 s room.

The machinery is the benchmark's (`benchmarks/rolling_restart.py`, a 5-minute room through
a restart of every process); here a shorter room with one restart of each.
Needs Debian's redis-server and a PostgreSQL URL (TINGSHUO_TEST_POSTGRES_URL); CI has both.
"""

from __future__ import annotations

import os
import shutil

import pytest

pytestmark = pytest.mark.slow

RESTART = 1012  # Service Restart: the close code a stopping gateway's sockets get


def test_a_room_goes_on_through_a_workers_and_a_gateways_sigterm(tmp_path):
    url = os.environ.get("TINGSHUO_TEST_POSTGRES_URL")
    if not url or not shutil.which("redis-server"):
        pytest.skip("needs redis-server and TINGSHUO_TEST_POSTGRES_URL (CI has both)")
    from benchmarks.rolling_restart import rehearse

    report = rehearse(url, tmp_path, minutes=0.75, phones=2, replace=False)
    detail = "\n".join(report.lines())
    # started before Redis: each waited, said so, and came up when it started
    assert report.waited_for_redis, detail
    # each stopped process handed over and exited with status 0
    assert len(report.exits) == 2 and set(report.exits.values()) == {0}, detail
    # the stopping gateway's sockets were told to reconnect, and did
    assert RESTART in report.console_closes and RESTART in report.phone_closes, detail
    # every sentence has its caption, once; every phone got every caption
    assert report.lost == 0 and report.doubled == 0 and report.unseen == 0, detail
    assert report.cer < 0.15, detail
    # the worker's rooms went on at once elsewhere
    assert report.after_worker_stop and max(report.after_worker_stop) <= 2.5, detail
