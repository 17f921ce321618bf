"""The FastAPI app: health, file transcription, stored sessions, exports, search, and the
live event server (rooms, their WebSockets and pages).

`create_app` builds the app; other features add their pages with `app.include_router(...)`.
Everything but /health, the static files and the page shells needs a token (see auth.py).
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel
from starlette.requests import HTTPConnection
from starlette.types import Scope

from .. import __version__
from ..asr.worker import RecognizerWorker
from ..errors import AudioError, StoreError, TingshuoError
from ..events import Segment
from ..live.anchor_desk import Anchors
from ..live.bus import LocalBus, RedisBus
from ..live.cluster import ClusterRooms
from ..live.models import Models
from ..live.retranscription import Retranscriptions
from ..live.rooms import Rooms
from ..settings import Settings
from ..store.db import SearchHit, SessionInfo, Store
from ..store.export import FORMATS, machine_text, render
from ..store.pending import open_buffered_store
from . import (
    api_anchor,
    api_anchor_room,
    api_captions,
    api_openai,
    api_rooms,
    api_sound,
    api_texts,
    corrections,
    listen,
    metrics,
    pages,
    ws,
)
from .auth import COOKIE, organizer, presented_token, same
from .limits import BodyLimit, PublicLimit, SocketCaps
from .uploads import clean_uploads, transcribe_upload

log = logging.getLogger(__name__)


class Health(BaseModel):
    status: str
    version: str
    model: str
    sessions: int
    rooms_live: int = 0
    viewers: int = 0
    # "ok", or why captions are not being saved now; and how many writes wait
    store: str = "ok"
    store_waiting: int = 0
    # the machine's second pass over live captions, when it is on: how many finals it read
    # again, corrected, skipped (the room was behind) and left to an operator's correction;
    # `keeping_up`: no more than 1 in 5 of the latest 20 skipped
    second_pass: dict[str, int | bool] | None = None
    # the model threads this process runs: "running", or "running (started again 1×)" when
    # one had stopped by itself (asking starts it again)
    threads: dict[str, str] = {}


class TranscriptOut(BaseModel):
    session: SessionInfo
    segments: list[Segment]


def create_app(settings: Settings, worker: RecognizerWorker | None = None) -> FastAPI:
    """The app; `worker` lets a caller share an already loaded recognizer (tests do)."""
    token = settings.token or secrets.token_urlsafe(18)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # every model of the process has one owner
        models = app.state.models = Models(settings, worker)
        models.meter = app.state.lags  # each live session's lags, for /metrics
        # captions never wait for the database: writes go through a journal (store/pending.py)
        app.state.store = await run_in_threadpool(open_buffered_store, settings)
        await run_in_threadpool(clean_uploads, settings)
        loop = asyncio.get_running_loop()
        if settings.bus_url:
            # a gateway: workers (`tingshuo worker`) run the rooms and hold the recognizer
            app.state.bus = RedisBus(settings.bus_url, settings.viewer_queue_size)
            app.state.rooms = ClusterRooms(settings, app.state.store, models, app.state.bus, loop)
            app.state.anchors.shared = True
        else:
            await run_in_threadpool(models.load)  # the recognizer, before any request
            # a previous process killed mid-session (kill -9, power cut) left these behind
            interrupted = app.state.store.close_interrupted_sessions()
            if interrupted:
                log.warning(
                    "%d session(s) left live by a stopped server: 'interrupted'", interrupted
                )
            app.state.bus = LocalBus(settings.viewer_queue_size)
            app.state.rooms = Rooms(settings, app.state.store, models, app.state.bus, loop)
        if settings.token is None:
            log.warning("organizer token (set TINGSHUO_TOKEN to choose one): %s", token)
        keeper = asyncio.ensure_future(api_sound.keep_days(app))  # old sound deleted daily
        # sessions' sound read again, one at a time, at the lowest priority
        app.state.retranscriptions = Retranscriptions(
            models, app.state.store, app.state.rooms.publish
        )
        yield
        keeper.cancel()
        app.state.retranscriptions.close()
        await app.state.rooms.close()
        interpreter = getattr(app.state, "interpreter", None)
        if interpreter is not None:
            interpreter.close()
        public = getattr(app.state, "public", None)
        if public is not None:
            public.close()
        await run_in_threadpool(models.close)
        if settings.bus_url:
            await run_in_threadpool(app.state.bus.close)
        await run_in_threadpool(app.state.store.close)

    # /docs and /redoc with Swagger UI and ReDoc served from the package, not a CDN
    app = FastAPIOffline(
        title="tingshuo",
        version=__version__,
        redoc_url=None,  # pages.py serves /redoc, without the one asset ReDoc fetches online
        lifespan=lifespan,
        swagger_ui_parameters={"validatorUrl": None},  # no badge from validator.swagger.io
    )
    app.state.settings = settings
    app.state.token = token
    app.state.sockets = SocketCaps(settings.max_viewers_per_address, settings.max_viewers_per_link)
    app.add_middleware(BodyLimit, limit_for=body_limits(settings))
    app.add_middleware(PublicLimit, paths=_PUBLIC.match)  # outermost: before anything is read
    app.include_router(api_rooms.router)
    app.include_router(api_texts.router)
    app.include_router(corrections.router)
    app.include_router(listen.router)
    app.include_router(ws.router)
    app.include_router(pages.router)
    app.include_router(api_anchor_room.router)
    app.include_router(api_sound.router)  # a session's recorded sound; forgetting a session
    app.include_router(api_openai.router)  # OpenAI's audio API, for the tools that speak it
    app.state.anchors = Anchors()
    metrics.install(app, settings)  # /metrics, for Prometheus
    _mount_features(app)
    pages.mount_static(app)
    # the transcript routes below are for the organizer too
    need_token = [Depends(organizer)]

    @app.exception_handler(TingshuoError)
    async def user_error(request: Request, exc: TingshuoError) -> JSONResponse:
        status = getattr(exc, "status", None) or (422 if isinstance(exc, AudioError) else 400)
        return JSONResponse({"detail": str(exc)}, status_code=status)

    def store(request: Request) -> Store:
        return request.app.state.store

    @app.get("/health")
    def health(request: Request) -> Health:
        db = store(request)
        try:
            sessions = len(db.list_sessions())
        except StoreError:  # the server still serves: it says so rather than failing
            sessions = -1
        failure = getattr(db, "failure", None) or ("cannot read" if sessions < 0 else None)
        return Health(
            status="ok" if failure is None else "degraded",
            version=__version__,
            model=request.app.state.models.recognizer_name,
            sessions=sessions,
            rooms_live=request.app.state.rooms.live_count,
            viewers=request.app.state.bus.subscribers(),
            store="ok" if failure is None else "captions are not being saved",
            store_waiting=getattr(db, "waiting", 0),
            second_pass=request.app.state.models.review_counts(),
            threads=request.app.state.models.threads(),
        )

    @app.post("/api/login", status_code=204, dependencies=need_token)
    def login(request: Request) -> Response:
        """The console's sign-in: the organizer token (sent as a header) comes back as an
        HttpOnly cookie, which the browser then sends with WebSockets and images instead of
        a `?token=` that would be written to access logs."""
        response = Response(status_code=204)
        response.set_cookie(
            COOKIE,
            request.app.state.token,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    @app.delete("/api/login", status_code=204)
    def logout() -> Response:
        response = Response(status_code=204)
        response.delete_cookie(COOKIE, httponly=True, samesite="strict")
        return response

    @app.post("/api/transcribe", dependencies=need_token)
    async def transcribe(
        request: Request,
        file: Annotated[UploadFile, File(description="any audio or video file")],
        lang: Annotated[str, Form()] = "auto",
        hotwords: Annotated[str, Form(description="terms separated by commas or new lines")] = "",
        fast: Annotated[bool, Form(description="skip the second pass")] = False,
    ) -> TranscriptOut:
        """Transcribe an uploaded recording; the result is stored as a session."""
        language = None if lang == "auto" else lang
        terms = [t.strip() for t in hotwords.replace("\n", ",").split(",") if t.strip()]
        source = file.filename or ""
        transcript, _ = await transcribe_upload(request, file, language, terms, fast, source)
        if transcript.lost is not None:
            raise transcript.lost
        info, db = transcript.info, store(request)
        return TranscriptOut(session=db.get_session(info.id), segments=db.segments(info.id))

    @app.get("/api/sessions", dependencies=need_token)
    def list_sessions(request: Request) -> list[SessionInfo]:
        return store(request).list_sessions()

    @app.get("/api/sessions/{session_id}", dependencies=need_token)
    def get_session(request: Request, session_id: str) -> TranscriptOut:
        db = store(request)
        info = _session(db, session_id)
        return TranscriptOut(session=info, segments=db.segments(info.id))

    @app.get("/api/sessions/{session_id}/export", dependencies=need_token)
    def export(
        request: Request,
        session_id: str,
        format: Annotated[str, Query(pattern="|".join(FORMATS))] = "txt",
        original: bool = False,
    ) -> Response:
        """The transcript as corrected; `original`: the machine's own text."""
        db = store(request)
        info = _session(db, session_id)
        meta = {"session": info.id, "source": info.source, "duration": info.duration}
        segs = db.segments(info.id)
        body = render(machine_text(segs) if original else segs, format, title=info.title, meta=meta)
        name = f"{Path(info.title).stem or info.id}.{format}"
        return Response(
            body,
            media_type=_MEDIA[format],
            headers={"Content-Disposition": f"attachment; filename*=UTF-8''{_quote(name)}"},
        )

    @app.get("/api/search", dependencies=need_token)
    def search(
        request: Request,
        q: Annotated[str, Query(max_length=1000)],
        limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    ) -> list[SearchHit]:
        return store(request).search(q, limit)

    api_openai.openai_errors(app)  # last: it wraps the handlers above for /v1 only
    return app


