"""What `server/` may ask of a process's live rooms: the `LiveRooms` protocol.

Two implementations: `live/rooms.py` `Rooms` runs every room in this process;
`live/cluster.py` `ClusterRooms` (a gateway, TINGSHUO_BUS_URL) hands them to workers through
Redis. Both refuse a start the same way (`check_start`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ..errors import StoreError, TingshuoError
from ..events import RoomEvent
from ..rules import RuleBook
from ..settings import Settings
from ..store.db import RoomInfo, Store

if TYPE_CHECKING:
    from .bus import Bus
    from .captions import CaptionPath
    from .models import Models
    from .scripts import ScriptBook


class RoomError(TingshuoError):
    status = 400


class RoomNotFound(RoomError):
    status = 404


class RoomBusy(RoomError):
    status = 409


class TooManyRooms(RoomError):
    status = 429


class StartCancelled(RoomError):
    """A Stop came while the room was starting."""

    status = 409


def source_label(kind: str, path: Path | None, label: str | None) -> str:
    """How a session records where its sound came from."""
    default = {"push": "websocket", "file": str(path), "device": "sound device", "url": "stream"}
    return label or default[kind]


def check_start(room: RoomInfo, busy: str | None, live: int, settings: Settings) -> None:
    """A room already listening (`busy`: how), or the process at its room limit, refuses."""
    if busy is not None:
        how = f" ({busy})" if busy else ""
        raise RoomBusy(f"room {room.name!r} is already listening{how}; stop it first")
    if live >= settings.max_live_rooms:
        raise TooManyRooms(
            f"{live} rooms are listening, the limit "
            f"(TINGSHUO_MAX_LIVE_ROOMS) is {settings.max_live_rooms}"
        )


# each room as this process last read it: a room starts (and viewers join) while the
# database is away (its session is journaled, store/pending.py)
_known_rooms: dict[str, RoomInfo] = {}


def lookup(store: Store, room_id: str) -> RoomInfo:
    try:
        room = store.get_room(room_id)
    except StoreError:
        known = _known_rooms.get(room_id)
        if known is None:
            raise
        return known
    if room is None:
        _known_rooms.pop(room_id, None)
        raise RoomNotFound(f"no room {room_id!r}: check the link or create the room")
    _known_rooms[room_id] = room
    return room


def room_states(store: Store, running: Iterable[str]) -> dict[str, int]:
    """Rooms by state (/metrics): `running`, the state of each room listening or starting
    ("live", "paused", "starting"); the store's other rooms are idle (left out while the
    store cannot be read)."""
    counts = dict.fromkeys(("live", "paused", "starting"), 0)
    for state in running:
        counts[state] = counts.get(state, 0) + 1
    try:
        counts["idle"] = max(len(store.list_rooms()) - sum(counts.values()), 0)
    except StoreError:
        pass
    return counts


class LiveRooms(Protocol):
    """A process's live rooms, as routes and sockets see them. A run is an opaque handle:
    `start` gives it, `takes_audio` checks it."""

    settings: Settings
    store: Store
    models: Models
    bus: Bus
    loop: asyncio.AbstractEventLoop
    rulebook: RuleBook
    scripts: ScriptBook

    def room(self, room_id: str) -> RoomInfo: ...

    def status(self, room_id: str) -> dict[str, Any]: ...

    @property
    def live_count(self) -> int: ...

    def is_live(self, room_id: str) -> bool: ...

    def states(self) -> dict[str, int]: ...

    def takes_audio(self, room_id: str, run: Any) -> bool: ...

    def backlog_s(self, room_id: str) -> float: ...

    def session_clock(self, room_id: str) -> tuple[str, float] | None: ...

    def publish(self, room_id: str, event: RoomEvent) -> None: ...

    def captions(self, room: RoomInfo) -> CaptionPath: ...

    def rename_speaker(self, room_id: str, old: str, new: str) -> tuple[list[int], bool]: ...

    def texts_changed(self, room_id: str) -> None: ...

    def script_place(self, room_id: str) -> dict[str, tuple[int, int]]: ...

    def move_script(self, room_id: str, text_id: int, index: int) -> None: ...

    def merge_speakers(self, room_id: str, source: str, into: str) -> list[int]: ...

    async def start(
        self,
        room_id: str,
        kind: str,
        path: Path | None = None,
        speed: float = 1.0,
        device: str | int | None = None,
        cleanup: Path | None = None,
        label: str | None = None,
        url: str | None = None,
    ) -> Any: ...

    def push(self, room_id: str, samples: np.ndarray) -> None: ...

    def pause(self, room_id: str) -> object: ...

    def resume(self, room_id: str) -> object: ...

    def stop(self, room_id: str) -> object: ...

    def tap(self, room_id: str, listener: Callable[[np.ndarray], Any]) -> None: ...

    async def close(self) -> None: ...
