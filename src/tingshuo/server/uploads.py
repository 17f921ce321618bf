"""Where uploads wait while they are decoded: one folder under the cache dir, each file
named with the process that owns it, so that a server starting after a crash (kill -9)
finds and removes what a dead process left behind, and never a living server's files."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import IO

from fastapi import Request, UploadFile
from fastapi.concurrency import run_in_threadpool

from ..audio.decode import SAMPLE_RATE, load_audio
from ..live.transcription import Transcript, transcribe_file
from ..settings import Settings

log = logging.getLogger(__name__)

CHUNK = 1 << 20


def upload_dir(settings: Settings) -> Path:
    return settings.cache_dir / "uploads"


def upload_file(settings: Settings, filename: str | None, delete: bool = True) -> IO[bytes]:
    """A named temporary file for an upload, in the uploads folder."""
    folder = upload_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    suffix = Path(filename or "upload").suffix[:16]
    return tempfile.NamedTemporaryFile(
        dir=folder, prefix=f"upload-{os.getpid()}-", suffix=suffix, delete=delete
    )


async def save_upload(file: UploadFile, out: IO[bytes], limit: int, too_large: str) -> int:
    """Copy the upload to `out`, refusing (413) past `limit` bytes; returns its size."""
    from fastapi import HTTPException

    size = 0
    while chunk := await file.read(CHUNK):
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, too_large)
        out.write(chunk)
    out.flush()
    return size


async def transcribe_upload(
    request: Request,
    file: UploadFile,
    lang: str | None,
    hotwords: list[str],
    fast: bool,
    source: str,
) -> tuple[Transcript, float]:
    """An uploaded recording transcribed and stored as a session (`POST /api/transcribe`,
    the OpenAI API): the transcript and the audio's duration (s). Raises `TingshuoError`
    for a language the recognizer lacks, `AudioError` for what is not audio, 413 past the
    upload limit."""
    settings = request.app.state.settings
    models = request.app.state.models
    worker = await run_in_threadpool(lambda: models.worker)
    if lang is None and not getattr(worker.recognizer, "multilingual", True):
        lang = "en"  # an English-only model (tiny.en) detects nothing
    worker.recognizer.check_language(lang)
    name = Path(file.filename or "upload").name
    with upload_file(settings, name) as tmp:
        limit = settings.max_upload_mb * 1024 * 1024
        await save_upload(file, tmp, limit, f"file larger than {settings.max_upload_mb} MB")
        samples = await run_in_threadpool(load_audio, tmp.name, settings.max_transcribe_s, name)
    reviewer = None if fast else await run_in_threadpool(models.file_second_pass)
    transcript = await run_in_threadpool(
        lambda: transcribe_file(
            samples,
            worker,
            request.app.state.store,
            settings,
            title=name,
            source=source or name,
            lang=lang,
            hotwords=hotwords,
            second_pass=reviewer,
        )
    )
    return transcript, samples.size / SAMPLE_RATE


def clean_uploads(settings: Settings) -> int:
    """Remove uploads whose process is gone; returns how many."""
    folder = upload_dir(settings)
    if not folder.is_dir():
        return 0
    removed = 0
    for path in folder.glob("upload-*"):
        try:
            pid = int(path.name.split("-")[1])
        except (IndexError, ValueError):
            continue
        if pid == os.getpid() or _alive(pid):
            continue  # in use
        try:
            path.unlink()
            removed += 1
        except OSError as e:
            log.warning("cannot remove the leftover upload %s: %s", path, e.strerror)
    if removed:
        log.warning("removed %d upload(s) left behind by a server that stopped abruptly", removed)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True
