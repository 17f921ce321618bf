"""Publish/subscribe of room events.

`Bus` is the interface; `LocalBus` keeps everything in this process (the default);
`RedisBus` (TINGSHUO_BUS_URL) carries events between processes: workers publish captions,
gateways publish room states, and each gateway reads the streams of the rooms its viewers
watch.

Every event of a room gets the next number of that room's sequence, so a viewer can tell
that nothing was lost between two events it received. Each subscriber has its own bounded
queue: a viewer that does not keep up is dropped (and told so) rather than slowing the
publisher or the other viewers; it reconnects and catches up from the store.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Protocol

from ..errors import TingshuoError
from ..events import BusNotice, Final, RoomEvent, parse_event, wire
from ..redact import hide_password

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Message:
    """One event as every subscriber receives it: the typed `event` (read it, never parse
    `text`), and `text`, its JSON message serialized once for every viewer."""

    seq: int
    event: RoomEvent
    text: str


@dataclass(eq=False)
class Subscription:
    room_id: str
    queue: asyncio.Queue[Message]
    dropped: asyncio.Event = field(default_factory=asyncio.Event)

    async def get(self) -> Message:
        return await self.queue.get()


class Bus(Protocol):
    def publish(self, room_id: str, event: RoomEvent) -> Message | None:
        """Number the event, serialize it and hand it to every subscriber of the room."""
        ...

    def subscribe(self, room_id: str) -> Subscription: ...

    async def subscribe_async(self, room_id: str) -> Subscription:
        """`subscribe`, for the event loop: nothing it does waits there."""
        ...

    def unsubscribe(self, sub: Subscription) -> None: ...

    def subscribers(self, room_id: str | None = None) -> int: ...

    def last_seq(self, room_id: str) -> int: ...


def _message(seq: int, event: RoomEvent) -> Message:
    envelope = {"seq": seq, "ts": round(time.time(), 4), **wire(event)}
    return Message(seq, event, json.dumps(envelope, ensure_ascii=False))


class _Viewers:
    """The subscribers of each room in this process, each with its bounded queue; call it
    from the event loop's thread only."""

    def __init__(self, queue_size: int) -> None:
        self.queue_size = queue_size
        self._subs: dict[str, set[Subscription]] = defaultdict(set)

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
                self._forget(sub.room_id)

    def _forget(self, room_id: str) -> None:
        """The room's last viewer here went."""

    async def subscribe_async(self, room_id: str) -> Subscription:
        return self.subscribe(room_id)

    def subscribers(self, room_id: str | None = None) -> int:
        if room_id is not None:
            return len(self._subs.get(room_id, ()))
        return sum(len(s) for s in self._subs.values())

    def _deliver(self, room_id: str, message: Message) -> None:
        for sub in list(self._subs.get(room_id, ())):
            try:
                sub.queue.put_nowait(message)
            except asyncio.QueueFull:
                log.warning(
                    "room %s: a viewer fell %d events behind; dropped", room_id, sub.queue.qsize()
                )
                self.unsubscribe(sub)
                sub.dropped.set()


class LocalBus(_Viewers):
    """In-process bus; call it from the event loop's thread only."""

    def __init__(self, queue_size: int = 512) -> None:
        super().__init__(queue_size)
        self._seq: dict[str, int] = defaultdict(int)

    def publish(self, room_id: str, event: RoomEvent) -> Message:
        self._seq[room_id] += 1
        message = _message(self._seq[room_id], event)
        self._deliver(room_id, message)
        return message

    def last_seq(self, room_id: str) -> int:
        return self._seq.get(room_id, 0)


# INCR the room's counter and append the event with it, in one step: events of a room are
# numbered in the order they enter its stream, whichever process publishes them. A final
# also records how far into the session the room's captions reach (a worker that takes the
# room over resumes there, live/room_worker.py).
_PUBLISH = """
local seq = redis.call('INCR', KEYS[1])
local text = '{"seq":' .. seq .. ',"ts":' .. ARGV[2] .. ',' .. string.sub(ARGV[1], 2)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'e', text, 'seq', seq)
if ARGV[5] ~= '' and redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('HSET', KEYS[3], 'final_end', ARGV[5], 'final_id', ARGV[4])
end
return seq
"""


