"""Item 2: the public learner and anchor endpoints: lengths before work, off the event loop,
rate-limited per client, in their own small worker pool."""

from __future__ import annotations

import asyncio
import io
import threading
import time
import wave

import httpx
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from tingshuo.server.app import create_app
from tingshuo.server.limits import RateLimiter, run_public
from tingshuo.settings import Settings

from ..helpers import AUTH, ORG, health_latency


def wav_bytes(seconds: float = 1.0, rate: int = 16000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\0\0" * int(seconds * rate))
    return buf.getvalue()


def test_a_900_kb_prompt_is_refused_at_once_and_health_keeps_answering(server):
    prompt = "ni3 hao3 " * 100_000  # 900 KB of tone-numbered pinyin
    done = False
    out: list[httpx.Response] = []

    def attack() -> None:
        nonlocal done
        try:
            out.append(
                httpx.post(
                    f"{server.url}/api/learn/assess",
                    files={"file": ("r.wav", wav_bytes())},
                    data={"text": prompt},
                    timeout=60,
                )
            )
        finally:
            done = True

    thread = threading.Thread(target=attack)
    t0 = time.monotonic()
    thread.start()
    worst = health_latency(server.url, 20, lambda: done)
    thread.join()
    assert out[0].status_code == 422
    detail = out[0].json()["detail"]
    assert "900000 characters" in detail and "\n" not in detail
    assert time.monotonic() - t0 < 5
    assert worst < 0.5


def test_public_endpoints_are_rate_limited_per_client_but_not_the_organizer(worker, tmp_path):
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
        token=ORG,
        public_burst=3,
        public_rate_per_minute=6,
    )
    body = {"text": "segments:\n  - say: 你好。\n"}
    with TestClient(create_app(settings, worker=worker)) as client:
        codes = [client.post("/api/anchor/rundown", json=body).status_code for _ in range(5)]
        assert codes == [200, 200, 200, 429, 429]
        limited = client.post("/api/anchor/rundown", json=body)
        assert 1 <= int(limited.headers["retry-after"]) <= 10
        assert "too many requests from your address" in limited.json()["detail"]
        assert client.get("/api/learn/speak", params={"text": "你好"}).status_code == 429
        # the organizer (rehearsing, say) is never limited
        assert client.post("/api/anchor/rundown", json=body, headers=AUTH).status_code == 200
        assert client.get("/api/learn/sentences").status_code == 200  # no model: not limited


def test_the_token_bucket_refills():
    bucket = RateLimiter(rate_per_s=20, burst=2)
    assert bucket.take("a") == 0 and bucket.take("a") == 0
    wait = bucket.take("a")
    assert 0 < wait <= 0.05
    assert bucket.take("b") == 0  # per client
    time.sleep(wait + 0.01)
    assert bucket.take("a") == 0


def test_public_work_runs_in_its_own_pool_not_the_shared_one():
    app = FastAPI()

    @app.get("/where")
    async def where(request: Request) -> dict:
        name = await run_public(request, lambda: threading.current_thread().name)
        return {"thread": name}

    with TestClient(app) as client:
        assert client.get("/where").json()["thread"].startswith("public")


def test_a_full_public_queue_answers_503_not_a_pile_up():
    app = FastAPI()
    app.state.settings = Settings(public_queue=2, public_workers=1)
    release = threading.Event()

    @app.get("/slow")
    async def slow(request: Request) -> dict:
        await run_public(request, release.wait, 10)
        return {}

    async def main() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            first = [asyncio.create_task(client.get("/slow")) for _ in range(2)]
            await asyncio.sleep(0.2)
            third = await client.get("/slow")
            release.set()
            return [third.status_code] + [(await t).status_code for t in first]

    assert asyncio.run(main()) == [503, 200, 200]
