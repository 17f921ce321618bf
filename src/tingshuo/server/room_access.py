"""The room a REST request is about, and who may ask: the dependencies and checks that the
room endpoints share (`api_rooms.py`, `api_captions.py`, `corrections.py`, `listen.py`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import Depends, HTTPException, Request

from ..events import Segment
from ..live.base import LiveRooms, RoomError
from ..store.db import RoomInfo, Store
from .auth import Denied, check_viewer, organizer

# ids and positions are SQL integers: larger values are a 422, not an overflow inside the driver
MAX_ID = 2**63 - 1

T = TypeVar("T")


def rooms_of(request: Request) -> LiveRooms:
    return request.app.state.rooms


def room_or_404(request: Request, room_id: str) -> RoomInfo:
    try:
        return rooms_of(request).room(room_id)
    except RoomError as e:
        raise HTTPException(e.status, str(e)) from None


def room_segment(store: Store, room: RoomInfo, segment_id: int) -> Segment:
    """A stored caption of this room (404 for one of another room, or none)."""
    seg = store.get_segment(segment_id)
    if seg is None or seg.session_id not in {s.id for s in store.room_sessions(room.id)}:
        raise HTTPException(404, f"no caption {segment_id} in this room")
    return seg


def viewer_room(request: Request, room_id: str) -> RoomInfo:
    """Dependency: the room, for its viewers and the organizer."""
    try:
        room = rooms_of(request).room(room_id)
        check_viewer(request, room)
    except Denied as e:
        raise e.http() from None
    except RoomError as e:
        raise HTTPException(e.status, str(e)) from None
    return room


Organizer = Depends(organizer)
Viewer = Annotated[RoomInfo, Depends(viewer_room)]


def control(fn: Callable[[], T]) -> T:
    """`fn()`, a room's refusal (busy, not found…) as its HTTP status."""
    try:
        return fn()
    except RoomError as e:
        raise HTTPException(e.status, str(e)) from None
