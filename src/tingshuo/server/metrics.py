"""`/metrics` for Prometheus: a process's rooms, viewers, model queues and threads, store,
second pass, interpretation and lags, in Prometheus's text format (prometheus-client).

Each app, and each worker, has a registry of its own (never the library's global one), so
that tests can build several apps in one process. What holds at any moment (rooms by state,
queues, threads, writes pending) is read when Prometheus scrapes, from where the numbers
live (`LiveRooms.states`, `Models.queued`, `Models.threads`, the store's `waiting`,
`Interpreter.unspoken_counts`); the lags are histograms that each live session feeds as its
finals and translations go out (`LagHistograms`, the process's `Models.meter`).

In distributed mode the rooms run on workers, so the lags are measured there: a worker serves
its own `/metrics` (`TINGSHUO_WORKER_METRICS_PORT`, `serve_worker_metrics`), and a gateway's
gives what it knows (rooms by state, its viewers, its store and models).

Access: the organizer token or `TINGSHUO_METRICS_TOKEN`, as `Authorization: Bearer …`.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import ThreadingWSGIServer, choose_encoder, make_wsgi_app
from prometheus_client.registry import Collector

from .. import __version__
from ..errors import TingshuoError
from ..settings import Settings
from .auth import Denied, presented_token, same

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ..live.interpretation import Interpreter
    from ..live.models import Models
    from ..live.room_worker import RoomWorker

log = logging.getLogger(__name__)

router = APIRouter()

# a final is due ~0.5-1.5 s after its phrase ends, a translation 1-3 s after its final; the
# buckets span 0.2-10 s finely, and 15 s catches a room that fell far behind
LAG_BUCKETS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 7.5, 10.0, 15.0)

_RESTARTS = re.compile(r"again (\d+)")


class LagHistograms:
    """The process's `Models.meter`: every live session's finals and translations."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._final = Histogram(
            "tingshuo_final_lag_seconds",
            "From the end of a phrase heard to its final caption out",
            buckets=LAG_BUCKETS,
            registry=registry,
        )
        self._translation = Histogram(
            "tingshuo_translation_lag_seconds",
            "From a final caption out to its complete translation out",
            buckets=LAG_BUCKETS,
            registry=registry,
        )

    def final(self, seconds: float) -> None:
        self._final.observe(seconds)

    def translation(self, seconds: float) -> None:
        self._translation.observe(seconds)


@dataclass
class Sources:
    """Where a scrape reads each figure; None: this process has none of it."""

    role: str  # "server", "gateway" or "worker"
    models: Callable[[], Models | None]
    store: Callable[[], Any]
    rooms: Callable[[], dict[str, int]] | None = None
    viewers: Callable[[], int] | None = None
    subscribers: Callable[[], int] | None = None
    interpreter: Callable[[], Interpreter | None] = lambda: None


class ProcessState(Collector):
    """The figures read at each scrape (see the module doc)."""

    def __init__(self, sources: Sources) -> None:
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        s = self.sources
        info = GaugeMetricFamily("tingshuo_info", "This process", labels=["version", "role"])
        info.add_metric([__version__, s.role], 1)
        yield info
        if s.rooms is not None:
            rooms = GaugeMetricFamily("tingshuo_rooms", "Rooms by state", labels=["state"])
            for state, n in s.rooms().items():
                rooms.add_metric([state], n)
            yield rooms
        if s.viewers is not None:
            yield GaugeMetricFamily(
                "tingshuo_viewers",
                "Sockets open on a room's viewer link here (phones, screens, stage)",
                value=s.viewers(),
            )
        if s.subscribers is not None:
            yield GaugeMetricFamily(
                "tingshuo_event_subscribers",
                "Subscribers of room events here: viewers, consoles, interpretation",
                value=s.subscribers(),
            )
        yield from _store(s.store())
        models = s.models()
        if models is not None:
            yield from _models(models)
        interpreter = s.interpreter()
        if interpreter is not None:
            yield from _interpretation(interpreter)


def _store(store: Any) -> Iterator[Metric]:
    if store is None:
        return
    yield GaugeMetricFamily(
        "tingshuo_store_writes_pending",
        "Captions and changes waiting to be written to the database",
        value=getattr(store, "waiting", 0),
    )
    yield GaugeMetricFamily(
        "tingshuo_store_saving",
        "1 while the database takes writes, 0 while it refuses them",
        value=0 if getattr(store, "failure", None) else 1,
    )


def _models(models: Models) -> Iterator[Metric]:
    depth = GaugeMetricFamily(
        "tingshuo_model_queue_depth", "Requests waiting for a model thread", labels=["model"]
    )
    for name, n in models.queued().items():
        depth.add_metric([name], n)
    yield depth
    up = GaugeMetricFamily(
        "tingshuo_model_thread_up", "1 while a model thread runs", labels=["thread"]
    )
    restarts = CounterMetricFamily(
        "tingshuo_model_thread_restarts",
        "Times a model thread stopped by itself and was started again",
        labels=["thread"],
    )
    for name, state in models.threads().items():
        up.add_metric([name], 1 if state.startswith("running") else 0)
        again = _RESTARTS.search(state)
        restarts.add_metric([name], int(again.group(1)) if again else 0)
    yield up
    yield restarts
    counts = models.review_counts()
    if counts is not None:
        finals = CounterMetricFamily(
            "tingshuo_second_pass_finals",
            "Live finals the second pass read again (reviewed), changed, skipped (the room "
            "was behind) and left to an operator's correction (refused)",
            labels=["outcome"],
        )
        for outcome in ("reviewed", "changed", "skipped", "refused"):
            finals.add_metric([outcome], int(counts[outcome]))
        yield finals
        yield GaugeMetricFamily(
            "tingshuo_second_pass_keeping_up",
            "1 while the second pass skips no more than 1 in 5 of the latest 20 finals",
            value=1 if counts["keeping_up"] else 0,
        )


