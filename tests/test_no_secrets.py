"""No secret printed (issue 31): a short distributed scenario with a password on Redis and on
PostgreSQL, every line its processes print kept (stdout and stderr: uvicorn's access log,
Python's logging at -v, the command line's own lines), then searched for every token, key
and password the scenario used. Also the worker's own /metrics: the lags are measured there.

Needs Debian's redis-server and a PostgreSQL URL (TINGSHUO_TEST_POSTGRES_URL); CI has both.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.sync.client import connect

from tingshuo.audio.decode import load_audio

from .helpers import AISHELL, Viewer, audio_url, by_id, events_url, free_port, stream

pytestmark = pytest.mark.slow

ORGANIZER = "organizer-7f3kq2-secret"
API_KEY = "api-key-9d2mzp-secret"
METRICS_KEY = "metrics-key-4hw8va-secret"
REDIS_PASSWORD = "redis-pw-6tq1xe-secret"
WRONG_DB_PASSWORD = "wrong-db-pw-2vn7cu"
WRONG_REDIS_PASSWORD = "wrong-redis-pw-8kx3lf"
CLIP = "BAC009S0252W0193"  # 相比传统的基金公司


def with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    user = parts.username or "tingshuo"
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{parts.netloc.rpartition('@')[2]}"))


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """A tingshuo process at -v; stdout and stderr both kept in `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tingshuo", "-v", *args], env=env, stdout=out, stderr=out
        )


def stop(proc: subprocess.Popen, timeout: float = 30) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def redis_with_password(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--requirepass",
            REDIS_PASSWORD,
        ],  # fmt: skip
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        r = subprocess.run(
            ["redis-cli", "-p", str(port), "--no-auth-warning", "-a", REDIS_PASSWORD, "ping"],
            capture_output=True,
            text=True,
        )
        if r.stdout.strip() == "PONG":
            return proc
        time.sleep(0.1)
    raise RuntimeError("redis-server did not start")


def wait_http(url: str, proc: subprocess.Popen, log: Path, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)


def test_no_token_key_or_password_is_printed_by_gateways_or_workers(tmp_path, aishell_rows):
    pg_url = os.environ.get("TINGSHUO_TEST_POSTGRES_URL")
    if not pg_url or not shutil.which("redis-server") or not shutil.which("redis-cli"):
        pytest.skip("needs redis-server and TINGSHUO_TEST_POSTGRES_URL (CI has both)")
    redis_port, gateway_port, worker_metrics = free_port(), free_port(), free_port()
    redis = redis_with_password(redis_port)
    env = {
        **os.environ,
        "TINGSHUO_DATABASE_URL": pg_url,
        "TINGSHUO_BUS_URL": f"redis://:{REDIS_PASSWORD}@127.0.0.1:{redis_port}/0",
        "TINGSHUO_TOKEN": ORGANIZER,
        "TINGSHUO_API_TOKEN": API_KEY,
        "TINGSHUO_METRICS_TOKEN": METRICS_KEY,
        "TINGSHUO_WORKER_METRICS_PORT": str(worker_metrics),
        "TINGSHUO_SPEAKERS": "false",  # quicker to load; nothing here needs speaker turns
        "OMP_WAIT_POLICY": "PASSIVE",
    }
    procs: list[subprocess.Popen] = []
    try:
        # configuration errors, said without the password: a wrong one for each server
        wrong = [
            start(["worker"], {**env, "TINGSHUO_DATABASE_URL": with_password(
                pg_url, WRONG_DB_PASSWORD)}, tmp_path / "wrong-db.log"),
            start(["worker"], {**env, "TINGSHUO_BUS_URL":
                  f"redis://:{WRONG_REDIS_PASSWORD}@127.0.0.1:{redis_port}/0"},
                  tmp_path / "wrong-redis.log"),
        ]  # fmt: skip
        procs += wrong
        worker = start(["worker", "--rooms", "1"], env, tmp_path / "worker.log")
        gateway = start(["serve", "--port", str(gateway_port)], env, tmp_path / "gateway.log")
        procs += [worker, gateway]
        url = f"http://127.0.0.1:{gateway_port}"
        wait_http(f"{url}/health", gateway, tmp_path / "gateway.log")
        http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ORGANIZER}"},
                            timeout=60)  # fmt: skip
        room = http.post("/api/rooms", json={"name": "hall", "lang": "zh"}).json()
        stage_key = dict(p.split("=", 1) for p in urlsplit(room["links"]["stage"]).query.split("&"))
        hidden = [ORGANIZER, API_KEY, METRICS_KEY, REDIS_PASSWORD, WRONG_DB_PASSWORD,
                   WRONG_REDIS_PASSWORD, room["viewer_token"], stage_key["stage"]]  # fmt: skip
        password = urlsplit(pg_url).password
        if password:
            hidden.append(f":{password}@")

        # tokens where access logs see them (query strings), and refused ones
        assert httpx.get(f"{url}/api/rooms", params={"token": ORGANIZER}).status_code == 200
        assert httpx.get(room["links"]["stage"]).status_code == 200
        assert httpx.get(room["links"]["phone"]).status_code == 200
        assert (
            httpx.get(f"{url}/api/rooms", params={"token": "wrong-" + ORGANIZER}).status_code == 403
        )
        wrong_bearer = {"Authorization": f"Bearer {API_KEY}"}
        assert httpx.get(f"{url}/api/rooms", headers=wrong_bearer).status_code == 403
        assert httpx.get(f"{url}/v1/models", headers=wrong_bearer).status_code == 200
        metrics = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {METRICS_KEY}"})
        assert metrics.status_code == 200 and "tingshuo_rooms" in metrics.text

        # a console pushes a sentence; a phone sees its final
        server = type("Gateway", (), {"ws": f"ws://127.0.0.1:{gateway_port}"})()
        phone = Viewer(events_url(server, room), lambda m: m.get("type") == "final", seconds=120)
        assert phone.ready.wait(30)
        audio = load_audio(AISHELL / by_id(aishell_rows)[CLIP]["path"])
        with connect(audio_url(server, room, token=ORGANIZER)) as console:
            console.send(json.dumps({"type": "start"}))
            console.recv(timeout=30)
            stream(console, audio, speed=0)
            phone.join(120)
        assert phone.finals(), (tmp_path / "worker.log").read_text()[-3000:]
        http.post(f"/api/rooms/{room['id']}/stop")

        # the worker's own /metrics: its lags, behind the same tokens
        worker_url = f"http://127.0.0.1:{worker_metrics}/metrics"
        assert httpx.get(worker_url).status_code == 401
        assert httpx.get(worker_url, headers={"Authorization": "Bearer nope"}).status_code == 403
        got = httpx.get(worker_url, headers={"Authorization": f"Bearer {METRICS_KEY}"})
        assert got.status_code == 200
        samples = {s.name: s.value for f in text_string_to_metric_families(got.text)
                   for s in f.samples if not s.labels}  # fmt: skip
        assert samples["tingshuo_final_lag_seconds_count"] >= 1

        for proc in wrong:
            try:
                proc.wait(30)  # a wrong password is a configuration error: it exits
            except subprocess.TimeoutExpired:
                pass
        http.close()
    finally:
        for proc in procs:
            stop(proc)
        redis.terminate()
        redis.wait(10)

    logs = {p.name: p.read_text(errors="replace") for p in tmp_path.glob("*.log")}
    everything = "\n".join(logs.values())
    assert "GET /api/rooms?token=[redacted]" in everything  # the access log was there
    assert "stage=[redacted]" in everything
    # the wrong passwords' errors named their URLs, the password hidden
    assert "tingshuo:***@" in logs["wrong-db.log"] and ":***@" in logs["wrong-redis.log"]
    for name, text in logs.items():
        for secret in hidden:
            assert secret not in text, (
                f"{name} prints a secret: ...{text[text.find(secret) - 200 :][:400]}"
            )
