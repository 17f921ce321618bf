"""Rooms run by worker processes (TINGSHUO_BUS_URL): what a gateway (`tingshuo serve`) does.

A gateway holds no model and no room. Starting a room writes its run to Redis (a hash: the
source, the session, its state) and adds it to the set of rooms that want a worker; a worker
(`tingshuo worker`, live/room_worker.py) claims it with a lease. The room's audio goes into a
Redis stream, whichever gateway receives it (a console's WebSocket, a file played as live, the
gateway's sound device or a network stream), each block stamped with its time in the session;
the worker reads it from there, and its events come back on the bus. Pause and stop are
commands in the same stream, so they reach the worker in order with the audio.

The rooms themselves, their tokens, rundowns and voices are in the database; live state is in
Redis: any gateway can serve any room's viewers and take its audio.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.concurrency import run_in_threadpool

from ..audio.decode import SAMPLE_RATE
from ..audio.sources import file_blocks, mic_blocks
from ..errors import StoreError
from ..events import RoomEvent, RoomState
from ..rules import RuleBook
from ..settings import Settings
from ..store.db import RoomInfo, Store
from . import stream_room
from .base import RoomBusy, check_start, lookup, room_states, source_label
from .bus import RedisBus, room_key
from .captions import CaptionPath
from .models import Models
from .recipe import room_glossary
from .room_audio import relay, to_pcm
from .scripts import ScriptBook
from .voices import are_voices, merge_voices, rename_voice

log = logging.getLogger(__name__)

LIVE = "tingshuo:live"  # the set of rooms that want a worker
AUDIO_KEEP_S = 600  # the audio stream keeps this much (a worker resumes from inside it)
BLOCK_S = 0.1
_NO_WORKER_AFTER_S = 5.0
_PAUSE_SILENCE_S = 1.0
_HANDOVER_WAIT_S = 1.5  # a console's audio waits this long for its old gateway to let go


@dataclass(eq=False)
class RemoteRun:
    """A room's run as this gateway started it (its audio may come through here)."""

    room: RoomInfo
    kind: str
    session_id: str
    stopping: threading.Event = field(default_factory=threading.Event)
    paused: bool = False
    started: float = field(default_factory=time.time)
    audio_t: float = 0.0  # seconds of the session's audio written so far

    def state(self) -> dict[str, Any]:
        """The run as Redis keeps it, for a Redis that restarted and lost it."""
        return {"state": "paused" if self.paused else "live", "source": self.kind,
                "session_id": self.session_id, "started": self.started}  # fmt: skip

    def describe(self) -> dict[str, Any]:
        return {"state": "paused" if self.paused else "live", "source": self.kind,
                "session_id": self.session_id, "backlog_s": 0.0}  # fmt: skip


