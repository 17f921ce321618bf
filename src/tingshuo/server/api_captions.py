"""REST for a room's captions: the stored ones (catch-up), its sessions, who said them (the
speakers: named, renamed, merged) and its transcript as a file. Part of the room endpoints
(`api_rooms.py`, which includes this router under /api/rooms)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from ..events import Segment, SpeakerNamed
from ..store.db import SpeakerCount
from ..store.export import FORMATS, machine_text, render
from .room_access import MAX_ID, Organizer, Viewer, control, room_or_404, room_segment, rooms_of

router = APIRouter()

MEDIA = {
    "txt": "text/plain; charset=utf-8",
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
    "json": "application/json",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


class SpeakerIn(BaseModel):
    speaker: str | None = Field(default=None, max_length=100)


class RenameIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)
    old: str = Field(min_length=1, max_length=100)
    new: str = Field(min_length=1, max_length=100)


class MergeIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)
    source: str = Field(alias="from", min_length=1, max_length=100)
    into: str = Field(min_length=1, max_length=100)


@router.get("/{room_id}/segments")
def segments(
    request: Request,
    room: Viewer,
    since: Annotated[int, Query(ge=0, le=MAX_ID, description="only segments with a larger id")] = 0,
    limit: Annotated[int | None, Query(ge=1, le=10000)] = None,
) -> list[Segment]:
    """The room's stored finals (all its sessions), in order: scrollback and catch-up."""
    return request.app.state.store.room_segments(room.id, since, limit)


@router.get("/{room_id}/sessions", dependencies=[Organizer])
def room_sessions(request: Request, room_id: str) -> list[dict]:
    room_or_404(request, room_id)
    return [s.model_dump(mode="json") for s in request.app.state.store.room_sessions(room_id)]


@router.put("/{room_id}/segments/{segment_id}/speaker", dependencies=[Organizer])
def set_speaker(
    request: Request,
    room_id: str,
    segment_id: Annotated[int, PathParam(ge=1, le=MAX_ID)],
    body: SpeakerIn,
) -> Segment:
    """Name who said one caption; viewers get a `speaker` event."""
    store = request.app.state.store
    room_segment(store, room_or_404(request, room_id), segment_id)  # checked before it is changed
    seg = store.set_speaker(segment_id, body.speaker or None)
    if seg is None:
        raise HTTPException(404, f"no caption {segment_id} in this room")
    rooms_of(request).publish(room_id, SpeakerNamed(segment_ids=[segment_id], speaker=seg.speaker))
    return seg


@router.get("/{room_id}/speakers", dependencies=[Organizer])
def speakers(request: Request, room_id: str) -> list[SpeakerCount]:
    """The room's voices and names, in order of first appearance, with their caption counts."""
    room_or_404(request, room_id)
    return request.app.state.store.speakers(room_id)


@router.post("/{room_id}/speakers/rename", dependencies=[Organizer])
def rename_speaker(request: Request, room_id: str, body: RenameIn) -> dict:
    """Every caption of the room labelled `old` becomes `new` (e.g. 'Speaker 1' → 'Dr Li'),
    and so do the voice's later ones. A name another voice has merges the two voices."""
    room_or_404(request, room_id)
    rooms = rooms_of(request)
    ids, merged = control(lambda: rooms.rename_speaker(room_id, body.old, body.new))
    if ids:
        rooms.publish(room_id, SpeakerNamed(segment_ids=ids, speaker=body.new))
    return {"renamed": len(ids), "merged": True} if merged else {"renamed": len(ids)}


@router.post("/{room_id}/speakers/merge", dependencies=[Organizer])
def merge_speakers(request: Request, room_id: str, body: MergeIn) -> dict:
    """One person heard as two voices: every caption of `from` takes `into`'s name, and the
    diarizer knows both voices as `into` from now on."""
    room_or_404(request, room_id)
    if body.source == body.into:
        raise HTTPException(400, "choose two different speakers to merge")
    store = request.app.state.store
    if body.source not in {s.name for s in store.speakers(room_id)}:
        raise HTTPException(404, f"no speaker {body.source!r} in this room")
    rooms = rooms_of(request)
    ids = control(lambda: rooms.merge_speakers(room_id, body.source, body.into))
    if ids:
        rooms.publish(room_id, SpeakerNamed(segment_ids=ids, speaker=body.into))
    return {"merged": len(ids)}


@router.get("/{room_id}/export", dependencies=[Organizer])
def export_room(
    request: Request,
    room_id: str,
    format: Annotated[str, Query(pattern="|".join(FORMATS))] = "txt",
    bilingual: bool = False,
    original: bool = False,
) -> Response:
    """The room's whole transcript (every session), as corrected; `bilingual` adds its
    translations, `original` gives the machine's own text."""
    room = room_or_404(request, room_id)
    segs = request.app.state.store.room_segments(room_id)
    if original:
        segs = machine_text(segs)
    languages = room.targets if bilingual else []
    meta = {"room": room.id, "name": room.name}
    body = render(segs, format, title=room.name, meta=meta, languages=languages)
    from urllib.parse import quote

    name = quote(f"{room.name}.{format}")
    return Response(
        body,
        media_type=MEDIA[format],
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{name}"},
    )
