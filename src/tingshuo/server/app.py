"""The FastAPI app: health, file transcription, stored sessions, exports and search."""

from __future__ import annotations

import logging
import tempfile
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from .. import __version__
from ..asr import load_recognizer
from ..asr.streaming import policy_config, transcribe_audio
from ..asr.worker import RecognizerWorker
from ..audio.decode import SAMPLE_RATE, load_audio
from ..errors import AudioError, TingshuoError
from ..events import Segment
from ..settings import Settings
from ..store.db import SearchHit, SessionInfo, Store, open_store
from ..store.export import FORMATS, render

log = logging.getLogger(__name__)

_MEDIA = {
    "txt": "text/plain; charset=utf-8",
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
    "json": "application/json",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


class Health(BaseModel):
    status: str
    version: str
    model: str
    sessions: int


class TranscriptOut(BaseModel):
    session: SessionInfo
    segments: list[Segment]


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # one recognizer for the whole process, loaded before the first request
        recognizer = await run_in_threadpool(load_recognizer, settings)
        app.state.worker = RecognizerWorker(recognizer, settings.asr_queue_size)
        app.state.store = open_store(settings.database_url)
        yield
        app.state.worker.close()

    app = FastAPI(title="tingshuo", version=__version__, lifespan=lifespan)

    @app.exception_handler(TingshuoError)
    async def user_error(request: Request, exc: TingshuoError) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc)}, status_code=422 if isinstance(exc, AudioError) else 400
        )

    def store(request: Request) -> Store:
        return request.app.state.store

    @app.get("/health")
    def health(request: Request) -> Health:
        worker: RecognizerWorker = request.app.state.worker
        return Health(
            status="ok",
            version=__version__,
            model=str(getattr(worker.recognizer, "model_dir", worker.recognizer.name)),
            sessions=len(store(request).list_sessions()),
        )

    @app.post("/api/transcribe")
    async def transcribe(
        request: Request,
        file: Annotated[UploadFile, File(description="any audio or video file")],
        lang: Annotated[str, Form()] = "auto",
        hotwords: Annotated[str, Form(description="terms separated by commas or new lines")] = "",
    ) -> TranscriptOut:
        """Transcribe an uploaded recording; the result is stored as a session."""
        language = None if lang == "auto" else lang
        worker: RecognizerWorker = request.app.state.worker
        worker.recognizer.check_language(language)
        terms = [t.strip() for t in hotwords.replace("\n", ",").split(",") if t.strip()]
        limit = settings.max_upload_mb * 1024 * 1024
        suffix = Path(file.filename or "upload").suffix
        with tempfile.NamedTemporaryFile(suffix=suffix) as tmp:
            size = 0
            while chunk := await file.read(1 << 20):
                size += len(chunk)
                if size > limit:
                    raise HTTPException(413, f"file larger than {settings.max_upload_mb} MB")
                tmp.write(chunk)
            tmp.flush()
            samples = await run_in_threadpool(load_audio, tmp.name)
        db = store(request)
        info = db.create_session(file.filename or "upload", file.filename or "", lang, terms)

        def run() -> list[Segment]:
            out = []
            config = policy_config(settings)
            for seg in transcribe_audio(worker, samples, config, language, terms):
                seg.session_id = info.id
                out.append(db.add_segment(seg))
            return out

        try:
            segments = await run_in_threadpool(run)
        finally:
            db.finish_session(info.id, "done", samples.size / SAMPLE_RATE)
        return TranscriptOut(session=db.get_session(info.id), segments=segments)

    @app.get("/api/sessions")
    def list_sessions(request: Request) -> list[SessionInfo]:
        return store(request).list_sessions()

    @app.get("/api/sessions/{session_id}")
    def get_session(request: Request, session_id: str) -> TranscriptOut:
        db = store(request)
        info = _session(db, session_id)
        return TranscriptOut(session=info, segments=db.segments(info.id))

    @app.get("/api/sessions/{session_id}/export")
    def export(
        request: Request,
        session_id: str,
        format: Annotated[str, Query(pattern="|".join(FORMATS))] = "txt",
    ) -> Response:
        db = store(request)
        info = _session(db, session_id)
        meta = {"session": info.id, "source": info.source, "duration": info.duration}
        body = render(db.segments(info.id), format, title=info.title, meta=meta)
        name = f"{Path(info.title).stem or info.id}.{format}"
        return Response(
            body,
            media_type=_MEDIA[format],
            headers={"Content-Disposition": f"attachment; filename*=UTF-8''{_quote(name)}"},
        )

    @app.get("/api/search")
    def search(request: Request, q: str, limit: int = 100) -> list[SearchHit]:
        return store(request).search(q, limit)

    return app


def _session(db: Store, session_id: str) -> SessionInfo:
    try:
        return db.get_session(session_id)
    except TingshuoError as e:
        raise HTTPException(404, str(e)) from e


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name)
