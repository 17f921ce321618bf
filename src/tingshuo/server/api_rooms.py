"""REST for live rooms: create, list, change, delete; start, pause, resume, stop; the links
and QR code of the phone page. A room's captions, speakers and exports are in
`api_captions.py` (included below, under the same /api/rooms)."""

from __future__ import annotations

import csv
import io
import ipaddress
import logging
import socket
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, Field, field_validator

from ..audio.decode import probe
from ..audio.stream import StreamError
from ..errors import AudioError
from ..live.base import RoomError
from ..mt.base import LANGUAGE_NAMES
from ..store.db import RoomInfo
from . import api_captions
from .auth import check_viewer, stage_key
from .room_access import Organizer, Viewer, control, room_or_404, rooms_of
from .uploads import save_upload, upload_file

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/rooms", tags=["rooms"])

Lang = Literal["zh", "en", "auto"]


def _targets(value: list[str]) -> list[str]:
    out = []
    for lang in value:
        lang = lang.strip().lower()
        if lang not in LANGUAGE_NAMES:
            raise ValueError(f"cannot translate into {lang!r}: use {', '.join(LANGUAGE_NAMES)}")
        out.append(lang)
    return list(dict.fromkeys(out))


def _glossary(value: Any) -> list[tuple[str, str]]:
    """Pairs, or CSV text 'source term,target term' one per line (as the console sends)."""
    if isinstance(value, str):
        rows = [r for r in csv.reader(io.StringIO(value)) if r and not r[0].startswith("#")]
        value = rows
    pairs = []
    for row in value or []:
        cells = [str(c).strip() for c in row]
        if len(cells) != 2 or not all(cells):
            raise ValueError(f"glossary entries are 'source term,target term', not {row!r}")
        pairs.append((cells[0], cells[1]))
    return pairs


def _words(value: Any) -> list[str]:
    if isinstance(value, str):
        value = value.replace("\n", ",").replace("，", ",").split(",")
    return [w.strip() for w in value or [] if str(w).strip()]


class RoomIn(BaseModel):
    name: str = Field(min_length=1, max_length=300)
    lang: Lang = "auto"
    targets: list[str] = []
    hotwords: list[str] | str = []
    glossary: list[list[str]] | str = Field(
        default=[], description="[[source, target], …] or CSV text, one 'source,target' a line"
    )
    record: bool | None = Field(default=None, description="keep its sound (TINGSHUO_RECORD)")

    _t = field_validator("targets")(_targets)
    _h = field_validator("hotwords")(_words)
    _g = field_validator("glossary")(_glossary)


class RoomPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=300)
    lang: Lang | None = None
    targets: list[str] | None = None
    hotwords: list[str] | str | None = None
    glossary: list[list[str]] | str | None = None
    record: bool | None = None

    @field_validator("targets")
    @classmethod
    def _t(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else _targets(v)

    @field_validator("hotwords")
    @classmethod
    def _h(cls, v: Any) -> list[str] | None:
        return None if v is None else _words(v)

    @field_validator("glossary")
    @classmethod
    def _g(cls, v: Any) -> list[tuple[str, str]] | None:
        return None if v is None else _glossary(v)


class Links(BaseModel):
    phone: str
    screen: str
    events: str
    stage: str  # the AI anchor's stage page
    # the spoken interpretation as an ongoing MP3 stream, per target language, and the
    # room's own sound (a stage PC, a streaming encoder, OBS)
    interpretation: dict[str, str] = {}
    original: str = ""
    loopback: bool = False  # the links name this machine's loopback: phones cannot open them


class Unspoken(BaseModel):
    """Pieces of the room's interpretation in one language that the voice could not say
    (since the server started): the console shows them."""

    count: int
    reason: str  # the voice's words about the last one
    text: str  # the last one


class RoomOut(RoomInfo):
    links: Links
    source: str | None = None
    session_id: str | None = None
    # by language: pieces of the interpretation that could not be spoken (none: not there)
    unspoken: dict[str, Unspoken] = {}


class ViewerRoomOut(BaseModel):
    """A room as its viewers see it: not its hot words or glossary (the organizer's
    preparation, which may name what is not public yet)."""

    id: str
    name: str
    lang: str
    targets: list[str]
    viewer_token: str
    state: str
    created_at: datetime
    links: Links
    source: str | None = None
    session_id: str | None = None


def public_base(request: Request) -> str:
    """Where viewers reach this server: TINGSHUO_PUBLIC_URL; else, when the console was
    opened on loopback (localhost, for the microphone), this machine's LAN address if the
    server listens beyond loopback; else the URL used now."""
    settings = request.app.state.settings
    if settings.public_url:
        return settings.public_url.rstrip("/")
    base = str(request.base_url).rstrip("/")
    if not is_loopback(base):
        return base
    host = _reachable_host(settings.host)
    if host is None:
        return base
    server = request.scope.get("server")
    port = server[1] if server and server[1] else request.url.port
    return f"{request.url.scheme}://{host}" + (f":{port}" if port else "")


def is_loopback(url: str) -> bool:
    return _loopback_host(urlsplit(url).hostname or "")


def _loopback_host(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _reachable_host(bind: str) -> str | None:
    """The address phones reach a server bound to `bind` by; None if only loopback."""
    if _loopback_host(bind):
        return None
    if bind in ("", "0.0.0.0", "::"):
        return lan_address()
    return f"[{bind}]" if ":" in bind else bind


def lan_address() -> str | None:
    """This machine's LAN IPv4 address, found without the network: connecting a UDP socket
    only chooses a route and sends nothing. Else the hostname's address; None if loopback."""
    candidates = []
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 1))
            candidates.append(s.getsockname()[0])
    except OSError:
        pass
    try:
        candidates.append(socket.gethostbyname(socket.gethostname()))
    except OSError:
        pass
    for address in candidates:
        if not _loopback_host(address) and address != "0.0.0.0":
            return address
    return None


def _out(request: Request, room: RoomInfo) -> RoomOut:
    base = public_base(request)
    ws_base = "ws" + base[4:] if base.startswith("http") else base
    status = rooms_of(request).status(room.id)
    links = Links(
        phone=f"{base}/room/{room.id}?token={room.viewer_token}",
        screen=f"{base}/room/{room.id}/screen?token={room.viewer_token}",
        events=f"{ws_base}/ws/rooms/{room.id}/events?token={room.viewer_token}",
        stage=f"{base}/room/{room.id}/stage?token={room.viewer_token}"
        f"&stage={stage_key(request, room.id)}",
        interpretation={
            t: f"{base}/api/rooms/{room.id}/interpretation.mp3?lang={t}&token={room.viewer_token}"
            for t in room.targets
        },
        original=f"{base}/api/rooms/{room.id}/original.mp3?token={room.viewer_token}",
        loopback=is_loopback(base),
    )
    data = room.model_dump()
    data["state"] = status["state"]
    interpreter = getattr(request.app.state, "interpreter", None)
    unspoken = interpreter.unspoken(room.id) if interpreter is not None else {}
    return RoomOut(
        **data,
        links=links,
        source=status["source"],
        session_id=status["session_id"],
        unspoken={lang: Unspoken(**vars(u)) for lang, u in unspoken.items()},
    )


@router.post("", status_code=201, dependencies=[Organizer])
def create_room(request: Request, body: RoomIn) -> RoomOut:
    """A new room with an unguessable id and its own viewer token."""
    record = request.app.state.settings.record if body.record is None else body.record
    room = request.app.state.store.create_room(
        body.name, body.lang, body.targets, body.hotwords, body.glossary, record
    )
    log.info("room %s created: %s", room.id, room.name)
    return _out(request, room)


@router.get("", dependencies=[Organizer])
def list_rooms(request: Request) -> list[RoomOut]:
    return [_out(request, r) for r in request.app.state.store.list_rooms()]


@router.get("/{room_id}", response_model=RoomOut | ViewerRoomOut)
def get_room(request: Request, room: Viewer) -> RoomOut | ViewerRoomOut:
    out = _out(request, room)
    if check_viewer(request, room):  # the organizer
        return out
    viewer = ViewerRoomOut(**out.model_dump(exclude={"hotwords", "glossary"}))
    viewer.links.stage = viewer.links.stage.split("&stage=")[0]  # the stage's own key: not theirs
    return viewer


@router.patch("/{room_id}", dependencies=[Organizer])
def update_room(request: Request, room_id: str, body: RoomPatch) -> RoomOut:
    """Settings change between runs; a listening room keeps its settings until it stops."""
    room_or_404(request, room_id)
    if rooms_of(request).is_live(room_id):
        raise HTTPException(409, "stop the room before changing its settings")
    fields = body.model_dump(exclude_none=True)
    room = request.app.state.store.update_room(room_id, **fields)
    return _out(request, room)


