"""Listening to the interpretation (耳机听译), with the room's viewer token: each caption's
translation spoken (what a phone plays, line by line), and the room's interpretation as one
ongoing MP3 stream (what a stage PC, a streaming encoder or OBS plays)."""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import Future
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from ..errors import TingshuoError
from ..live.interpretation import Interpreter
from ..live.spoken import Spoken
from ..store.db import RoomInfo
from .room_access import MAX_ID, Viewer, room_segment, rooms_of

log = logging.getLogger(__name__)

router = APIRouter(tags=["interpretation"])

# a line whose synthesis takes longer than this is not worth waiting for: the phone skips it
SPEECH_WAIT_S = 10.0
Lang = Annotated[str, Query(min_length=2, max_length=8, pattern=r"^[a-z]{2,3}(-[A-Za-z]+)?$")]


def interpreter(request: Request) -> Interpreter:
    state = request.app.state
    if getattr(state, "interpreter", None) is None:
        models = rooms_of(request).models
        # as low as translation, below recognition: a piece late by a second is a line lost
        state.interpreter = Interpreter(models.voice, nice=models.settings.mt_nice)
    return state.interpreter


def _check_lang(room: RoomInfo, lang: str) -> None:
    spoken = [*room.targets, *([room.lang] if room.lang != "auto" else [])]
    if lang not in spoken:
        raise HTTPException(
            404, f"this room is not interpreted into {lang!r}: it has {', '.join(spoken) or 'none'}"
        )


@router.post("/api/rooms/{room_id}/listen", status_code=204)
async def listening(request: Request, room: Viewer, lang: Lang) -> None:
    """A phone turned Listen on (and says so again now and then): the room's lines in
    `lang` are synthesized as their translations come, before anyone asks for them."""
    _check_lang(room, lang)
    interpreter(request).follow(room.id, lang, request.app.state.bus)


@router.get("/api/rooms/{room_id}/speech/{segment_id}")
async def caption_speech(
    request: Request,
    room: Viewer,
    segment_id: Annotated[int, PathParam(ge=1, le=MAX_ID)],
    lang: Lang,
    part: Annotated[int | None, Query(ge=0, le=1000)] = None,
    wait: Annotated[float, Query(ge=0, le=10)] = 0.0,
) -> Response:
    """A caption spoken in `lang` (its translation, or its own words when it was said in
    that language), MP3, made once for every listener.

    With `part`, the line's pieces as a phone plays them: piece 0 is its first words, cut
    while the translation is still being written, then 1, 2… until 204 (the line has no
    more: it ended, or was skipped to keep up). A piece not cut yet is waited for up to
    `wait` seconds (then 204). A piece the voice cannot say answers 422 with `X-Unspoken`
    (counted for the console): the phone goes on to the next. Without `part`: the whole
    stored translation (404 while it has not come)."""
    _check_lang(room, lang)
    speaker = interpreter(request)
    script = speaker.follow(room.id, lang, request.app.state.bus)
    if part is not None and segment_id in script.lines:
        piece = await script.piece(segment_id, part, wait)
        if piece is None:
            return Response(status_code=204)
        return await _spoken(piece.spoken, {"X-Part": str(part)})
    if part:  # a line from before the script followed the room: its part 0 was all of it
        return Response(status_code=204)
    deadline = time.monotonic() + wait
    while True:  # the database is read off the event loop
        seg = await run_in_threadpool(room_segment, request.app.state.store, room, segment_id)
        text = seg.text if seg.lang == lang else seg.translations.get(lang, "")
        if text.strip() or part is None:
            break
        # not translated yet, and the script has not heard of it: its first piece, or the
        # stored translation, whichever comes first
        piece = await script.piece(segment_id, 0, min(0.5, deadline - time.monotonic()))
        if piece is not None:
            return await _spoken(piece.spoken, {"X-Part": "0"})
        if time.monotonic() >= deadline:
            return Response(status_code=204)
    if not text.strip():
        raise HTTPException(404, f"caption {segment_id} has no {lang} translation yet")
    try:
        future = speaker.speech(text, lang)
    except TingshuoError as e:
        raise HTTPException(422, str(e)) from None
    if part == 0:  # a phone plays this line whole: counted if the voice cannot say it
        speaker.watch(future, room.id, lang, segment_id, 0, " ".join(text.split()))
    return await _spoken(future, {"X-Text-Revision": str(seg.revision)})


async def _spoken(future: Future[Spoken], headers: dict[str, str]) -> Response:
    try:
        spoken = await asyncio.wait_for(asyncio.wrap_future(future), SPEECH_WAIT_S)
    except TimeoutError:
        raise HTTPException(503, "the voice is busy: this line is skipped") from None
    except TingshuoError as e:  # the voice cannot say it (the console counts it)
        raise HTTPException(422, str(e), headers={"X-Unspoken": "1"}) from None
    return Response(
        spoken.mp3,
        media_type="audio/mpeg",
        headers={
            "Cache-Control": "private, max-age=3600",
            "X-Duration": f"{spoken.duration:.3f}",
            **headers,
        },
    )


@router.get("/api/rooms/{room_id}/interpretation.mp3")
async def interpretation_stream(request: Request, room: Viewer, lang: Lang) -> StreamingResponse:
    """The room's interpretation in `lang` as an ongoing MP3 stream (open it in any audio
    player or an OBS media source, with `?token=<viewer>&lang=en`). Encoded once for every
    listener; silence while nobody speaks."""
    _check_lang(room, lang)
    stream = interpreter(request).stream(room.id, lang, request.app.state.bus)
    return StreamingResponse(
        stream.listen(),
        media_type="audio/mpeg",
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/api/rooms/{room_id}/original.mp3")
async def original_stream(request: Request, room: Viewer) -> StreamingResponse:
    """The room's own sound, live, as MP3 ("Original" listening: an overflow room, the hard
    of hearing). Silence while the room is quiet or paused. With workers, any gateway relays
    it from the room's audio stream in Redis."""
    rooms = rooms_of(request)
    relay = interpreter(request).relay(room.id)
    rooms.tap(room.id, relay.feed)
    return StreamingResponse(
        relay.listen(),
        media_type="audio/mpeg",
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )
