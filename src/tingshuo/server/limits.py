"""Limits applied before any work (issue 12): request bodies counted while they stream in,
per-client rate limits and a small worker pool for the public endpoints that run models,
per-address and per-link caps on viewer sockets, and tokens kept out of the access log.

None of these knows about rooms or models: app.py and the routes wire them in.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from fastapi import HTTPException, Request
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..priority import lower_priority
from ..settings import Settings, get_settings

log = logging.getLogger(__name__)

T = TypeVar("T")


def client_address(conn: HTTPConnection) -> str:
    """The peer's address (behind a proxy, uvicorn's --proxy-headers makes it the client's)."""
    return conn.client.host if conn.client else "unknown"


# -- request bodies ---------------------------------------------------------------------------


class BodyLimit:
    """ASGI middleware: a request body larger than its path allows is answered 413 as soon as
    that is known (a Content-Length over the limit: before a byte is read; a chunked body:
    when the running count crosses it), instead of after the whole body was spooled to disk.
    """

    def __init__(self, app: ASGIApp, limit_for: Callable[[Scope], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        path = scope["path"]
        declared = _header(scope, b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await _answer(send, 400, "Content-Length is not a number", path=path)
                return
            if int(declared) > limit:
                await _answer(send, 413, _too_large(limit), path=path)
                return
        received = 0
        over = False
        started = False

        async def counted() -> Message:
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over = True
                    raise HTTPException(413, _too_large(limit))
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if over:
                # whatever the app made of the interrupted body (a 400 from its form parser,
                # say), the client is told the real reason
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await _answer(send, 413, _too_large(limit), path=path)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not over:
                raise
            if not started:
                started = True
                await _answer(send, 413, _too_large(limit), path=path)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1").strip()
    return None


def _too_large(limit: int) -> str:
    size = f"{limit / 1024 / 1024:.0f} MB" if limit >= 1024 * 1024 else f"{limit // 1024} KB"
    return f"request body larger than {size}, the most this endpoint accepts"


async def _answer(
    send: Send,
    status: int,
    detail: str,
    extra: tuple[tuple[bytes, bytes], ...] = (),
    path: str = "",
) -> None:
    import json

    answer: dict = {"detail": detail}
    if path.startswith("/v1/"):  # OpenAI's error shape, which its clients read (api_openai.py)
        kind = "invalid_request_error"
        answer = {"error": {"message": detail, "type": kind, "param": None, "code": None}}
    body = json.dumps(answer).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),  # the rest of the body is not read
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# -- rate limits and the public worker pool ----------------------------------------------------


class RateLimiter:
    """A token bucket per key (a client address): `burst` requests at once, then `rate_per_s`."""

    def __init__(self, rate_per_s: float, burst: int, max_keys: int = 10_000) -> None:
        self.rate = rate_per_s
        self.burst = float(burst)
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # key → (tokens, when)
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 if a request may go now (and it is counted), else the seconds to wait."""
        if self.rate <= 0:
            return 0.0  # off
        now = time.monotonic()
        with self._lock:
            tokens, then = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - then) * self.rate)
            if tokens < 1:
                self._buckets[key] = (tokens, now)
                return (1 - tokens) / self.rate
            self._buckets[key] = (tokens - 1, now)
            if len(self._buckets) > self.max_keys:
                self._forget(now)
            return 0.0

    def _forget(self, now: float) -> None:
        # buckets that have refilled are the same as no bucket: a spray of addresses costs
        # no memory
        full = [k for k, (t, w) in self._buckets.items() if t + (now - w) * self.rate >= self.burst]
        for key in full:
            del self._buckets[key]


class PublicWork:
    """The public endpoints' own small pool (threads at a lower CPU priority), a bound on
    the requests waiting for it, and the per-client rate limit in front of it: a learner or
    an attacker on the hall's Wi-Fi can never take the threads or CPU a live room needs."""

    def __init__(self, settings: Settings) -> None:
        self.limiter = RateLimiter(settings.public_rate_per_minute / 60, settings.public_burst)
        self.queue = settings.public_queue
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, settings.public_workers),
            thread_name_prefix="public",
            initializer=_lower_priority,
        )
        self._waiting = 0

    def refusal(self, conn: HTTPConnection) -> tuple[float, str, int] | None:
        """None if the client may go on (counted), else (seconds to wait, why, Retry-After).
        The organizer is never limited."""
        if conn.scope.get(_ADMITTED) or is_organizer_token(conn):
            return None
        conn.scope[_ADMITTED] = True  # counted once, by the middleware or the dependency
        wait = self.limiter.take(client_address(conn))
        if wait <= 0:
            return None
        seconds = max(1, round(wait + 0.5))
        return wait, f"too many requests from your address: try again in {seconds} s", seconds

    def admit(self, request: Request) -> None:
        """Raise 429 for a client over its rate."""
        refused = self.refusal(request)
        if refused is not None:
            _, why, seconds = refused
            raise HTTPException(429, why, headers={"Retry-After": str(seconds)})

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in the public pool; 503 when too many already wait for it."""
        if self._waiting >= self.queue:
            raise HTTPException(
                503,
                "the practice service is busy: try again in a few seconds",
                headers={"Retry-After": "5"},
            )
        self._waiting += 1  # only touched on the event loop
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        finally:
            self._waiting -= 1

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _lower_priority() -> None:
    # nice 10 lets the recognizer's threads go first
    lower_priority(10)


SQUAT_PAUSE_S = 1.0  # before a refused viewer socket is closed


def is_organizer_token(conn: HTTPConnection) -> bool:
    """The organizer's token was presented (header, query or cookie)."""
    token = getattr(conn.app.state, "token", None)
    if not token:
        return False
    from .auth import presented_token, same

    given = presented_token(conn)
    return given is not None and same(given, token)


