"""Publish/subscribe of room events.

`Bus` is the interface; `LocalBus` keeps everything in this process (the default). A Redis
bus can come later behind the same interface for several server processes.

Every event of a room gets the next number of that room's sequence, so a viewer can tell
that nothing was lost between two events it received. Each subscriber has its own bounded
queue: a viewer that does not keep up is dropped (and told so) rather than slowing the
publisher or the other viewers; it reconnects and catches up from the store.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Protocol

from ..events import Final, RoomEvent, Translation, wire

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Message:
    """One event as every subscriber receives it; `text` is serialized once for all."""

    seq: int
    type: str
    text: str
    segment_id: int | None = None
    lang: str | None = None
    body: str | None = None  # a translation's text (to skip one a viewer already has)


@dataclass(eq=False)
class Subscription:
    room_id: str
    queue: asyncio.Queue[Message]
    dropped: asyncio.Event = field(default_factory=asyncio.Event)

    async def get(self) -> Message:
        return await self.queue.get()


class Bus(Protocol):
    def publish(self, room_id: str, event: RoomEvent) -> Message:
        """Number the event, serialize it and hand it to every subscriber of the room."""
        ...

    def subscribe(self, room_id: str) -> Subscription: ...

    def unsubscribe(self, sub: Subscription) -> None: ...

    def subscribers(self, room_id: str | None = None) -> int: ...

    def last_seq(self, room_id: str) -> int: ...


def _message(seq: int, event: RoomEvent) -> Message:
    envelope = {"seq": seq, "ts": round(time.time(), 4), **wire(event)}
    segment_id = lang = body = None
    if isinstance(event, Final):
        segment_id = event.segment.id
    elif isinstance(event, Translation):
        segment_id, lang, body = event.segment_id, event.lang, event.text
    return Message(
        seq=seq,
        type=event.type,
        text=json.dumps(envelope, ensure_ascii=False),
        segment_id=segment_id,
        lang=lang,
        body=body,
    )


class LocalBus:
    """In-process bus; call it from the event loop's thread only."""

    def __init__(self, queue_size: int = 512) -> None:
        self.queue_size = queue_size
        self._subs: dict[str, set[Subscription]] = defaultdict(set)
        self._seq: dict[str, int] = defaultdict(int)

    def publish(self, room_id: str, event: RoomEvent) -> Message:
        self._seq[room_id] += 1
        seq = self._seq[room_id]
        message = _message(seq, event)
        for sub in list(self._subs.get(room_id, ())):
            try:
                sub.queue.put_nowait(message)
            except asyncio.QueueFull:
                log.warning(
                    "room %s: a viewer fell %d events behind; dropped", room_id, sub.queue.qsize()
                )
                self.unsubscribe(sub)
                sub.dropped.set()
        return message

    def subscribe(self, room_id: str) -> Subscription:
        sub = Subscription(room_id, asyncio.Queue(self.queue_size))
        self._subs[room_id].add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.room_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.room_id]

    def subscribers(self, room_id: str | None = None) -> int:
        if room_id is not None:
            return len(self._subs.get(room_id, ()))
        return sum(len(s) for s in self._subs.values())

    def last_seq(self, room_id: str) -> int:
        return self._seq.get(room_id, 0)