# bodies that may be large: file uploads (multipart framing on top of the file itself)
_UPLOADS = re.compile(
    r"^/api/(transcribe|rooms/[^/]+/start/file)$|^/v1/audio/(transcriptions|translations)$"
)
_DOCUMENTS = re.compile(r"^/api/rooms/[^/]+/texts$")
_SLACK = 64 * 1024
# public routes that run a model: rate-limited per client (server/limits.py)
_PUBLIC = re.compile(r"^/api/(learn/(speak|assess)|anchor/rundown)$")


def body_limits(settings: Settings):
    """Request → the largest body it may send, for the BodyLimit middleware."""
    from ..prepared.documents import MAX_BYTES as DOCUMENT_BYTES
    from .api_learn import MAX_UPLOAD_BYTES

    uploads = settings.max_upload_mb * 1024 * 1024 + _SLACK
    default = settings.max_body_kb * 1024

    def limit_for(scope: Scope) -> int:
        path = scope["path"]
        documents = _DOCUMENTS.match(path)
        if _UPLOADS.match(path) or documents:
            # the token is checked after the body is read: without it, no large body
            conn = HTTPConnection(scope)
            token = presented_token(conn)
            if token is not None and same(token, conn.app.state.token):
                return DOCUMENT_BYTES + _SLACK if documents else uploads
            if token is not None and path.startswith("/v1/") and api_openai.is_api_key(conn):
                return uploads
            return default
        if path == "/api/learn/assess":
            return MAX_UPLOAD_BYTES + _SLACK
        return default

    return limit_for


def _mount_features(app: FastAPI) -> None:
    """The anchor's stage and the learner's page. Their routers import no model: voices and
    the assessment load on first use, so start-up stays quick."""
    from . import api_learn

    app.include_router(api_anchor.router)
    app.include_router(api_learn.router)  # public: a learner has no token


def _session(db: Store, session_id: str) -> SessionInfo:
    try:
        return db.get_session(session_id)
    except TingshuoError as e:
        raise HTTPException(404, str(e)) from e


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name)


_MEDIA = api_captions.MEDIA