_ADMITTED = "tingshuo.rate_checked"
MAX_TARPIT_S = 1.0


class PublicLimit:
    """ASGI middleware: the per-client rate limit of the public model-running paths, applied
    before the body is read (a refused request costs next to nothing), and answered after a
    pause of up to a second, so that a client sending one request after another is slowed
    to the rate it is allowed instead of taking the CPU with refusals."""

    def __init__(self, app: ASGIApp, paths: Callable[[str], bool]) -> None:
        self.app = app
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.paths(scope["path"]):
            conn = HTTPConnection(scope)
            refused = public_work(conn).refusal(conn)
            if refused is not None:
                wait, why, seconds = refused
                await asyncio.sleep(min(wait, MAX_TARPIT_S))
                await _answer(send, 429, why, ((b"retry-after", str(seconds).encode()),))
                return
        await self.app(scope, receive, send)


_public_lock = threading.Lock()


def public_work(conn: HTTPConnection) -> PublicWork:
    """The app's PublicWork, made on first use (a router may be mounted on any app)."""
    state = conn.app.state
    work = getattr(state, "public", None)
    if work is None:
        with _public_lock:
            work = getattr(state, "public", None)
            if work is None:
                settings = getattr(state, "settings", None) or get_settings()
                work = state.public = PublicWork(settings)
    return work


def public_limit(request: Request) -> None:
    """FastAPI dependency of the public model-running routes (where no PublicLimit
    middleware has counted the request already)."""
    public_work(request).admit(request)


async def run_public(request: Request, fn: Callable[..., T], *args: Any) -> T:
    return await public_work(request).run(fn, *args)


# -- viewer sockets ----------------------------------------------------------------------------


class SocketCaps:
    """Open viewer sockets per source address and per viewer link (room and token), so that
    one phone or one shared link cannot take every seat. The organizer's token is not a
    viewer link and is not counted: the console and stage always get in (up to the server's
    own cap)."""

    def __init__(self, per_address: int, per_link: int) -> None:
        self.per_address = per_address
        self.per_link = per_link
        self.addresses: dict[str, int] = {}
        self.links: dict[tuple[str, str], int] = {}

    def address_full(self, address: str) -> bool:
        return bool(self.per_address) and self.addresses.get(address, 0) >= self.per_address

    def address_refusal(self) -> str:
        return f"too many connections from your address (limit {self.per_address})"

    def acquire(self, address: str, link: tuple[str, str]) -> str | None:
        """Count one socket in, or say why not (on the event loop: no lock needed)."""
        if self.address_full(address):
            return self.address_refusal()
        if self.per_link and self.links.get(link, 0) >= self.per_link:
            return f"this link has its limit of {self.per_link} viewers"
        self.addresses[address] = self.addresses.get(address, 0) + 1
        self.links[link] = self.links.get(link, 0) + 1
        return None

    def release(self, address: str, link: tuple[str, str]) -> None:
        _decrement(self.addresses, address)
        _decrement(self.links, link)


def socket_caps(conn: HTTPConnection) -> SocketCaps:
    state = conn.app.state
    caps = getattr(state, "sockets", None)
    if caps is None:
        settings = getattr(state, "settings", None) or get_settings()
        caps = state.sockets = SocketCaps(
            settings.max_viewers_per_address, settings.max_viewers_per_link
        )
    return caps


def _decrement(counts: dict, key: Any) -> None:
    n = counts.get(key, 0) - 1
    if n > 0:
        counts[key] = n
    else:
        counts.pop(key, None)


# -- secrets out of logs -----------------------------------------------------------------------

# a viewer's or the organizer's token, and the stage link's key
_TOKEN = re.compile(r"((?:^|[?&])(?:token|stage)=)[^&#\s\"']*", re.I)


def redact(text: str) -> str:
    return _TOKEN.sub(r"\1[redacted]", text)


def _secretive(value: object) -> bool:
    return isinstance(value, str) and ("token=" in value or "stage=" in value)


class RedactTokens(logging.Filter):
    """`token=…` (and the stage link's `stage=…`) in logged URLs becomes `token=[redacted]`
    (uvicorn's access log and its WebSocket lines). The record's arguments keep their
    places: uvicorn's access formatter reads them by position."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _secretive(record.msg):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if _secretive(a) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) if _secretive(v) else v for k, v in record.args.items()}
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's logging configuration with `RedactTokens` on its handlers."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_tokens"] = {"()": RedactTokens}
    for handler in config["handlers"].values():
        handler.setdefault("filters", []).append("redact_tokens")
    return config