class ClusterRooms:
    """The rooms as a gateway sees them: the same methods as `Rooms`, backed by Redis."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        models: Models,
        bus: RedisBus,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.settings = settings
        self.store = store
        self.models = models
        self.bus = bus
        self.loop = loop
        self.redis = bus.redis
        self._local: dict[str, RemoteRun] = {}  # runs whose audio comes through this gateway
        self._audio_lock = threading.Lock()
        # audio that could not reach Redis yet (it restarts): sent, in order, once it is back
        self._unsent: dict[str, deque[dict[str, Any]]] = {}
        self._away = False  # Redis refused the last send: only the retry loop tries again
        self.rulebook = RuleBook(store)
        self.scripts = ScriptBook(store)  # prepared texts, read again when they change
        self._watch = asyncio.ensure_future(self._report_unclaimed())
        self._taps: dict[str, threading.Thread] = {}
        self._closing = threading.Event()

    # -- lookups

    def room(self, room_id: str) -> RoomInfo:
        return lookup(self.store, room_id)

    def _run(self, room_id: str) -> dict[str, str]:
        raw = self.redis.hgetall(room_key(room_id, "run"))
        return {k.decode(): v.decode() for k, v in raw.items()}

    def status(self, room_id: str) -> dict[str, Any]:
        run = self._run(room_id)
        if not run:
            return {"state": "idle", "source": None, "session_id": None}
        return {
            "state": run.get("state", "live"),
            "source": run.get("source"),
            "session_id": run.get("session_id"),
            "backlog_s": round(self.backlog_s(room_id), 2),
        }

    @property
    def live_count(self) -> int:
        return int(self.redis.scard(LIVE))

    def is_live(self, room_id: str) -> bool:
        return bool(self.redis.exists(room_key(room_id, "run")))

    def states(self) -> dict[str, int]:  # every gateway sees the same: they share Redis
        running = [r.decode() for r in self.redis.smembers(LIVE)]
        return room_states(self.store, [self._run(r).get("state", "live") for r in running])

    def takes_audio(self, room_id: str, run: RemoteRun) -> bool:
        return self._local.get(room_id) is run and not run.stopping.is_set()

    def backlog_s(self, room_id: str) -> float:
        run = self._run(room_id)
        if not run:
            return 0.0
        return max(float(run.get("audio_t", 0)) - float(run.get("heard_t", 0)), 0.0)

    def session_clock(self, room_id: str) -> tuple[str, float] | None:
        run = self._run(room_id)
        if not run:
            return None
        return run["session_id"], time.time() - float(run.get("started", time.time()))

    # -- events

    def publish(self, room_id: str, event: RoomEvent) -> None:
        self.bus.publish(room_id, event)

    def captions(self, room: RoomInfo) -> CaptionPath:
        translator = self.models.translator() if room.targets else None
        run_key = room_key(room.id, "run")

        def id_floor() -> int:  # a worker numbers the room's other captions
            last = self.store.last_segment_id(room.id)
            return max(last, int(self.redis.hget(run_key, "final_id") or 0))

        return CaptionPath(self.store, translator, room.targets, room_glossary(room), id_floor)

    # -- prepared texts: the worker that runs the room reads them again within 2 s, and
    # translates them (a gateway has no translator of its own)

    def texts_changed(self, room_id: str) -> None:
        self.scripts.invalidate(room_id)

    def script_place(self, room_id: str) -> dict[str, tuple[int, int]]:
        return {}

    def move_script(self, room_id: str, text_id: int, index: int) -> None:
        raise RoomBusy(
            "re-anchoring a script is not available with several servers yet: the room "
            "finds its place by itself at the speaker's next sentence"
        )

    # a worker's diarizer learns a new name from the voice's latest stored caption
    def rename_speaker(self, room_id: str, old: str, new: str) -> tuple[list[int], bool]:
        if old != new and are_voices(self.store, None, room_id, old, new):
            return self.merge_speakers(room_id, old, new), True
        return rename_voice(self.store, None, room_id, old, new), False

    def merge_speakers(self, room_id: str, source: str, into: str) -> list[int]:
        if self.is_live(room_id):
            # the worker holds the room's voices and stores them as it hears them: it would
            # write the two back apart
            raise RoomBusy("voices are merged while the room is stopped (several servers)")
        return merge_voices(self.store, None, room_id, source, into)

    # -- control

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
    ) -> RemoteRun:
        room = self.room(room_id)
        run = self._run(room_id)
        if run and kind == "push" and run.get("source") == "push":
            run = await self._handed_over(room_id, run)
        if run and kind == "push" and run.get("source") == "push" and self._orphaned(run):
            # a console whose gateway went away: its audio goes on here, in the same session
            remote = self._local[room_id] = RemoteRun(
                room, kind, run["session_id"], started=float(run.get("started", time.time()))
            )
            remote.audio_t = float(run.get("audio_t", 0))
            return remote
        check_start(room, run.get("source", "") if run else None, self.live_count, self.settings)
        stopping = threading.Event()
        if kind == "device":
            live = mic_blocks(device)
        elif kind == "url":  # the gateway reads the stream, as it reads a file or a device
            publish = functools.partial(self.publish, room_id)
            opened = stream_room.open_room_stream
            live = await run_in_threadpool(opened, url, self.settings, publish, stopping)
            label = stream_room.label(url)
        source = source_label(kind, path, label)
        info = await run_in_threadpool(
            self.store.create_session,
            room.name,
            source,
            room.lang,
            room.hotwords,
            room.targets,
            room_id,
        )
        remote = self._local[room_id] = RemoteRun(room, kind, info.id, stopping)
        now = remote.started
        self.redis.delete(room_key(room_id, "audio"))
        self.redis.hset(
            room_key(room_id, "run"),
            mapping={
                "state": "live",
                "source": kind,
                "session_id": info.id,
                "started": now,
                "audio_t": 0,
                "audio_at": now,
                "heard_t": 0,
                "final_end": 0,
                "utterance_base": 0,
                "room": room.model_dump_json(),  # for a worker while the database is away
                "session": info.model_dump_json(),
            },
        )
        self.redis.sadd(LIVE, room_id)
        self._announce(room_id, "live", session_id=info.id, source=kind)
        if kind == "file":
            assert path is not None
            blocks: Iterator[np.ndarray] = file_blocks(path, realtime=False)
            threading.Thread(
                target=self._play, args=(remote, blocks, speed, cleanup), daemon=True
            ).start()
        elif kind in ("device", "url"):
            if kind == "url":
                live = stream_room.unless_paused(live, lambda: remote.paused)
            threading.Thread(target=self._play, args=(remote, live, 0, None), daemon=True).start()
        return remote

    async def _handed_over(self, room_id: str, run: dict[str, str]) -> dict[str, str]:
        """A console reconnecting at once (its gateway stopping) may come before that
        gateway has let the room go: the run is read again for a moment."""
        deadline = time.monotonic() + _HANDOVER_WAIT_S
        while run and not self._orphaned(run) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            run = await run_in_threadpool(self._run, room_id)
        return run

    def _orphaned(self, run: dict[str, str]) -> bool:
        """No audio for a moment: the gateway that took the console's audio went away."""
        return time.time() - float(run.get("audio_at", 0)) > 0.75

    def push(self, room_id: str, samples: np.ndarray) -> None:
        remote = self._local.get(room_id)
        if remote is None or remote.paused or remote.stopping.is_set():
            return
        self._write_audio(room_id, samples)

    def _write_audio(self, room_id: str, samples: np.ndarray, command: str = "") -> None:
        """Append a block, stamped with its time in the session (or a command: `end`). While
        Redis is away, blocks wait here (the last `AUDIO_KEEP_S`) and go once it is back."""
        remote = self._local.get(room_id)
        with self._audio_lock:
            if remote is not None:
                t = remote.audio_t
                remote.audio_t += samples.size / SAMPLE_RATE
            else:  # a pause or stop for a room whose audio comes through another gateway
                t = float(self.redis.hget(room_key(room_id, "run"), "audio_t") or 0)
            fields: dict[str, Any] = {"t": t, "pcm": to_pcm(samples)}
            if command:
                fields["cmd"] = command
            unsent = self._unsent.setdefault(room_id, deque(maxlen=int(AUDIO_KEEP_S / BLOCK_S)))
            unsent.append(fields)
            if not self._away:  # (a socket's frames never wait on a Redis that is away)
                self._send_audio(room_id, remote)

    def _resend(self, room_id: str) -> None:
        with self._audio_lock:
            self._send_audio(room_id, self._local.get(room_id))

    def _send_audio(self, room_id: str, remote: RemoteRun | None) -> None:
        import redis

        unsent = self._unsent.get(room_id)
        if not unsent:
            return
        key = room_key(room_id, "run")
        try:
            pipe = self.redis.pipeline()
            if remote is not None:  # a Redis that restarted lost the run: it is back
                pipe.hsetnx(key, "heard_t", 0)
                for name, value in remote.state().items():
                    pipe.hsetnx(key, name, value)
                pipe.sadd(LIVE, room_id)
            keep = int(AUDIO_KEEP_S / BLOCK_S)
            for fields in unsent:
                pipe.xadd(room_key(room_id, "audio"), fields, maxlen=keep, approximate=True)
            last = unsent[-1]
            pcm_s = len(last["pcm"]) / 2 / SAMPLE_RATE
            pipe.hset(key, mapping={"audio_t": last["t"] + pcm_s, "audio_at": time.time()})
            pipe.execute()
            unsent.clear()
            self._away = False
        except redis.RedisError as e:
            if not self._away:
                log.error("room %s: Redis is away (%s); its audio waits here", room_id, e)
            self._away = True

    def _play(
        self, remote: RemoteRun, blocks: Iterator[np.ndarray], speed: float, cleanup: Path | None
    ) -> None:
        """A file (paced at `speed`, 0: as fast as it decodes) or a device, into the stream."""
        t0 = time.monotonic()
        played = 0.0
        try:
            for block in blocks:
                if remote.stopping.is_set():
                    break
                while remote.paused and not remote.stopping.is_set():
                    time.sleep(0.05)
                    t0 += 0.05
                played += block.size / SAMPLE_RATE
                if speed > 0:
                    delay = t0 + played / speed - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                self._write_audio(remote.room.id, block)
            if not remote.stopping.is_set():
                self.stop(remote.room.id)
        except Exception:
            log.exception("room %s: its audio stopped", remote.room.id)
            self.stop(remote.room.id)
        finally:
            close = getattr(blocks, "close", None)
            if close is not None:
                close()
            if cleanup is not None:
                cleanup.unlink(missing_ok=True)

    def tap(self, room_id: str, listener: Callable[[np.ndarray], bool]) -> None:
        """`listener` hears the room's audio (16 kHz blocks, as the worker gets them, read
        from the room's audio stream whichever gateway takes it): the relay of the original
        sound. It returns False once nobody listens; then the reading stops."""
        thread = self._taps.get(room_id)
        if thread is not None and thread.is_alive():
            return
        thread = threading.Thread(
            target=relay,
            args=(self.redis, room_id, listener, self._closing),
            name=f"tap-{room_id}",
            daemon=True,
        )
        self._taps[room_id] = thread
        thread.start()

    def pause(self, room_id: str) -> RemoteRun | dict:
        run = self._require(room_id)
        if run.get("state") != "paused":
            self.redis.hset(room_key(room_id, "run"), "state", "paused")
            remote = self._local.get(room_id)
            if remote is not None:
                remote.paused = True
            silence = np.zeros(int(_PAUSE_SILENCE_S * SAMPLE_RATE), dtype=np.float32)
            self._write_audio(room_id, silence)  # the words before the pause become final
            self._announce(room_id, "paused", session_id=run["session_id"])
        return run

    def resume(self, room_id: str) -> dict:
        run = self._require(room_id)
        if run.get("state") == "paused":
            self.redis.hset(room_key(room_id, "run"), "state", "live")
            remote = self._local.get(room_id)
            if remote is not None:
                remote.paused = False
            self._announce(room_id, "live", session_id=run["session_id"], source=run["source"])
        return run

    def stop(self, room_id: str) -> dict:
        """The worker hears what came before, stores it, and ends the session."""
        run = self._require(room_id)
        remote = self._local.pop(room_id, None)
        if remote is not None:
            remote.stopping.set()
        if not self.redis.exists(room_key(room_id, "lease")):
            self._end_unclaimed(room_id, run)  # no worker ever took it: nothing to hear
            return run
        self._write_audio(room_id, np.zeros(0, dtype=np.float32), command="end")
        return run

    def _end_unclaimed(self, room_id: str, run: dict[str, str]) -> None:
        pipe = self.redis.pipeline()
        pipe.delete(room_key(room_id, "run"), room_key(room_id, "audio"))
        pipe.srem(LIVE, room_id)
        pipe.execute()
        self._unsent.pop(room_id, None)
        try:
            self.store.finish_session(run["session_id"], "stopped", 0.0)
        except StoreError as e:
            log.error("room %s: its session's end is not stored: %s", room_id, e)
        self._announce(room_id, "idle", session_id=run["session_id"], status="stopped",
                       error="no recognizer was free: nothing was transcribed")  # fmt: skip

    def _require(self, room_id: str) -> dict[str, str]:
        self.room(room_id)
        run = self._run(room_id)
        if not run:
            raise RoomBusy(f"room {room_id!r} is not listening: start it first")
        return run

    def _announce(self, room_id: str, state: str, **extra: Any) -> None:
        try:
            self.store.set_room_state(room_id, state)
        except StoreError as e:
            log.error("room %s: its state is not stored: %s", room_id, e)
        self.publish(room_id, RoomState(state=state, **extra))

    async def _report_unclaimed(self) -> None:
        """A live room no worker has taken is reported on its console; audio that waits for
        Redis is sent again."""
        told: set[str] = set()
        while True:
            for _ in range(int(_NO_WORKER_AFTER_S / 0.5)):
                await asyncio.sleep(0.5)
                for room_id in [r for r, unsent in self._unsent.items() if unsent]:
                    await run_in_threadpool(self._resend, room_id)
            try:  # (Redis calls off the event loop)
                await run_in_threadpool(self._tell_unclaimed, told)
            except Exception as e:  # Redis away: the next round tries again
                log.warning("cannot look at the live rooms: %s", e)

    def _tell_unclaimed(self, told: set[str]) -> None:
        rooms = [r.decode() for r in self.redis.smembers(LIVE)]
        for room_id in rooms:
            run = self._run(room_id)
            waited = time.time() - float(run.get("started", time.time()))
            held = self.redis.exists(room_key(room_id, "lease"))
            if held or waited < _NO_WORKER_AFTER_S:
                told.discard(room_id)
            elif room_id not in told and room_id in self._local:
                told.add(room_id)
                self.publish(
                    room_id,
                    RoomState(
                        state="live",
                        session_id=run.get("session_id"),
                        error="no recognizer free: captions start when a worker takes the room",
                    ),
                )

    async def close(self) -> None:
        """The gateway stops (SIGTERM; sockets closed with 1012): a console's room is let go
        to the gateway it reconnects to. (A file, device or stream played here stops.)"""
        self._closing.set()
        self._watch.cancel()
        for room_id in list(self._local):
            remote = self._local.pop(room_id)
            remote.stopping.set()
            if remote.kind == "push":
                await run_in_threadpool(self._let_go, room_id, remote)

    def _let_go(self, room_id: str, remote: RemoteRun) -> None:
        with self._audio_lock:  # its audio first; then no audio "since ever": orphaned now
            self._send_audio(room_id, remote)
        with contextlib.suppress(Exception):  # (else its audio_at ages in 0.75 s)
            self.redis.hset(room_key(room_id, "run"), "audio_at", 0)
            log.info("room %s: its console's audio is let go to another gateway", room_id)