def _interpretation(interpreter: Interpreter) -> Iterator[Metric]:
    yield GaugeMetricFamily(
        "tingshuo_voice_queue_depth",
        "Pieces of spoken interpretation waiting for the voice",
        value=interpreter.waiting(),
    )
    unspoken = CounterMetricFamily(
        "tingshuo_interpretation_pieces_unspoken",
        "Pieces of spoken interpretation the voice could not say (skipped)",
        labels=["lang"],
    )
    for lang, n in interpreter.unspoken_counts().items():
        unspoken.add_metric([lang], n)
    yield unspoken


def _registry(sources: Sources, lags: bool) -> tuple[CollectorRegistry, LagHistograms | None]:
    registry = CollectorRegistry()
    for collector in (ProcessCollector, PlatformCollector, GCCollector):
        collector(registry=registry)
    registry.register(ProcessState(sources))
    return registry, LagHistograms(registry) if lags else None


# -- the server's (and a gateway's) /metrics


def install(app: FastAPI, settings: Settings) -> None:
    """The app's registry and route; its `LagHistograms` (none on a gateway: its rooms run
    on workers) go to `Models.meter` when the lifespan makes the models."""
    state = app.state
    sources = Sources(
        role="gateway" if settings.bus_url else "server",
        models=lambda: getattr(state, "models", None),
        store=lambda: getattr(state, "store", None),
        rooms=lambda: state.rooms.states() if hasattr(state, "rooms") else {},
        viewers=lambda: _viewers(state),
        subscribers=lambda: state.bus.subscribers() if hasattr(state, "bus") else 0,
        interpreter=lambda: getattr(state, "interpreter", None),
    )
    state.metrics, state.lags = _registry(sources, lags=not settings.bus_url)
    app.include_router(router)


def _viewers(state: Any) -> int:
    caps = getattr(state, "sockets", None)
    return sum(list(caps.links.values())) if caps is not None else 0


def check_metrics(request: Request) -> None:
    """The organizer token, or the metrics token where one is set."""
    token = presented_token(request)
    if token is None:
        raise Denied(401, "metrics need a token: send 'Authorization: Bearer <token>'")
    if not _accepted(token, request.app.state.token, request.app.state.settings.metrics_token):
        raise Denied(403, "wrong token for /metrics")


def _accepted(token: str, *tokens: str | None) -> bool:
    return any(same(token, t) for t in tokens if t)


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus's text format (the organizer token or TINGSHUO_METRICS_TOKEN)."""
    try:
        check_metrics(request)
    except Denied as e:
        raise e.http() from None
    # Prometheus's own text format, or OpenMetrics when the scraper asks for it
    encoder, media_type = choose_encoder(request.headers.get("accept"))
    return Response(encoder(request.app.state.metrics), media_type=media_type)


# -- a worker's /metrics


def serve_worker_metrics(worker: RoomWorker) -> ThreadingWSGIServer:
    """`TINGSHUO_WORKER_METRICS_PORT`: the worker's /metrics on its own small HTTP server
    (a thread), its rooms' lags among them. A token is asked for when the worker has one
    (TINGSHUO_METRICS_TOKEN or TINGSHUO_TOKEN); without one, only this machine may ask."""
    settings = worker.settings
    tokens = [t for t in (settings.metrics_token, settings.token) if t]
    host, port = settings.worker_metrics_host, settings.worker_metrics_port
    if not tokens and not _loopback(host):
        raise TingshuoError(
            f"TINGSHUO_WORKER_METRICS_HOST={host}: other machines could read this worker's "
            "metrics; set TINGSHUO_METRICS_TOKEN, or serve them on 127.0.0.1"
        )
    sources = Sources(
        role="worker",
        models=lambda: worker.models,
        store=lambda: worker.store,
        rooms=lambda: {"live": len(worker.held)},
    )
    registry, lags = _registry(sources, lags=True)
    worker.models.meter = lags
    app = _bearer(make_wsgi_app(registry), tokens)
    try:
        server = make_server(host, port, app, ThreadingWSGIServer, handler_class=_Quiet)
    except OSError as e:
        raise TingshuoError(
            f"cannot serve the worker's metrics on {host}:{port} ({e.strerror}): choose "
            "another TINGSHUO_WORKER_METRICS_PORT"
        ) from None
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    log.info("worker metrics on http://%s:%d/metrics", host, port)
    return server


def _bearer(app: Callable, tokens: Iterable[str]) -> Callable:
    tokens = list(tokens)

    def guarded(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if tokens:
            header = environ.get("HTTP_AUTHORIZATION", "")
            given = header[7:].strip() if header.lower().startswith("bearer ") else ""
            if not given or not any(same(given, t) for t in tokens):
                status = "401 Unauthorized" if not given else "403 Forbidden"
                start_response(status, [("Content-Type", "text/plain"),
                                        ("WWW-Authenticate", "Bearer")])  # fmt: skip
                return [b"metrics need the organizer or metrics token as a Bearer token\n"]
        return app(environ, start_response)

    return guarded


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class _Quiet(WSGIRequestHandler):
    """No line per scrape on stderr."""

    def log_message(self, format: str, *args: Any) -> None:
        pass
