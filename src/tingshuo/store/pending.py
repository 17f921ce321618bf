"""Writes the database has not taken yet: a live room never waits for its database.

`BufferedStore` is the store a server uses. A caption gets its id at once (ids come from a
block reserved ahead of need), goes into a journal file beside the database, and is written
by one writer thread, in order, in small transactions. While the database refuses (locked,
restarting, a full disk) the writer retries with backoff and nothing is dropped: the pending
writes stay in order, in the journal and in memory, up to `limit` of them.

Reads of a room's or a session's captions see the pending ones too, and when the database
cannot be read at all, a room's recent captions come from memory, so viewers that reconnect
still catch up. Each process owns its journal (an exclusive lock); one that died leaves its
journal behind, and the next process to open the same database writes it in.

The journal file is in journal.py, the writer thread in writer.py.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from ..errors import StoreError, TingshuoError
from ..events import Segment
from ..redact import hide_password
from ..settings import Settings
from .journal import Journal, journal_dir, left_behind
from .records import Corrected, SavedVoice, SessionInfo, SpeakerCount
from .writer import PendingWriter, StoreState

__all__ = ["BufferedStore", "StoreState", "journal_dir", "open_buffered_store"]

log = logging.getLogger(__name__)

_RECENT = 2000  # captions kept in memory for catch-up while the database cannot be read


class BufferedStore(PendingWriter):
    def __init__(
        self,
        url: str,
        folder: Path | None = None,
        limit: int = 20_000,
        block: int = 1000,
        busy_timeout_s: float = 5.0,
    ) -> None:
        super().__init__(url, busy_timeout_s)
        self.limit = limit
        self._block = block
        self._lock = threading.Lock()
        self._queue: deque[dict[str, Any]] = deque()
        # the latest version of recent captions (written or not), by id
        self._recent: OrderedDict[int, Segment] = OrderedDict()
        self._unwritten: dict[int, int] = {}  # segment id -> writes of it still pending
        self._room_of: dict[str, str | None] = {}  # session id -> room id
        self._pending_sessions: dict[str, SessionInfo] = {}  # created while it was away
        self._ids = range(0)  # ids this process may hand out, in order
        self._spare = range(0)  # the next block, reserved by the writer ahead of need
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._closed = False
        self.failure: str | None = None  # why the database refuses now (for the log)
        self.listeners: list[Callable[[StoreState], None]] = []
        self._reported: StoreState | None = None  # told last (None: nothing to tell)
        self._reported_at = 0.0
        self.folder = folder if folder is not None else journal_dir(url)
        self._journal = Journal(self.folder)
        self._take_over_journals()
        self._ids = self._reserve_block()
        self._writer = threading.Thread(target=self._write_loop, name="store-writer", daemon=True)
        self._writer.start()

    # -- writes, from any thread: never wait for the database

    def create_session(self, title: str, source: str = "", lang: str = "auto",
                       hotwords: Sequence[str] = (), targets: Sequence[str] = (),
                       room_id: str | None = None) -> SessionInfo:  # fmt: skip
        """In the database at once; while it is away, journaled like a caption (before the
        session's captions, in the same order): a room starts all the same."""
        try:
            info = super().create_session(title, source, lang, hotwords, targets, room_id)
        except StoreError as e:
            info = SessionInfo(id=secrets.token_hex(8), title=title, source=source, lang=lang,
                               hotwords=list(hotwords), targets=list(targets), status="live",
                               created_at=datetime.now(UTC), duration=0.0)  # fmt: skip
            log.warning("session %s: started while the database is away (%s); it is stored "
                        "when the database is back", info.id, e)  # fmt: skip
            self.journal_session(info, room_id)
        with self._lock:
            self._room_of[info.id] = room_id
        return info

    def journal_session(self, info: SessionInfo, room_id: str | None) -> None:
        """A session to write ahead of the captions that follow (one created here while the
        database is away, or by another process whose journal may be written later than
        this one's); written once: one already there is left as it is."""
        with self._lock:
            self._pending_sessions[info.id] = info
            self._room_of[info.id] = room_id
            self._append({"op": "session", "session": info.model_dump(mode="json"),
                          "room": room_id})  # fmt: skip

    def add_segment(self, segment: Segment) -> Segment:
        if segment.session_id is None:
            raise ValueError("segment has no session_id")
        with self._lock:
            self._check_room()
            segment = segment.model_copy(update={"id": self._next_id()})
            self._remember(segment)
            self._append({"op": "segment", "segment": segment.model_dump(mode="json")})
        return segment

    def set_translation(self, segment_id: int, lang: str, text: str) -> None:
        with self._lock:
            self._check_room()
            kept = self._recent.get(segment_id)
            if kept is not None:
                kept = kept.model_copy(update={"translations": {**kept.translations, lang: text}})
                self._remember(kept)
            self._append({"op": "translation", "id": segment_id, "lang": lang, "text": text})

    def finish_session(self, session_id: str, status: str, duration: float) -> None:
        with self._lock:
            self._append(
                {"op": "finish", "session": session_id, "status": status, "duration": duration}
            )

    def set_room_state(self, room_id: str, state: str) -> None:
        with self._lock:
            self._append({"op": "room_state", "room": room_id, "state": state})

    def save_voice(self, room_id: str, voice: SavedVoice) -> None:
        with self._lock:
            self._check_room()
            self._append({"op": "voice", "room": room_id, "voice": voice.model_dump()})

    def set_speaker(self, segment_id: int, speaker: str | None) -> Segment | None:
        self._wait_written(segment_id)
        segment = super().set_speaker(segment_id, speaker)
        if segment is not None:
            with self._lock:
                if segment_id in self._recent:
                    self._remember(segment)
        return segment

    def correct_segment(
        self,
        segment_id: int,
        text: str,
        by: str = "operator",
        editor: str | None = None,
        base: int | None = None,
    ) -> Corrected | None:
        self._wait_written(segment_id)
        corrected = super().correct_segment(segment_id, text, by, editor, base)
        if corrected is not None and corrected.changed:
            with self._lock:
                kept = self._recent.get(segment_id)
                if kept is not None:  # its translations may still be on their way in
                    self._remember(
                        corrected.segment.model_copy(update={"translations": kept.translations})
                    )
        return corrected

    def replace_voices(self, room_id: str, voices: Sequence[SavedVoice]) -> None:
        with self._lock:
            self._check_room()
            self._append(
                {"op": "voices", "room": room_id, "voices": [v.model_dump() for v in voices]}
            )

    def rename_speaker(self, room_id: str, old: str, new: str) -> list[int]:
        self.flush(timeout=5)
        return self._relabelled(super().rename_speaker(room_id, old, new), new)

    def merge_speakers(self, room_id: str, source: str, into: str) -> list[int]:
        self.flush(timeout=5)  # a voice saved or replaced just before is merged too
        return self._relabelled(super().merge_speakers(room_id, source, into), into)

    def _relabelled(self, ids: list[int], speaker: str) -> list[int]:
        with self._lock:
            for i in ids:
                if i in self._recent:
                    self._remember(self._recent[i].model_copy(update={"speaker": speaker}))
        return ids

    def ensure_ids_above(self, floor: int) -> None:
        """The next id handed out is above `floor` (a room's last caption, which another
        process may have numbered from a later block): a room's captions stay in order."""
        with self._lock:
            if self._ids and self._ids[0] > floor:
                return
            if self._spare and self._spare[0] > floor:
                self._ids, self._spare = self._spare, range(0)
                return
            fresh = self._reserve_block()  # later than every block reserved before it
            if fresh:
                self._ids, self._spare = fresh, range(0)

    def _wait_written(self, segment_id: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if segment_id not in self._unwritten:
                    return
            self._wake.set()
            time.sleep(0.05)
        raise StoreError(
            "this caption is not in the database yet (it is away); try again in a moment"
        )

    # -- reads: the database's rows with the pending writes laid over them

    def segments(self, session_id: str, after_id: int | None = None) -> list[Segment]:
        rows = {s.id: s for s in super().segments(session_id, after_id)}
        with self._lock:
            for seg in self._recent.values():
                if seg.session_id == session_id and (after_id is None or seg.id > after_id):  # type: ignore[operator]
                    rows[seg.id] = seg
        return sorted(rows.values(), key=lambda s: (s.start, s.id or 0))

    def room_segments(
        self, room_id: str, after_id: int = 0, limit: int | None = None
    ) -> list[Segment]:
        try:
            rows = {s.id: s for s in super().room_segments(room_id, after_id, limit)}
        except StoreError as e:
            # viewers catching up still get the room's recent captions, from memory
            log.warning("room %s: catch-up from memory: %s", room_id, e)
            rows = {}
        with self._lock:
            for seg in self._recent.values():
                if (seg.id or 0) > after_id and self._room_of.get(seg.session_id or "") == room_id:
                    rows[seg.id] = seg
        merged = sorted(rows.values(), key=lambda s: s.id or 0)
        return merged[:limit] if limit is not None else merged

    def delete_session(self, session_id: str) -> bool:
        """Gone from the database and from the captions kept in memory for catch-up."""
        with self._lock:
            for seg_id in [i for i, s in self._recent.items() if s.session_id == session_id]:
                del self._recent[seg_id]
        return super().delete_session(session_id)

    def get_segment(self, segment_id: int) -> Segment | None:
        with self._lock:
            kept = self._recent.get(segment_id)
        return kept if kept is not None else super().get_segment(segment_id)

    def corrected_segments(self, room_id: str, up_to: int) -> list[Segment]:
        rows = {s.id: s for s in super().corrected_segments(room_id, up_to)}
        with self._lock:
            for seg in self._recent.values():
                if (
                    seg.revision
                    and (seg.id or 0) <= up_to
                    and self._room_of.get(seg.session_id or "") == room_id
                ):
                    rows[seg.id] = seg
        return sorted(rows.values(), key=lambda s: s.id or 0)

    def speakers(self, room_id: str) -> list[SpeakerCount]:
        with self._lock:
            pending = [
                self._recent[i]
                for i in self._unwritten
                if i in self._recent
                and self._room_of.get(self._recent[i].session_id or "") == room_id
            ]
        return self._speakers(room_id, pending)

    def get_session(self, session_id: str) -> SessionInfo:
        ends = self._pending_ends()  # before the read: one written meanwhile is still seen
        with self._lock:
            pending = self._pending_sessions.get(session_id)
        if pending is not None:
            return self._pending_view(pending, ends)
        return self._pending_view(super().get_session(session_id), ends)

    def list_sessions(self) -> list[SessionInfo]:
        ends = self._pending_ends()
        return [self._pending_view(info, ends) for info in super().list_sessions()]

    def room_sessions(self, room_id: str) -> list[SessionInfo]:
        ends = self._pending_ends()
        return [self._pending_view(info, ends) for info in super().room_sessions(room_id)]

    def _pending_ends(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {op["session"]: op for op in self._queue if op["op"] == "finish"}

    def _pending_view(self, info: SessionInfo, ends: dict[str, dict[str, Any]]) -> SessionInfo:
        """A session as it will be once the pending writes are in: its captions counted and
        its end (status, duration) applied."""
        with self._lock:
            pending = sum(
                1
                for op in self._queue
                if op["op"] == "segment" and op["segment"]["session_id"] == info.id
            )
        update: dict[str, Any] = {"segments": info.segments + pending}
        end = ends.get(info.id)
        if end is not None:
            update |= {"status": end["status"], "duration": end["duration"]}
        return info.model_copy(update=update)

    # -- state

    @property
    def waiting(self) -> int:
        """Writes not yet in the database."""
        with self._lock:
            return len(self._queue)

    def state(self) -> StoreState:
        with self._lock:
            return self._state()

    def adopt_orphans(self, timeout: float = 5.0) -> bool:
        """Journals that processes which died here left behind: written in now (a worker
        taking over a room wants the dead worker's last captions stored first)."""
        self._take_over_journals()
        return self.flush(timeout)

    def _take_over_journals(self) -> None:
        """Journals left by processes that stopped before their writes were in: ours now."""
        for path in self._journal.others():
            ops = left_behind(path)
            if ops is None:
                continue
            with self._lock:
                for op in ops:
                    if op.get("op") == "segment":
                        self._remember(Segment.model_validate(op["segment"]))
                    self._append(op)
            path.unlink(missing_ok=True)
            if ops:
                log.warning("%d writes left by a stopped process are being stored", len(ops))

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every pending write is in the database; False if it is still away."""
        self._wake.set()
        return self._idle.wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Write what is pending (for at most `timeout`); what is left stays in the journal
        and is written by the next process that opens this database."""
        if not self.flush(timeout):
            log.error(
                "%d writes could not reach the database; they are kept in %s and will be "
                "written when tingshuo next opens it",
                self.waiting,
                self.folder,
            )
        self._closed = True
        self._wake.set()
        self._writer.join(timeout=max(timeout, 1.0))
        with self._lock:
            self._journal.close(empty=not self._queue)
        self.engine.dispose()

    # -- inside, with the lock held

    def _next_id(self) -> int:
        if not self._ids:
            self._ids, self._spare = self._spare, range(0)
        if not self._ids:
            self._ids = self._reserve_block()
        if not self._ids:
            raise StoreError("cannot number captions: the database is away and no ids are left")
        first, self._ids = self._ids[0], self._ids[1:]
        if len(self._ids) < self._block // 2 and not self._spare:
            self._wake.set()  # the writer reserves the next block while the database is up
        return first

    def _check_room(self) -> None:
        if len(self._queue) >= self.limit:
            raise StoreError(
                f"cannot write to the database: {self.failure or 'it is too slow'}, and "
                f"{len(self._queue)} writes already wait for it"
            )

    def _remember(self, segment: Segment) -> None:
        assert segment.id is not None
        self._recent[segment.id] = segment
        self._recent.move_to_end(segment.id)
        while len(self._recent) > _RECENT:
            self._recent.popitem(last=False)

    def _append(self, op: dict[str, Any]) -> None:
        """Queue a write (journaled first, where the disk allows) and wake the writer."""
        self._queue.append(op)
        self._idle.clear()
        if op["op"] == "segment":
            sid = op["segment"]["id"]
            self._unwritten[sid] = self._unwritten.get(sid, 0) + 1
        elif op["op"] == "translation" and op["id"] in self._unwritten:
            self._unwritten[op["id"]] += 1
        self._journal.append(op)
        self._wake.set()


def open_buffered_store(settings: Settings) -> BufferedStore:
    try:
        return BufferedStore(
            settings.database_url,
            limit=settings.store_pending_max,
            busy_timeout_s=settings.store_busy_timeout_s,
        )
    except SQLAlchemyError as e:
        raise TingshuoError(
            f"cannot open the database {hide_password(settings.database_url)}: {e}"
        ) from e
