"""Rooms that listen: one LiveSession per running room, all sharing the server's models.

A room runs from `start` (a source: audio pushed over a WebSocket, an uploaded file played as
live, the server's sound device or a network stream, live/stream_room.py) until `stop` or the
end of the source; each run is a stored session of the room. The session works in its own
thread; its events come back to the event loop and go out on the bus, finals after they are
stored (live/captions.py). `server/` reaches a room only through the methods here.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from fastapi.concurrency import run_in_threadpool

from ..audio.decode import SAMPLE_RATE
from ..audio.sources import file_blocks, mic_blocks
from ..errors import StoreError, TingshuoError
from ..events import Lag, RoomEvent, RoomState, ScriptPlace, SoundNotice, StoreNotice
from ..rules import RuleBook
from ..settings import Settings
from ..store.db import RoomInfo, Store
from ..store.pending import StoreState
from . import stream_room
from .base import RoomBusy, StartCancelled, check_start, lookup, room_states, source_label
from .bus import Bus
from .captions import CaptionPath
from .models import Models
from .recipe import room_glossary, room_session
from .scripts import ScriptBook
from .session import LiveSession, PushSource
from .voices import are_voices, merge_voices, rename_voice, restored_diarizer

if TYPE_CHECKING:
    from ..speakers import Diarizer

log = logging.getLogger(__name__)

# silence appended when a room pauses, so that the words spoken before the pause become final
_PAUSE_SILENCE_S = 1.0
# how often a live room's lag is looked at (and published when it changed)
_LAG_EVERY_S = 1.0


@dataclass(eq=False)
class RoomRun:
    room: RoomInfo
    kind: str  # "push", "file", "device" or "url"
    session: LiveSession
    push: PushSource | None = None
    paused: bool = False
    stopping: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    watch: asyncio.Future | None = None  # the task that reports its lag
    started: float = field(default_factory=time.monotonic)

    @property
    def state(self) -> str:
        return "paused" if self.paused else "live"

    def describe(self) -> dict[str, Any]:
        return {"state": self.state, "source": self.kind, "session_id": self.session.info.id,
                "backlog_s": round(self.session.backlog_s, 2)}  # fmt: skip


def _silence() -> np.ndarray:
    return np.zeros(int(_PAUSE_SILENCE_S * SAMPLE_RATE), dtype=np.float32)


class Rooms:
    """The running rooms of one server process."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        models: Models,
        bus: Bus,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.settings = settings
        self.store = store
        self.models = models
        self.worker = models.worker
        self.bus = bus
        self.loop = loop
        self.runs: dict[str, RoomRun] = {}
        self._starting: set[str] = set()
        self._cancelled: set[str] = set()  # stopped while starting
        self._speakers_lock = threading.Lock()
        models.caption_lag = self.caption_lag
        # each room's speakers, kept across its sessions so "Dr Li" is known after a break
        self._diarizers: dict[str, Diarizer] = {}
        self._unsaved: set[str] = set()  # rooms told that captions wait to be stored
        self.rulebook = RuleBook(store)
        self.scripts = ScriptBook(store)  # prepared texts, read again when they change
        self.taps: dict[str, Callable[[np.ndarray], None]] = {}  # the original sound's relays
        # a previous process may have stopped while rooms were live
        for room in store.list_rooms():
            if room.state != "idle":
                store.update_room(room.id, state="idle")
        listeners = getattr(store, "listeners", None)
        if listeners is not None:
            listeners.append(self._store_state)

    # -- lookups

    def room(self, room_id: str) -> RoomInfo:
        try:
            return lookup(self.store, room_id)
        except StoreError:
            run = self.runs.get(room_id)
            if run is None:
                raise
            return run.room  # a database that cannot be read does not end a live room

    def run_of(self, room_id: str) -> RoomRun:
        self.room(room_id)
        run = self.runs.get(room_id)
        if run is None:
            raise RoomBusy(f"room {room_id!r} is not listening: start it first")
        return run

    def status(self, room_id: str) -> dict[str, Any]:
        run = self.runs.get(room_id)
        return run.describe() if run else {"state": "idle", "source": None, "session_id": None}

    @property
    def live_count(self) -> int:
        return len(self.runs)

    def is_live(self, room_id: str) -> bool:
        return room_id in self.runs

    def states(self) -> dict[str, int]:
        runs = list(self.runs.values())
        starting = ["starting"] * len(self._starting - {run.room.id for run in runs})
        return room_states(self.store, [*(run.state for run in runs), *starting])

    def takes_audio(self, room_id: str, run: RoomRun) -> bool:
        """Whether `run` is still the room's run and still listening."""
        return self.runs.get(room_id) is run and not run.stopping.is_set()

    def backlog_s(self, room_id: str) -> float:
        """Seconds of audio received but not yet processed in the room (0: not live)."""
        run = self.runs.get(room_id)
        return run.session.backlog_s if run is not None else 0.0

    def session_clock(self, room_id: str) -> tuple[str, float] | None:
        """The live session of the room and the time in it now; None when not live."""
        run = self.runs.get(room_id)
        if run is None:
            return None
        return run.session.info.id, time.monotonic() - run.started

    # -- events, from any thread

    def publish(self, room_id: str, event: RoomEvent) -> None:
        """Thread-safe: the bus is touched on the event loop only, in call order."""
        try:
            self.loop.call_soon_threadsafe(self.bus.publish, room_id, event)
        except RuntimeError:  # the loop has closed: the server is shutting down
            pass

    def captions(self, room: RoomInfo) -> CaptionPath:
        """The caption path of a room's captions that come from outside a listening session
        (the AI anchor's lines): stored, published to the room, translated into its targets."""
        translator = None
        if room.targets:
            try:
                translator = self.models.translator()
            except TingshuoError as e:
                log.warning("room %s: captions go untranslated: %s", room.id, e)
        return CaptionPath(self.store, translator, room.targets, room_glossary(room))

    # -- prepared texts

    def texts_changed(self, room_id: str) -> None:
        """A text was added, removed or its terms changed: a live room reads them again at
        once, and (with targets) their passages are translated in the translator's idle time.
        Blocking: the translator may load now."""
        self.scripts.invalidate(room_id)
        room = self.room(room_id)
        if room.targets:
            try:
                self.scripts.prepare(room_id, self.models.translator(), room.targets)
            except TingshuoError as e:  # followed captions are translated live instead
                log.warning("room %s: prepared texts not translated: %s", room_id, e)

    def script_place(self, room_id: str) -> dict[str, tuple[int, int]]:
        """Where the live room's speaker is in its texts, per language: (text id, index)."""
        run = self.runs.get(room_id)
        following = run.session.following if run is not None else None
        return following.position() if following is not None else {}

    def move_script(self, room_id: str, text_id: int, index: int) -> None:
        """An operator's re-anchoring: the speaker is at this passage now."""
        run = self.run_of(room_id)
        following = run.session.following
        if following is None or not following.move_to(text_id, index):
            raise RoomBusy(f"room {room_id!r} has no passage {index} in text {text_id}")
        following.moved = False
        for lang, (t, i) in following.position().items():
            self.publish(room_id, ScriptPlace(lang=lang, text_id=t, index=i))

    def _store_state(self, state: StoreState) -> None:
        """From the store's writer: each room whose captions wait (or waited) is told whether
        they are being saved, and how many wait. Plain words only: the reason is logged."""
        rooms = set(self.runs) | set(self._unsaved) | {r for r in state.waiting if r}
        for room_id in rooms:
            waiting = state.waiting.get(room_id, 0)
            if state.saving and not waiting and room_id not in self._unsaved:
                continue
            if state.saving and not waiting:
                self._unsaved.discard(room_id)
            else:
                self._unsaved.add(room_id)
            self.publish(room_id, StoreNotice(saving=state.saving, waiting=waiting))

    def _sink(self, room_id: str):
        def sink(event: RoomEvent) -> None:
            self.publish(room_id, event)

        return sink

    def caption_lag(self) -> float:
        """How far behind real time the live rooms' recognition is now: the worst room."""
        return max([0.0, *(run.session.lag_s for run in list(self.runs.values()))])

    # -- speaker turns: one encoder for all rooms, loaded on the first room that starts

    def diarizer(self, room_id: str) -> Diarizer | None:
        encoder = self.models.speaker_encoder()
        if encoder is None:
            return None
        with self._speakers_lock:
            if room_id not in self._diarizers:
                self._diarizers[room_id] = restored_diarizer(
                    self.settings, self.store, encoder, room_id
                )
            return self._diarizers[room_id]

    def rename_speaker(self, room_id: str, old: str, new: str) -> tuple[list[int], bool]:
        """A voice's new name, in its captions and its diarizer (live or kept from the
        room's last session). A name another voice has makes the two one: (ids, merged)."""
        diarizer = self._known_diarizer(room_id)
        if old != new and are_voices(self.store, diarizer, room_id, old, new):
            return self.merge_speakers(room_id, old, new), True
        return rename_voice(self.store, diarizer, room_id, old, new), False

    def merge_speakers(self, room_id: str, source: str, into: str) -> list[int]:
        return merge_voices(self.store, self._known_diarizer(room_id), room_id, source, into)

    def _known_diarizer(self, room_id: str) -> Diarizer | None:
        with self._speakers_lock:
            return self._diarizers.get(room_id)

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
    ) -> RoomRun:
        room = self.room(room_id)
        run = self.runs.get(room_id)
        busy = (
            (run.kind if run else "") if room_id in self.runs or room_id in self._starting else None
        )
        check_start(room, busy, len(self.runs) + len(self._starting), self.settings)
        self._starting.add(room_id)  # loading the translator takes a while: no second start
        self._cancelled.discard(room_id)
        try:
            await self._load(room)
            if room_id in self._cancelled:  # a Stop while the models loaded: nothing begins
                raise StartCancelled(f"the start of room {room.name!r} was cancelled (Stop)")
            run = await self._start(room, kind, path, speed, device, cleanup, label, url)
            if room_id in self._cancelled:  # a Stop while the session opened: it ends at once
                self._stop(run)
            return run
        finally:
            self._starting.discard(room_id)
            self._cancelled.discard(room_id)

    async def _load(self, room: RoomInfo) -> None:
        """What a room's first start loads (seconds): the speaker encoder, the translator."""
        await run_in_threadpool(self.diarizer, room.id)
        if room.targets:
            await run_in_threadpool(self.models.translator)

    async def _start(
        self,
        room: RoomInfo,
        kind: str,
        path: Path | None,
        speed: float,
        device: str | int | None,
        cleanup: Path | None,
        label: str | None,
        url: str | None = None,
    ) -> RoomRun:
        room_id = room.id
        self.worker.recognizer.check_language(None if room.lang == "auto" else room.lang)
        stopping = threading.Event()
        if kind == "device":
            live = mic_blocks(device)  # checks the device now: a missing one is a clear error
        elif kind == "url":  # checked and opened now: a refusal is the start's answer
            publish = self._sink(room_id)
            open_stream = stream_room.open_room_stream
            live = await run_in_threadpool(open_stream, url, self.settings, publish, stopping)
            label = stream_room.label(url)
        diarizer = await run_in_threadpool(self.diarizer, room_id)
        session = await run_in_threadpool(
            lambda: room_session(
                room,
                source_label(kind, path, label),
                self.models,
                self.store,
                self.rulebook,
                diarizer,
                self.scripts,
                on_store_error=lambda e: self.publish(
                    room_id, StoreNotice(saving=False, waiting=0, lost=True)
                ),
            )
        )
        run = RoomRun(room, kind, session, stopping=stopping)
        blocks: Iterable[np.ndarray]
        if kind == "push":
            blocks = run.push = PushSource()
        elif kind == "file":
            assert path is not None
            blocks = self._paced(run, path, speed)
        else:
            blocks = self._live(run, live)
        self.runs[room_id] = run
        # announced before the first caption can be
        self._announce(room_id, "live", session_id=session.info.id, source=kind)
        run.thread = threading.Thread(
            target=self._work, args=(run, blocks, cleanup), name=f"room-{room_id}", daemon=True
        )
        run.thread.start()
        run.watch = asyncio.ensure_future(self._report_lag(run))
        return run

    async def _report_lag(self, run: RoomRun) -> None:
        """While a room runs, its console and screens hear how late captions and
        translations are, and what is being shed to keep up."""
        last: Lag | None = None
        last_sound: SoundNotice | None = None
        quiet = 0
        while self.runs.get(run.room.id) is run:
            await asyncio.sleep(_LAG_EVERY_S)
            if self.runs.get(run.room.id) is not run:
                break  # it ended meanwhile: an idle room shows no lag
            report = run.session.lag(self.models.loaded_translator)
            sound = run.session.sound()
            quiet += 1
            # a changed picture at once, an unchanged one now and then
            if report != last or quiet >= 5:
                self.bus.publish(run.room.id, report)
                last = report
            if sound is not None and (sound != last_sound or quiet >= 5):
                self.bus.publish(run.room.id, sound)
                last_sound = sound
            if quiet >= 5:
                quiet = 0

    def push(self, room_id: str, samples: np.ndarray) -> None:
        run = self.runs.get(room_id)
        if run is None or run.push is None or run.paused or run.stopping.is_set():
            return
        run.push.push(samples)

    def pause(self, room_id: str) -> RoomRun:
        run = self.run_of(room_id)
        if not run.paused:
            run.paused = True
            if run.push is not None:
                run.push.push(_silence())
            self._announce(room_id, "paused", session_id=run.session.info.id)
        return run

    def resume(self, room_id: str) -> RoomRun:
        run = self.run_of(room_id)
        if run.paused:
            run.paused = False
            self._announce(room_id, "live", session_id=run.session.info.id, source=run.kind)
        return run

    def stop(self, room_id: str) -> RoomRun | None:
        """Stop listening; what was already heard is still transcribed and stored. A room
        still starting is cancelled (None): `start` refuses, or stops the run it made."""
        if room_id in self._starting and room_id not in self.runs:
            self._cancelled.add(room_id)
            run = self.runs.get(room_id)  # the start may have ended just now, unstopped
            if run is not None:
                self._stop(run)
            return run
        run = self.run_of(room_id)
        self._stop(run)
        return run

    def _stop(self, run: RoomRun) -> None:
        run.stopping.set()
        if run.push is not None:
            run.push.close()  # the session drains what was pushed, then ends
        else:
            run.session.stop.set()

    async def close(self) -> None:
        runs = list(self.runs.values())
        for run in runs:
            self._stop(run)
        for run in runs:
            if run.thread is not None:
                await run_in_threadpool(run.thread.join, 30)

    # -- inside the room's thread

    def _work(self, run: RoomRun, blocks: Iterable[np.ndarray], cleanup: Path | None) -> None:
        status = "failed"
        error = None
        try:
            info = run.session.run(self._tapped(run.room.id, blocks), self._sink(run.room.id))
            status = info.status
            # the room is idle once the last caption's translations are out too
            run.session.wait_translations(timeout=120)
            translator = self.models.loaded_translator
            if translator is not None:
                translator.forget(run.session.info.id)
        except TingshuoError as e:
            error = str(e)
            log.warning("room %s: %s", run.room.id, e)
        except Exception:
            # viewers see plain words; what went wrong (SQL, a traceback) is in the log
            error = "the room stopped on an internal error (the server log says more)"
            log.exception("room %s failed", run.room.id)
        finally:
            if cleanup is not None:
                cleanup.unlink(missing_ok=True)
            try:
                self.loop.call_soon_threadsafe(self._finished, run, status, error)
            except RuntimeError:
                pass

    def tap(self, room_id: str, listener: Callable[[np.ndarray], object]) -> None:
        """`listener` hears the room's audio (16 kHz blocks, as the recognizer gets them):
        the relay of the original sound. One per room; it must not block."""
        self.taps[room_id] = listener

    def _tapped(self, room_id: str, blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        for block in blocks:
            listener = self.taps.get(room_id)
            if listener is not None:
                listener(block)
            yield block

    def _finished(self, run: RoomRun, status: str, error: str | None) -> None:
        if self.runs.get(run.room.id) is run:
            del self.runs[run.room.id]
        self._announce(
            run.room.id, "idle", session_id=run.session.info.id, status=status, error=error
        )

    def _announce(self, room_id: str, state: str, **extra: Any) -> None:
        """Store the room's state and tell its viewers (from any thread, in order)."""
        try:
            self.store.set_room_state(room_id, state)
        except StoreError as e:  # a full disk: the viewers are told all the same
            log.error("room %s: its state is not stored: %s", room_id, e)
        self.publish(room_id, RoomState(state=state, **extra))

    def _paced(self, run: RoomRun, path: Path, speed: float) -> Iterator[np.ndarray]:
        """The file as if live, at `speed`× real time (0: as fast as it decodes); pausable."""
        t0 = time.monotonic()
        played = 0.0
        for block in file_blocks(path, realtime=False):
            if run.stopping.is_set():
                return
            if run.paused:
                yield _silence()
                paused_at = time.monotonic()
                while run.paused and not run.stopping.is_set():
                    time.sleep(0.05)
                t0 += time.monotonic() - paused_at
                if run.stopping.is_set():
                    return
            played += block.size / SAMPLE_RATE
            if speed > 0:
                delay = t0 + played / speed - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            yield block

    def _live(self, run: RoomRun, blocks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        """A sound device: audio heard while paused is dropped."""
        silenced = False
        try:
            for block in blocks:
                if run.stopping.is_set():
                    return
                if run.paused:
                    if not silenced:
                        silenced = True
                        yield _silence()
                    continue
                silenced = False
                yield block
        finally:
            close = getattr(blocks, "close", None)
            if close is not None:
                close()
