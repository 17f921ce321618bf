"""`tingshuo worker`: a process that holds the models and runs live rooms (TINGSHUO_BUS_URL).

It claims rooms that want a worker (live/cluster.py writes them) with a lease in Redis that
it renews every second, up to `--rooms` at once. A room's audio comes from its Redis stream,
its finals are stored (the caption path, live/captions.py) and published on the bus, then
translated.

A worker that dies (kill -9) stops renewing: once its lease lapses, another worker claims the
room and goes on in the same session from where its captions reach. That point is the later
of the session's last stored final and the last final published (the bus records it with the
event, in one step), so no final is lost or said twice; the caption being spoken at that
moment is heard again from its start, which is still in the audio stream.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import redis

from ..audio.decode import SAMPLE_RATE
from ..errors import StoreError, TingshuoError
from ..events import Final, RoomEvent, RoomState, StoreNotice
from ..rules import RuleBook
from ..settings import Settings
from ..store.db import RoomInfo
from ..store.pending import BufferedStore, StoreState, open_buffered_store
from ..store.records import SessionInfo
from .bus import RedisBus, room_key, wait_for_redis
from .cluster import LIVE
from .models import Models
from .recipe import room_session
from .room_audio import from_pcm
from .scripts import ScriptBook
from .session import LiveSession
from .voices import restored_diarizer

log = logging.getLogger(__name__)

# renew a lease this worker holds; one that lapsed while this worker stalled (and nobody
# took) is taken again; one another worker holds now is lost
_RENEW = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
# a lease let go on a clean stop: the next worker claims the room now, not when it lapses
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
_SILENT_SOURCE_S = 60.0  # a live room whose audio stopped coming this long ago is ended
_TAKEOVER_UTTERANCES = 100_000  # a takeover numbers its utterances from here on


class LeaseLost(Exception):
    """Another worker holds the room now: this one lets go without ending the session."""


@dataclass(eq=False)
class Held:
    room_id: str
    thread: threading.Thread | None = None
    session: LiveSession | None = None
    lost: threading.Event = field(default_factory=threading.Event)
    last_lag: object = None
    last_sound: object = None
    run: dict[str, str] = field(default_factory=dict)  # the run as it was claimed


class RoomWorker:
    def __init__(self, settings: Settings, capacity: int) -> None:
        if not settings.bus_url:
            raise TingshuoError("a worker needs TINGSHUO_BUS_URL (redis://HOST:PORT/N)")
        self.settings = settings
        self.capacity = capacity
        self.id = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        wait_for_redis(settings.bus_url)  # started before Redis: it waits
        self.bus = RedisBus(settings.bus_url)
        self.redis = self.bus.redis
        self._renew = self.redis.register_script(_RENEW)
        self.store: BufferedStore = open_buffered_store(settings)
        self.store.listeners.append(self._store_state)
        self.rulebook = RuleBook(self.store)  # rules changed through a gateway arrive in 2 s
        self.scripts = ScriptBook(self.store)  # prepared texts, read again when they change
        self.models = Models(settings)
        self.held: dict[str, Held] = {}
        self.stopping = threading.Event()

    def run(self) -> None:
        """Until SIGTERM or SIGINT: claim, renew, report; rooms held are let go on the way
        out (another worker takes them over)."""
        log.info("worker %s: loading the recognizer and the speaker encoder", self.id)
        self.models.load()
        self.models.speaker_encoder()  # now, not while a room waits for it
        self.models.caption_lag = lambda: max(
            [0.0, *(h.session.lag_s for h in list(self.held.values()) if h.session)]
        )
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stopping.set())
        log.info("worker %s: ready for %d rooms", self.id, self.capacity)
        lease_ms = int(self.settings.worker_lease_s * 1000)
        while not self.stopping.is_set():
            try:
                self._renew_leases(lease_ms)
                self._claim(lease_ms)
                self._report_lag()
            except Exception as e:  # Redis away: rooms go on; leases are retried
                log.warning("worker %s: %s", self.id, e)
            self.stopping.wait(min(1.0, self.settings.worker_lease_s / 3))
        self._hand_over()
        self.bus.close()
        self.store.close()
        self.models.close()
        log.info("worker %s: stopped", self.id)

    def _hand_over(self) -> None:
        """A clean stop (SIGTERM): each room's session ends here, its captions are stored
        and published (so where they reach is known), then its lease is let go, and
        another worker goes on with it at once."""
        for held in list(self.held.values()):
            self._let_go(held)
        for held in list(self.held.values()):
            if held.thread is not None:
                held.thread.join(10)
        if not self.store.flush(10):
            log.error("worker %s: captions still wait for the database (journaled)", self.id)
        self.bus.flush(5)
        release = self.redis.register_script(_RELEASE)
        for room_id in list(self.held):
            try:
                release(keys=[room_key(room_id, "lease")], args=[self.id])
                log.info("room %s: handed over", room_id)
            except redis.RedisError as e:  # its lease lapses instead
                log.warning("room %s: lease not let go (%s)", room_id, e)
        # the translations of its last captions (the next worker translates only its own)
        for held in list(self.held.values()):
            if held.session is not None:
                held.session.wait_translations(timeout=10)

    # -- leases

    def _renew_leases(self, lease_ms: int) -> None:
        for room_id, held in list(self.held.items()):
            if held.thread is not None and not held.thread.is_alive():
                del self.held[room_id]
                continue
            if not self._renew(keys=[room_key(room_id, "lease")], args=[self.id, lease_ms]):
                log.warning("room %s: its lease was lost; another worker has it", room_id)
                self._let_go(held)
            elif held.run and not self.redis.exists(room_key(room_id, "run")):
                self._restore_run(held)

    def _restore_run(self, held: Held) -> None:
        """Redis restarted and lost the room's run: what this worker knows of it goes back
        (the gateway that feeds the room puts back the rest)."""
        key = room_key(held.room_id, "run")
        pipe = self.redis.pipeline()
        for name in ("state", "source", "session_id", "started", "utterance_base", "final_end",
                     "final_id"):  # fmt: skip
            if name in held.run:
                pipe.hsetnx(key, name, held.run[name])
        pipe.hset(key, "worker", self.id)
        pipe.hsetnx(key, "audio_at", time.time())
        pipe.sadd(LIVE, held.room_id)
        pipe.execute()
        log.warning("room %s: its run is back in Redis", held.room_id)

    def _claim(self, lease_ms: int) -> None:
        if len(self.held) >= self.capacity:
            return  # at capacity: claims nothing
        for raw in self.redis.smembers(LIVE):
            room_id = raw.decode()
            if room_id in self.held or len(self.held) >= self.capacity:
                continue
            if not self.redis.exists(room_key(room_id, "run")):
                self.redis.srem(LIVE, room_id)  # a run that ended without its cleanup
                continue
            if self.redis.set(room_key(room_id, "lease"), self.id, nx=True, px=lease_ms):
                held = self.held[room_id] = Held(room_id)
                held.thread = threading.Thread(
                    target=self._hold, args=(held,), name=f"room-{room_id}", daemon=True
                )
                held.thread.start()

    def _let_go(self, held: Held) -> None:
        held.lost.set()
        if held.session is not None:
            held.session.abandoned.set()

    # -- one room

    def _hold(self, held: Held) -> None:
        room_id = held.room_id
        run = {
            k.decode(): v.decode() for k, v in self.redis.hgetall(room_key(room_id, "run")).items()
        }
        status, error = "failed", None
        try:
            room, info = self._room_and_session(room_id, run)
            # where the room's captions reach: what the store holds, or the bus last said
            self.store.adopt_orphans()  # a worker that died here left its journal
            try:
                stored = self.store.segments(info.id)
                last_id = self.store.last_segment_id(room_id)
            except StoreError:  # away: the run says where they reach
                stored, last_id = [], 0
            reach = max([float(run.get("final_end", 0)), *(s.end for s in stored)])
            taken_over = "worker" in run or reach > 0  # (a restarted Redis forgot the worker)
            base = 0
            if taken_over:
                base = int(self.redis.hincrby(room_key(room_id, "run"), "utterance_base",
                                              _TAKEOVER_UTTERANCES))  # fmt: skip
            self.redis.hset(room_key(room_id, "run"), "worker", self.id)
            after, offset = self._resume_point(room_id, reach)
            log.info("room %s: %s at %.1f s", room_id, "taken over" if taken_over else "started",
                     offset)  # fmt: skip
            encoder = self.models.speaker_encoder()
            diarizer = (
                restored_diarizer(self.settings, self.store, encoder, room_id) if encoder else None
            )
            run_key = room_key(room_id, "run")
            first = max(last_id, int(run.get("final_id", 0)))

            lease_key = room_key(room_id, "lease")

            def id_floor() -> int:
                """Just before a caption is stored: the room must still be this worker's (a
                worker that took it over hears this caption again), and its captions are
                numbered in order, by whichever process."""
                try:
                    holder = self.redis.get(lease_key)
                    if holder is not None and holder.decode() != self.id:
                        self._let_go(held)
                        raise LeaseLost()
                    return max(first, int(self.redis.hget(run_key, "final_id") or 0))
                except redis.RedisError:  # away: this worker numbers the room alone meanwhile
                    return first

            session = held.session = room_session(
                room,
                "",
                self.models,
                self.store,
                self.rulebook,
                diarizer,
                self.scripts,
                resume=info,
                offset_s=offset,
                utterance_base=base,
                id_floor=id_floor,
                on_store_error=lambda e: self._publish(
                    room_id, StoreNotice(saving=False, waiting=0, lost=True)
                ),
            )

            def publish(event: RoomEvent) -> None:
                if isinstance(event, Final):  # kept, to put back after a Redis restart
                    held.run["final_end"] = str(event.segment.end)
                    held.run["final_id"] = str(event.segment.id or 0)
                self._publish(room_id, event)

            result = session.run(self._audio(held, after, offset), publish)
            if held.lost.is_set():
                raise LeaseLost()
            status = result.status if result.status != "stopped" else "done"
            session.wait_translations(timeout=120)
            if session.translator is not None:
                session.translator.forget(info.id)
        except LeaseLost:
            log.info("room %s: let go (another worker goes on with it)", room_id)
            return
        except TingshuoError as e:
            error = str(e)
            log.warning("room %s: %s", room_id, e)
        except Exception:
            error = "the room stopped on an internal error (the worker's log says more)"
            log.exception("room %s failed", room_id)
        self._finish(room_id, run.get("session_id"), status, error)

    def _room_and_session(self, room_id: str, run: dict[str, str]) -> tuple[RoomInfo, SessionInfo]:
        """From the store; while it is away (or has not yet written a session another
        process journaled), as the gateway wrote them into the run, the session journaled
        here too, ahead of this worker's captions."""
        try:
            room = self.store.get_room(room_id)
            if room is None or not run:
                raise TingshuoError(f"room {room_id} is gone")
            return room, self.store.get_session(run["session_id"])
        except StoreError as e:
            if "session" not in run:
                raise
            log.warning("room %s: taken while the database is away (%s)", room_id, e)
        except TingshuoError:
            if "session" not in run:
                raise
        info = SessionInfo.model_validate_json(run["session"])
        self.store.journal_session(info, room_id)
        return RoomInfo.model_validate_json(run["room"]), info

    def _resume_point(self, room_id: str, reach: float) -> tuple[str, float]:
        """The stream id just before the first audio block at or after `reach` seconds into
        the session, and that block's time."""
        key = room_key(room_id, "audio")
        before, start = "0-0", "-"
        while True:
            entries = self.redis.xrange(key, min=start, count=500)
            if not entries:
                return before, reach
            for entry_id, fields in entries:
                t = float(fields[b"t"])
                if t + 1e-6 >= reach:
                    return before, t
                before = entry_id.decode()
            start = "(" + before

    def _audio(self, held: Held, after: str, offset: float) -> Iterator[np.ndarray]:
        """The room's audio from the stream, until an `end` command, a lease lost, or a
        source that fell silent for a minute."""
        key, run_key = room_key(held.room_id, "audio"), room_key(held.room_id, "run")
        heard = offset
        reported = 0.0
        last_audio = time.time()
        # (not ended by `stopping`: a stopping worker lets its rooms go, `_hand_over`; an
        # audio stream ending here would end the session instead)
        while not held.lost.is_set():
            try:
                got = self.redis.xread({key: after}, count=50, block=500)
                at = self.redis.hget(run_key, "audio_at") if not got else None
            except redis.RedisError as e:  # a restart: the audio waits at its gateway
                log.warning("room %s: cannot read its audio from Redis (%s)", held.room_id, e)
                time.sleep(0.5)
                continue
            if not got:
                if at is not None:
                    last_audio = max(last_audio, float(at))
                if time.time() - last_audio > _SILENT_SOURCE_S:
                    log.warning("room %s: its audio stopped coming; the session ends", held.room_id)
                    return
                continue
            for entry_id, fields in got[0][1]:
                after = entry_id.decode()
                if fields.get(b"cmd") == b"end":
                    return
                block = from_pcm(fields[b"pcm"])
                if block.size:
                    heard = float(fields[b"t"]) + block.size / SAMPLE_RATE
                    yield block
            if time.monotonic() - reported > 0.5:
                reported = time.monotonic()
                with contextlib.suppress(redis.RedisError):
                    self.redis.hset(run_key, "heard_t", heard)

    def _finish(self, room_id: str, session_id: str | None, status: str, error: str | None) -> None:
        """The room is idle: told, stored, and its live state removed. Its captions are in
        the database before it says so (a gateway reads them from there)."""
        if not self.store.flush(10):
            log.error("room %s: captions still wait for the database (written later)", room_id)
        try:
            self.store.set_room_state(room_id, "idle")
        except StoreError as e:
            log.error("room %s: its state is not stored: %s", room_id, e)
        self._publish(room_id, RoomState(state="idle", session_id=session_id, status=status,
                                         error=error))  # fmt: skip
        self.bus.flush(5)
        pipe = self.redis.pipeline()
        pipe.delete(room_key(room_id, "run"), room_key(room_id, "audio"))
        pipe.srem(LIVE, room_id)
        pipe.execute()
        self.redis.delete(room_key(room_id, "lease"))

    # -- reports

    def _publish(self, room_id: str, event: RoomEvent) -> None:
        self.bus.publish(room_id, event)

    def _report_lag(self) -> None:
        translator = self.models.loaded_translator
        for held in list(self.held.values()):
            if held.session is None or held.lost.is_set():
                continue
            report = held.session.lag(translator)
            if report != held.last_lag:
                held.last_lag = report
                self._publish(held.room_id, report)
            sound = held.session.sound()
            if sound is not None and sound != held.last_sound:
                held.last_sound = sound
                self._publish(held.room_id, sound)

    def _store_state(self, state: StoreState) -> None:
        for room_id in list(self.held):
            waiting = state.waiting.get(room_id, 0)
            self._publish(room_id, StoreNotice(saving=state.saving, waiting=waiting))