def wait_for_redis(url: str, max_delay_s: float = 5.0) -> None:
    """Until Redis answers (a gateway or worker may start before it: one line says it
    waits, one that it is there). A wrong URL, password or database number is a
    configuration error, said at once (TingshuoError), without the password."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=5)
    except ValueError as e:
        raise TingshuoError(
            f"TINGSHUO_BUS_URL {hide_password(url)}: not a Redis URL ({e})"
        ) from None
    delay, waited = 0.2, False
    try:
        while True:
            try:
                client.ping()
                if waited:
                    log.warning("Redis at %s is there: going on", hide_password(url))
                return
            except (redis.AuthenticationError, redis.ResponseError) as e:
                # a wrong password, or a database index the server does not have
                raise TingshuoError(
                    f"Redis at {hide_password(url)} refused this process: {e}"
                ) from None
            except (redis.ConnectionError, redis.TimeoutError) as e:
                if not waited:
                    log.warning("Redis at %s is not there yet (%s); waiting for it",
                                hide_password(url), e)  # fmt: skip
                    waited = True
            time.sleep(delay)
            delay = min(delay * 2, max_delay_s)
    finally:
        client.close()


def room_key(room_id: str, what: str) -> str:
    """The Redis key of one thing of a room (`seq`, `events`, `audio`, `run`, `lease`)."""
    return f"tingshuo:room:{room_id}:{what}"


class RedisBus(_Viewers):
    """Room events through Redis streams (one per room, trimmed to `keep` events).

    `publish` never waits: events go out in call order from one publishing thread, so a
    session thread, the translator and the event loop may all publish. A gateway's viewers
    subscribe here; one task reads the streams of every room with local viewers and hands
    each event to their queues, as `LocalBus` does.
    """

    def __init__(self, url: str, queue_size: int = 512, keep: int = 5000) -> None:
        import redis

        super().__init__(queue_size)
        self.url = url
        self.keep = keep
        self.redis = redis.Redis.from_url(
            url, socket_timeout=5, socket_connect_timeout=1, health_check_interval=10
        )
        self._script = self.redis.register_script(_PUBLISH)
        self._out: queue.Queue = queue.Queue(maxsize=100_000)
        self._from: dict[str, str] = {}  # room -> the last stream id read for its viewers
        self._reader: asyncio.Task | None = None
        self._closed = False
        self._publisher = threading.Thread(target=self._publish_loop, name="bus-out", daemon=True)
        self._publisher.start()

    def publish(self, room_id: str, event: RoomEvent) -> None:
        try:
            self._out.put_nowait((room_id, event))
        except queue.Full:
            log.error("room %s: Redis is away, 100,000 events wait: this one is dropped", room_id)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every event published so far is in Redis."""
        deadline = time.monotonic() + timeout
        while self._out.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self._out.unfinished_tasks

    def _publish_loop(self) -> None:
        import redis

        while True:
            room_id, event = self._out.get()
            if room_id is None:
                return
            segment_id = final_end = ""
            if isinstance(event, Final):
                segment_id = str(event.segment.id or "")
                final_end = str(event.segment.end)
            args = [
                json.dumps(wire(event), ensure_ascii=False),
                repr(round(time.time(), 4)),
                self.keep,
                segment_id,
                final_end,
            ]
            keys = [room_key(room_id, "seq"), room_key(room_id, "events"), room_key(room_id, "run")]
            delay = 0.2
            while True:
                try:
                    self._script(keys=keys, args=args)
                    break
                except redis.RedisError as e:  # Redis restarting: the event waits, in order
                    if self._closed:
                        break
                    log.warning("room %s: cannot publish to Redis (%s); retrying", room_id, e)
                    time.sleep(delay)
                    delay = min(delay * 2, 2.0)
            self._out.task_done()

    def subscribe(self, room_id: str) -> Subscription:
        if room_id not in self._from:
            self._from[room_id] = self._newest(room_id)
        return self._subscribed(room_id)

    async def subscribe_async(self, room_id: str) -> Subscription:
        if room_id not in self._from:
            newest = await asyncio.to_thread(self._newest, room_id)
            self._from.setdefault(room_id, newest)  # (another viewer's read may be first)
        return self._subscribed(room_id)

    def _newest(self, room_id: str) -> str:
        """From the newest event now: what is published after this reaches the subscriber."""
        newest = self.redis.xrevrange(room_key(room_id, "events"), count=1)
        return newest[0][0].decode() if newest else "0-0"

    def _subscribed(self, room_id: str) -> Subscription:
        sub = super().subscribe(room_id)
        if self._reader is None or self._reader.done():
            self._reader = asyncio.ensure_future(self._read())
        return sub

    def _forget(self, room_id: str) -> None:
        self._from.pop(room_id, None)

    def last_seq(self, room_id: str) -> int:
        return int(self.redis.get(room_key(room_id, "seq")) or 0)

    async def _read(self) -> None:
        """One reader for every room with viewers here; reconnects when Redis comes back."""
        import redis.asyncio as aredis
        from redis import RedisError

        client = aredis.Redis.from_url(self.url)
        delay = 0.2
        away = False
        try:
            while self._subs and not self._closed:
                streams = {room_key(r, "events"): i for r, i in self._from.items()}
                try:
                    got = await client.xread(streams, count=500, block=500)
                    delay = 0.2
                except RedisError as e:
                    if not away:
                        log.error("cannot read room events from Redis (%s); retrying", e)
                        away = True
                        self._tell_local(BusNotice(ok=False))
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 2.0)
                    continue
                if away:
                    log.warning("Redis is back: room events flow again")
                    away = False
                    self._tell_local(BusNotice(ok=True))
                for stream, entries in got or []:
                    room_id = stream.decode().split(":")[2]
                    for entry_id, fields in entries:
                        if room_id in self._from:
                            self._from[room_id] = entry_id.decode()
                        try:
                            message = _from_stream(fields)
                        except (KeyError, ValueError) as e:  # not an event this version knows
                            log.warning("room %s: an unreadable event is skipped: %s", room_id, e)
                            continue
                        self._deliver(room_id, message)
        finally:
            await client.aclose()

    def _tell_local(self, event: RoomEvent) -> None:
        """An event for this gateway's own viewers of every room, not through Redis."""
        text = json.dumps({"seq": 0, "ts": round(time.time(), 4), **wire(event)})
        for room_id in list(self._subs):
            self._deliver(room_id, Message(0, event, text))

    def close(self) -> None:
        self.flush(5)
        self._closed = True
        self._out.put((None, None))
        if self._reader is not None:
            self._reader.cancel()


def _from_stream(fields: dict[bytes, bytes]) -> Message:
    """An entry of a room's stream as its subscribers here get it: the event typed again
    once, for all of them."""
    text = fields[b"e"].decode()
    return Message(int(fields.get(b"seq", b"0")), parse_event(text), text)
