"""A session's recorded sound (live/recording.py): heard back as one Ogg/Opus file with `Range`
(a browser's `<audio>` seeks), or a stretch of it; a session forgotten; old sound deleted after
TINGSHUO_KEEP_AUDIO_DAYS. Organizer only."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel

from ..errors import TingshuoError
from ..live.retranscription import Busy
from ..store.db import Retranscription, SessionInfo, Store
from ..store.sound import SoundMissing, now, session_sound, session_sound_check
from .room_access import Organizer

log = logging.getLogger(__name__)
router = APIRouter()

KEEP_CHECK_S = 24 * 3600.0  # old sound is looked for at start and daily
_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


def session_of(store: Store, session_id: str) -> SessionInfo:
    try:
        return store.get_session(session_id)
    except TingshuoError as e:
        raise HTTPException(404, str(e)) from e


def ranged(request: Request, body: bytes, media: str, name: str) -> Response:
    """`body`, or the one byte range the request asks for (206)."""
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Disposition": f'inline; filename="{name}"',
        "Cache-Control": "no-store",
    }
    asked = request.headers.get("range")
    match = _RANGE.match(asked.strip()) if asked else None
    if match is None or match.groups() == ("", ""):
        return Response(body, media_type=media, headers=headers)
    size = len(body)
    first, last = match.groups()
    if first:
        lo, hi = int(first), min(int(last) if last else size - 1, size - 1)
    else:  # the last N bytes
        lo, hi = max(size - int(last), 0), size - 1
    if lo >= size or hi < lo:
        headers["Content-Range"] = f"bytes */{size}"
        return Response(status_code=416, headers=headers)
    headers["Content-Range"] = f"bytes {lo}-{hi}/{size}"
    return Response(body[lo : hi + 1], status_code=206, media_type=media, headers=headers)


@router.get("/api/sessions/{session_id}/audio", dependencies=[Organizer])
def session_audio(
    request: Request,
    session_id: str,
    start: Annotated[float | None, Query(description="seconds into the session")] = None,
    end: Annotated[float | None, Query(description="seconds into the session")] = None,
) -> Response:
    """The session's recorded sound (Ogg/Opus) with `Range`; `start`/`end`: that stretch."""
    store = request.app.state.store
    info = session_of(store, session_id)
    try:
        body = session_sound(store, info, start, end)
    except SoundMissing as e:
        raise HTTPException(404, str(e)) from e
    except ValueError as e:
        raise HTTPException(422, str(e)) from e
    return ranged(request, body, "audio/ogg", f"{info.id}.ogg")


class RetranscribeOut(BaseModel):
    retranscribe: Retranscription


@router.post(
    "/api/sessions/{session_id}/retranscribe",
    status_code=202,
    dependencies=[Organizer],
    responses={404: {"description": "no such session, or it has no sound (which says why)"},
               409: {"description": "the session is live, or already being read again"}},
)  # fmt: skip
def retranscribe(request: Request, session_id: str) -> RetranscribeOut:
    """Read the session's sound again at full quality (beam 5, the second pass, the room's hot
    words, rules and prepared texts), in the background at the lowest priority. Captions an
    operator corrected stay; others get the new text as a revision, translated again.
    `GET /api/sessions/{id}` shows its `retranscribe` state and progress."""
    store = request.app.state.store
    info = session_of(store, session_id)
    try:
        session_sound_check(store, info)
        request.app.state.retranscriptions.start(info)
    except SoundMissing as e:
        raise HTTPException(404, str(e)) from e
    except Busy as e:
        raise HTTPException(409, str(e)) from e
    state = session_of(store, info.id).retranscribe
    assert state is not None
    return RetranscribeOut(retranscribe=state)


@router.delete("/api/sessions/{session_id}", status_code=204, dependencies=[Organizer])
def delete_session(request: Request, session_id: str) -> Response:
    """The session's captions, their revisions and translations, and its sound, gone."""
    store = request.app.state.store
    info = session_of(store, session_id)
    if info.status == "live":  # its room still writes captions and sound into it
        raise HTTPException(409, "the session is live: stop its room first")
    store.delete_session(info.id)
    log.info("session %s deleted", info.id)
    return Response(status_code=204)


def forget_old_sound(store: Store, days: float) -> list[str]:
    gone = store.forget_sound(now() - timedelta(days=days))
    if gone:
        log.info("the sound of %d session(s) older than %g days deleted", len(gone), days)
    return gone


async def keep_days(app: FastAPI) -> None:
    """TINGSHUO_KEEP_AUDIO_DAYS: old sound deleted at start, then daily (its text stays)."""
    days = app.state.settings.keep_audio_days
    while days:
        try:
            await run_in_threadpool(forget_old_sound, app.state.store, days)
        except TingshuoError as e:  # the database away: the next day's check
            log.warning("old sound not deleted: %s", e)
        await asyncio.sleep(KEEP_CHECK_S)
