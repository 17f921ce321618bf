"""The writer thread of a BufferedStore: its pending writes go into the database in order, in
small transactions, retried with backoff while the database refuses them."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError

from ..errors import StoreError
from ..events import Segment
from .db import Store
from .journal import Journal
from .records import SavedVoice, SessionInfo
from .tables import RoomRow, SegmentRow, SessionRow, VoiceRow

log = logging.getLogger(__name__)

_BATCH = 100  # writes per transaction
_BACKOFF_S = (0.25, 0.5, 1.0, 2.0, 4.0)
_REPORT_EVERY_S = 1.0


@dataclass(frozen=True)
class StoreState:
    """What a room's console and viewers are told about saving."""

    saving: bool  # False while the database refuses writes
    waiting: dict[str | None, int] = field(default_factory=dict)  # captions per room id


def _retriable(error: SQLAlchemyError) -> bool:
    """A database that is away (locked, restarting, full): worth trying again. A write the
    database rejects on its merits (a constraint) would fail forever."""
    if isinstance(error, OperationalError | InterfaceError):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


class PendingWriter(Store):
    """The writer's half of BufferedStore, which sets these up and starts the thread."""

    _block: int  # ids reserved at a time
    _lock: threading.Lock
    _queue: deque[dict[str, Any]]  # the pending writes, in order
    _unwritten: dict[int, int]
    _room_of: dict[str, str | None]
    _pending_sessions: dict[str, SessionInfo]
    _ids: range
    _spare: range
    _wake: threading.Event
    _idle: threading.Event
    _closed: bool
    failure: str | None
    listeners: list[Callable[[StoreState], None]]
    _reported: StoreState | None
    _reported_at: float
    _journal: Journal

    def _reserve_block(self) -> range:
        try:
            start = self.reserve_ids(self._block)
        except StoreError as e:
            log.warning("no segment ids reserved: %s", e)
            return range(0)
        return range(start, start + self._block)

    def _state(self) -> StoreState:
        waiting: dict[str | None, int] = {}
        for op in self._queue:
            if op["op"] == "segment":
                room = self._room_of.get(op["segment"]["session_id"])
                waiting[room] = waiting.get(room, 0) + 1
        return StoreState(saving=self.failure is None, waiting=waiting)

    def _written(self, ops: list[dict[str, Any]]) -> None:
        for _ in ops:
            op = self._queue.popleft()
            if op["op"] == "session":
                self._pending_sessions.pop(op["session"]["id"], None)
            key = op["segment"]["id"] if op["op"] == "segment" else op.get("id")
            if key in self._unwritten:
                self._unwritten[key] -= 1
                if self._unwritten[key] <= 0:
                    del self._unwritten[key]
        if not self._queue:
            self._journal.rewrite(self._queue)
            self._idle.set()

    def _write_loop(self) -> None:
        failures = 0
        while True:
            delay = _BACKOFF_S[min(failures, len(_BACKOFF_S)) - 1] if failures else None
            self._wake.wait(delay)
            self._wake.clear()
            if self._closed:
                return
            if len(self._ids) < self._block // 2 and not self._spare:
                spare = self._reserve_block()
                with self._lock:
                    self._spare = spare
            while True:
                with self._lock:
                    batch = list(self._queue)[:_BATCH]
                if not batch:
                    break
                done, error = self._write_batch(batch)
                if done:
                    with self._lock:
                        self._written(done)
                        recovered = self.failure is not None and error is None
                        if recovered:
                            self.failure = None
                    if recovered:
                        log.warning("the database takes writes again")
                if error is not None:
                    failures += 1
                    self._failed(error)
                    break
                failures = 0
                self._report()
            self._report()

    def _write_batch(
        self, batch: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], SQLAlchemyError | None]:
        """The leading writes that are done, and the retriable error that stopped the rest."""
        try:
            self._write(batch)
            return batch, None
        except SQLAlchemyError as e:
            if _retriable(e):
                return [], e
        # refused on its merits: written one by one, and the refused one dropped
        done: list[dict[str, Any]] = []
        for op in batch:
            try:
                self._write([op])
            except SQLAlchemyError as e:
                if _retriable(e):
                    return done, e
                log.error("a write the database refuses is dropped (%s): %s", op["op"], e)
            done.append(op)
        return done, None

    def _failed(self, error: SQLAlchemyError) -> None:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        with self._lock:
            first = self.failure is None
            self.failure = reason
            waiting = len(self._queue)
        if first:
            log.error("the database refuses writes (%s): %d wait, retrying", reason, waiting)
        self._report()

    def _report(self) -> None:
        """Tell the listeners from the first refused write until every waiting write is in:
        a change of `saving` at once, changed counts at most once a second, and the end
        (saving, nothing waiting) always."""
        with self._lock:
            state = self._state()
        if self._reported is None and state.saving:
            return  # all is well, and nobody was told otherwise
        done = state.saving and not state.waiting
        last = self._reported
        now = time.monotonic()
        if last == state:
            return
        if not done and last is not None and last.saving == state.saving:
            if now - self._reported_at < _REPORT_EVERY_S:
                return
        self._reported = None if done else state
        self._reported_at = now
        for listener in list(self.listeners):
            try:
                listener(state)
            except Exception:  # a listener's fault must not stop the writer
                log.exception("a store listener failed")

    def _write(self, ops: list[dict[str, Any]]) -> None:
        with self._db() as db, db.begin():
            for op in ops:
                self._apply(db, op)

    def _apply(self, db, op: dict[str, Any]) -> None:
        kind = op["op"]
        if kind == "session":  # created while the database was away
            info = SessionInfo.model_validate(op["session"])
            if db.get(SessionRow, info.id) is None:
                # its columns only (the count and the reading again's state are read back)
                fields = info.model_dump(exclude={"segments", "room_id", "retranscribe"})
                db.add(SessionRow(**fields, room_id=op["room"]))
        elif kind == "segment":
            self._segment_row(db, Segment.model_validate(op["segment"]))
        elif kind == "translation":
            row = db.get(SegmentRow, op["id"])
            if row is not None:
                row.translations = {**(row.translations or {}), op["lang"]: op["text"]}
        elif kind == "finish":
            row = db.get(SessionRow, op["session"])
            if row is not None:
                row.status, row.duration = op["status"], op["duration"]
        elif kind == "room_state":
            row = db.get(RoomRow, op["room"])
            if row is not None:
                row.state = op["state"]
        elif kind == "voice":
            voice = SavedVoice.model_validate(op["voice"])
            row = db.get(VoiceRow, (op["room"], voice.position))
            if row is None:
                row = VoiceRow(room_id=op["room"], position=voice.position)
                db.add(row)
            row.name, row.total, row.utterances = voice.name, voice.total, voice.utterances
        elif kind == "voices":
            voices = [SavedVoice.model_validate(v) for v in op["voices"]]
            self._replace_voices(db, op["room"], voices)
        db.flush()