@router.delete("/{room_id}", status_code=204, dependencies=[Organizer])
def delete_room(request: Request, room_id: str) -> Response:
    """The room goes (its links stop working); its sessions and transcripts stay."""
    room_or_404(request, room_id)
    rooms = rooms_of(request)
    if rooms.is_live(room_id):
        rooms.stop(room_id)
    request.app.state.store.delete_room(room_id)
    rooms.scripts.forget(room_id)  # its texts' translation stops
    return Response(status_code=204)


@router.post("/{room_id}/start/file", dependencies=[Organizer])
async def start_file(
    request: Request,
    room_id: str,
    file: Annotated[UploadFile, File(description="any audio or video file, played as live")],
    speed: Annotated[float, Form(ge=0, le=50, description="1 = real time; 0 = unpaced")] = 1.0,
) -> RoomOut:
    """Play an uploaded recording into the room as if it were live."""
    room = room_or_404(request, room_id)
    settings = request.app.state.settings
    limit = settings.max_upload_mb * 1024 * 1024
    name = Path(file.filename or "upload").name
    # kept until the room has played it (live/rooms.py removes it); in the uploads folder, so a
    # server that was killed meanwhile removes it at its next start
    tmp = upload_file(settings, name, delete=False)
    path = Path(tmp.name)
    try:
        with tmp:
            await save_upload(file, tmp, limit, f"file larger than {settings.max_upload_mb} MB")
        try:
            await run_in_threadpool(probe, path, name)  # not audio: a clear 422 now, not later
        except AudioError as e:
            raise HTTPException(422, str(e)) from None
        await rooms_of(request).start(
            room.id, "file", path=path, speed=speed, cleanup=path, label=file.filename
        )
    except RoomError as e:
        path.unlink(missing_ok=True)
        raise HTTPException(e.status, str(e)) from None
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return _out(request, room_or_404(request, room_id))


class DeviceIn(BaseModel):
    device: str | int | None = Field(default=None, description="a sounddevice name or index")


@router.post("/{room_id}/start/device", dependencies=[Organizer])
async def start_device(request: Request, room_id: str, body: DeviceIn | None = None) -> RoomOut:
    """Listen to the server's own sound input device."""
    room = room_or_404(request, room_id)
    try:
        await rooms_of(request).start(room.id, "device", device=body.device if body else None)
    except RoomError as e:
        raise HTTPException(e.status, str(e)) from None
    return _out(request, room)


class StreamIn(BaseModel):
    url: str = Field(
        max_length=2000,
        description="a stream: rtmp://, rtsp://, http(s):// (HLS, Icecast), udp://, srt://…",
    )


@router.post("/{room_id}/start/url", dependencies=[Organizer])
async def start_url(request: Request, room_id: str, body: StreamIn) -> RoomOut:
    """Listen to a network stream; it is opened now (a refusal is this call's answer) and
    reconnected while it drops, until the room stops."""
    room = room_or_404(request, room_id)
    try:
        await rooms_of(request).start(room.id, "url", url=body.url)
    except (RoomError, StreamError) as e:
        raise HTTPException(e.status, str(e)) from None
    return _out(request, room_or_404(request, room_id))


@router.post("/{room_id}/pause", dependencies=[Organizer])
def pause(request: Request, room_id: str) -> RoomOut:
    control(lambda: rooms_of(request).pause(room_id))
    return _out(request, room_or_404(request, room_id))


@router.post("/{room_id}/resume", dependencies=[Organizer])
def resume(request: Request, room_id: str) -> RoomOut:
    control(lambda: rooms_of(request).resume(room_id))
    return _out(request, room_or_404(request, room_id))


@router.post("/{room_id}/stop", dependencies=[Organizer])
def stop(request: Request, room_id: str) -> RoomOut:
    """Stop listening; captions of what was already heard still arrive, then state 'idle'."""
    control(lambda: rooms_of(request).stop(room_id))
    return _out(request, room_or_404(request, room_id))


@router.get("/{room_id}/qr.svg")
def qr(request: Request, room: Viewer) -> Response:
    """The phone link as a QR code (SVG, made here: no network)."""
    import segno

    link = f"{public_base(request)}/room/{room.id}?token={room.viewer_token}"
    out = io.BytesIO()
    segno.make(link, error="m").save(out, kind="svg", scale=8, border=2, xmldecl=False)
    return Response(
        out.getvalue(), media_type="image/svg+xml", headers={"Cache-Control": "no-store"}
    )


# a room's captions, speakers and exports: under /api/rooms too (app.py includes this router)
router.include_router(api_captions.router)
