"""The two WebSockets of a room: audio in (organizer) and events out (viewers).

See docs/protocol.md for the messages and close codes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import av
import numpy as np
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from fastapi.concurrency import run_in_threadpool

from ..audio.decode import SAMPLE_RATE
from ..errors import TingshuoError
from ..events import Correction, Final, Translation
from ..live.base import LiveRooms, RoomError
from ..live.bus import Bus, Message
from .auth import Denied, check_organizer, check_viewer
from .limits import SQUAT_PAUSE_S, client_address, is_organizer_token, socket_caps

log = logging.getLogger(__name__)

router = APIRouter()

# close codes besides the 44xx of auth.py
WS_TOO_BIG = 1009  # an audio frame over the limit
WS_UNSUPPORTED = 1003  # not PCM s16le (odd length, an encoded file)
WS_TRY_LATER = 1013  # too many connections
WS_BAD_MESSAGE = 4400  # a text message that is not a known JSON command
WS_CONFLICT = 4409  # the room already listens to another source
WS_TOO_SLOW = 4408  # a viewer that fell too far behind; reconnect with since=
# uvicorn closes every socket with 1012 (Service Restart) when the server stops (SIGTERM):
# pages reconnect at once, and a load balancer sends them to another gateway
WS_RESTART = 1012

MIN_RATE, MAX_RATE = 8_000, 192_000
MAX_ID = 2**63 - 1  # segment ids are SQL integers
# the first bytes of encoded files people send by mistake instead of raw PCM
_CONTAINERS = (b"RIFF", b"fLaC", b"OggS", b"ID3", b"\x1aE\xdf\xa3", b"ftyp")


def _rooms(ws: WebSocket) -> LiveRooms:
    return ws.app.state.rooms


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    log.info("closing a socket: %d %s", code, reason)
    with contextlib.suppress(Exception):
        await ws.close(code, reason[:120])  # a close reason is at most 123 bytes


class PcmDecoder:
    """s16le mono bytes at any rate → 16 kHz float32, resampled by PyAV (libswresample)."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._resampler = (
            None
            if rate == SAMPLE_RATE
            else av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        )

    def __call__(self, data: bytes) -> np.ndarray:
        pcm = np.frombuffer(data, dtype="<i2")
        if self._resampler is None:
            return pcm.astype(np.float32) / 32768.0
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = self.rate
        out = [f.to_ndarray().reshape(-1) for f in self._resampler.resample(frame)]
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def _bad_frame(data: bytes, limit: int) -> tuple[int, str] | None:
    if len(data) > limit:
        return WS_TOO_BIG, f"audio frame of {len(data)} bytes is over the limit of {limit}"
    if any(data.startswith(magic) or data[4:8] == magic for magic in _CONTAINERS):
        return WS_UNSUPPORTED, "send raw PCM s16le mono samples, not an encoded file"
    if len(data) % 2:
        return WS_UNSUPPORTED, "audio frame has an odd number of bytes: expected PCM s16le"
    return None


@router.websocket("/ws/rooms/{room_id}/audio")
async def audio_in(ws: WebSocket, room_id: str) -> None:
    """Organizer: binary frames of PCM s16le mono (16 kHz unless `start` says otherwise)."""
    await ws.accept()
    rooms = _rooms(ws)
    settings = rooms.settings
    try:
        check_organizer(ws)
        room = await run_in_threadpool(rooms.room, room_id)
    except Denied as e:
        return await _close(ws, e.ws_code, e.reason)
    except RoomError as e:
        return await _close(ws, 4000 + e.status, str(e))
    decode = PcmDecoder(SAMPLE_RATE)
    run = None
    going_away = False  # this server stops: the room goes on through another gateway
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                going_away = message.get("code") == WS_RESTART
                break
            if message.get("bytes") is not None:
                data: bytes = message["bytes"]
                bad = _bad_frame(data, settings.ws_max_frame_bytes)
                if bad is not None:
                    return await _close(ws, *bad)
                if run is None:
                    run = await rooms.start(room.id, "push")
                    await ws.send_json({"type": "ready", **run.describe()})
                if not rooms.takes_audio(room.id, run):
                    # stopped from the console or REST
                    run = None
                    return await _close(ws, 1000, "the room was stopped")
                # (off the event loop: with workers, each block and backlog is a Redis call)
                await run_in_threadpool(rooms.push, room.id, decode(data))
                # a sender faster than the recognizer is slowed down, not buffered without end
                while rooms.takes_audio(room.id, run) and (
                    await run_in_threadpool(rooms.backlog_s, room.id) > settings.audio_backlog_s
                ):
                    await asyncio.sleep(0.05)
                continue
            try:
                command: dict[str, Any] = json.loads(message.get("text") or "")
                kind = command["type"]
            except (ValueError, KeyError, TypeError):
                return await _close(ws, WS_BAD_MESSAGE, "expected binary audio or a JSON command")
            if kind == "start":
                if run is not None:
                    return await _close(ws, WS_BAD_MESSAGE, "'start' must come before any audio")
                rate = command.get("sample_rate", SAMPLE_RATE)
                if not isinstance(rate, int) or not MIN_RATE <= rate <= MAX_RATE:
                    return await _close(
                        ws, WS_BAD_MESSAGE, f"sample_rate must be {MIN_RATE}..{MAX_RATE} Hz"
                    )
                if command.get("format", "s16le") != "s16le":
                    return await _close(ws, WS_BAD_MESSAGE, "only format 's16le' is supported")
                decode = PcmDecoder(rate)
                run = await rooms.start(room.id, "push")
                await ws.send_json({"type": "ready", "sample_rate": rate, **run.describe()})
            elif kind in ("pause", "resume", "stop") and run is not None:
                await run_in_threadpool(getattr(rooms, kind), room.id)
                if kind == "stop":
                    run = None
                    await ws.send_json({"type": "stopped"})
                    await ws.close(1000, "stopped")
                    return
            elif kind == "ping":
                await ws.send_json({"type": "pong"})
            else:
                return await _close(ws, WS_BAD_MESSAGE, f"unknown or untimely command {kind!r}")
    except TingshuoError as e:  # a busy room, too many rooms, a language the model lacks
        status = getattr(e, "status", 400)
        code = WS_CONFLICT if status == 409 else WS_TRY_LATER if status == 429 else 4400
        run = None
        return await _close(ws, code, str(e))
    except WebSocketDisconnect:
        pass
    finally:
        # the sender is gone: what it sent is still transcribed, then the session ends
        # (unless this server stops: its console reconnects, `LiveRooms.close` lets go)
        if run is not None and not going_away and rooms.takes_audio(room.id, run):
            rooms.stop(room.id)


@router.websocket("/ws/rooms/{room_id}/events")
async def events_out(ws: WebSocket, room_id: str, since: int = 0) -> None:
    """Viewers: stored finals after segment `since`, then live events, no gap, no duplicate."""
    await ws.accept()
    rooms = _rooms(ws)
    bus: Bus = rooms.bus
    settings = rooms.settings
    if not 0 <= since <= MAX_ID:
        return await _close(ws, WS_BAD_MESSAGE, f"since must be a segment id, 0..{MAX_ID}")
    # a squatter is refused before any database read, and after a pause that slows one
    # retrying in a loop at no cost (the organizer, known by token alone, is never capped)
    caps = socket_caps(ws)
    address = client_address(ws)
    if caps.address_full(address) and not is_organizer_token(ws):
        await asyncio.sleep(SQUAT_PAUSE_S)
        return await _close(ws, WS_TRY_LATER, caps.address_refusal())
    try:
        room = await run_in_threadpool(rooms.room, room_id)
        is_organizer = check_viewer(ws, room)
    except Denied as e:
        return await _close(ws, e.ws_code, e.reason)
    except RoomError as e:
        return await _close(ws, 4000 + e.status, str(e))
    if bus.subscribers(room.id) >= settings.max_viewers_per_room:
        return await _close(
            ws, WS_TRY_LATER, f"this room has its limit of {settings.max_viewers_per_room} viewers"
        )
    if bus.subscribers() >= settings.max_viewers:
        return await _close(ws, WS_TRY_LATER, "the server has too many viewers; try again later")
    if is_organizer:  # the console and stage: never capped below the server's limit
        return await _events(ws, rooms, bus, room, since)
    # one phone or one shared link cannot take every seat (issue 12: socket squatting)
    link = (room.id, room.viewer_token)
    refused = caps.acquire(address, link)
    if refused is not None:
        return await _close(ws, WS_TRY_LATER, refused)
    try:
        await _events(ws, rooms, bus, room, since)
    finally:
        caps.release(address, link)


async def _events(ws: WebSocket, rooms: LiveRooms, bus: Bus, room, since: int) -> None:
    # subscribe first, then read the store: a final stored meanwhile is in both and sent once
    # (with Redis, neither waits on the event loop)
    sub = await bus.subscribe_async(room.id)
    try:
        status, seq = await run_in_threadpool(lambda: (rooms.status(room.id),
                                                       bus.last_seq(room.id)))  # fmt: skip
        hello = {
            "type": "hello",
            "room": {
                "id": room.id,
                "name": room.name,
                "lang": room.lang,
                "targets": room.targets,
            },
            **status,
            "seq": seq,
        }
        await ws.send_json(hello)
        stored = await run_in_threadpool(rooms.store.room_segments, room.id, max(since, 0))
        last_id = since
        have: dict[tuple[int, str], str] = {}
        for seg in stored:
            await ws.send_text(
                json.dumps(
                    {"type": "final", "replay": True, "segment": seg.model_dump(mode="json")},
                    ensure_ascii=False,
                )
            )
            last_id = max(last_id, seg.id or 0)
            for lang, text in seg.translations.items():
                have[(seg.id or 0, lang)] = text
        if since > 0:  # captions it saw that were corrected since
            for seg in await run_in_threadpool(rooms.store.corrected_segments, room.id, since):
                correction = Correction.of(seg, translations=seg.translations)
                await ws.send_text(
                    json.dumps({**correction.model_dump(mode="json"), "replay": True},
                               ensure_ascii=False)
                )  # fmt: skip
                for lang, text in seg.translations.items():
                    have[(seg.id or 0, lang)] = text
        await ws.send_json({"type": "caught_up", "last_segment_id": last_id})

        def fresh(msg: Message) -> bool:
            event = msg.event
            if isinstance(event, Final):  # one the store could not number is shown all the same
                return event.segment.id is None or event.segment.id > last_id
            if isinstance(event, Translation) and event.segment_id is not None:
                return have.get((event.segment_id, event.lang)) != event.text
            return True

        async def send() -> None:
            while True:
                msg = await sub.get()
                if fresh(msg):
                    await ws.send_text(msg.text)

        async def receive() -> None:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    return

        tasks = [
            asyncio.ensure_future(send()),
            asyncio.ensure_future(receive()),
            asyncio.ensure_future(sub.dropped.wait()),
        ]
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        if sub.dropped.is_set():
            await asyncio.wait_for(
                _close(ws, WS_TOO_SLOW, "too slow: reconnect with since=<last segment id>"), 2
            )
    except (WebSocketDisconnect, RuntimeError, TimeoutError):
        pass
    finally:
        bus.unsubscribe(sub)
