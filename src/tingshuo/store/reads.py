"""The store's reads: sessions and their captions, search, rooms, voices, rundowns."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select

from ..errors import TingshuoError
from ..events import Segment
from .connection import Connection, failing
from .records import (
    Revision,
    RoomInfo,
    RoomText,
    SavedRundown,
    SavedVoice,
    SearchHit,
    SessionInfo,
    SpeakerCount,
    room_info,
    room_text,
    session_info,
)
from .tables import (
    RevisionRow,
    RoomRow,
    RundownRow,
    SegmentRow,
    SessionRow,
    SettingRow,
    TextRow,
    VoiceRow,
)

_reads = failing("read")


class Reads(Connection):
    """A database error while reading becomes a StoreError."""

    @_reads
    def list_sessions(self) -> list[SessionInfo]:
        return self._counted_sessions(order=SessionRow.created_at.desc())

    @_reads
    def get_session(self, session_id: str) -> SessionInfo:
        """By id, or by a unique prefix of it (as `tingshuo sessions` shows them)."""
        with self._db() as db:
            # escaped: `%` or `_` in what a user typed are characters, not wildcards
            prefix = SessionRow.id.startswith(session_id, autoescape=True)
            rows = db.scalars(select(SessionRow).where(prefix)).all()
            if len(rows) != 1 or not session_id:
                what = "no session" if not rows else "several sessions"
                raise TingshuoError(f"{what} matching {session_id!r}: see `tingshuo sessions`")
            n = db.scalar(
                select(func.count(SegmentRow.id)).where(SegmentRow.session_id == rows[0].id)
            )
            return session_info(rows[0], n or 0)

    @_reads
    def segments(self, session_id: str, after_id: int | None = None) -> list[Segment]:
        query = select(SegmentRow).where(SegmentRow.session_id == session_id)
        if after_id is not None:
            query = query.where(SegmentRow.id > after_id)
        with self._db() as db:
            return [
                r.to_segment() for r in db.scalars(query.order_by(SegmentRow.start, SegmentRow.id))
            ]

    @_reads
    def get_segment(self, segment_id: int) -> Segment | None:
        with self._db() as db:
            row = db.get(SegmentRow, segment_id)
            return row.to_segment() if row is not None else None

    @_reads
    def stored_revision(self, segment_id: int) -> int:
        """The caption's revision in the database itself (0: the machine's text, or not
        written yet): what another process may have corrected it to."""
        with self._db() as db:
            revision = db.scalar(select(SegmentRow.revision).where(SegmentRow.id == segment_id))
            return revision or 0

    @_reads
    def search(self, text: str, limit: int = 100) -> list[SearchHit]:
        if not text.strip():
            raise TingshuoError("nothing to search for: give a word or phrase")
        query = (
            select(SegmentRow, SessionRow)
            .join(SessionRow, SessionRow.id == SegmentRow.session_id)
            .where(SegmentRow.text.contains(text.strip(), autoescape=True))
            .order_by(SessionRow.created_at.desc(), SegmentRow.start)
            .limit(limit)
        )
        with self._db() as db:
            return [
                SearchHit(session=session_info(s), segment=g.to_segment())
                for g, s in db.execute(query)
            ]

    @_reads
    def revisions(self, segment_id: int) -> list[Revision]:
        """A caption's texts, the machine's first (empty: never corrected)."""
        query = (
            select(RevisionRow)
            .where(RevisionRow.segment_id == segment_id)
            .order_by(RevisionRow.revision)
        )
        with self._db() as db:
            return [
                Revision(revision=r.revision, text=r.text, by=r.by, editor=r.editor,
                         at=r.created_at)
                for r in db.scalars(query)
            ]  # fmt: skip

    @_reads
    def corrected_segments(self, room_id: str, up_to: int) -> list[Segment]:
        """The room's corrected captions with ids up to `up_to` (what a viewer that
        reconnects may have seen before they were corrected)."""
        query = (
            select(SegmentRow)
            .join(SessionRow, SessionRow.id == SegmentRow.session_id)
            .where(
                SessionRow.room_id == room_id,
                SegmentRow.id <= up_to,
                SegmentRow.revision > 0,
            )
            .order_by(SegmentRow.id)
        )
        with self._db() as db:
            return [r.to_segment() for r in db.scalars(query)]

    @_reads
    def server_rules(self) -> list[tuple[str, str]]:
        with self._db() as db:
            row = db.get(SettingRow, "rules")
            return [(a, b) for a, b in (row.value if row is not None else [])]

    # rooms (the live event server)

    @_reads
    def get_room(self, room_id: str) -> RoomInfo | None:
        with self._db() as db:
            row = db.get(RoomRow, room_id)
            return room_info(row) if row is not None else None

    @_reads
    def list_rooms(self) -> list[RoomInfo]:
        with self._db() as db:
            return [room_info(r) for r in db.scalars(select(RoomRow).order_by(RoomRow.created_at))]

    @_reads
    def room_sessions(self, room_id: str) -> list[SessionInfo]:
        return self._counted_sessions(SessionRow.room_id == room_id, order=SessionRow.created_at)

    def _counted_sessions(self, *where, order) -> list[SessionInfo]:
        """Sessions with how many captions each has stored."""
        counts = (
            select(SegmentRow.session_id, func.count(SegmentRow.id).label("n"))
            .group_by(SegmentRow.session_id)
            .subquery()
        )
        query = (
            select(SessionRow, func.coalesce(counts.c.n, 0))
            .outerjoin(counts, counts.c.session_id == SessionRow.id)
            .where(*where)
            .order_by(order)
        )
        with self._db() as db:
            return [session_info(row, n) for row, n in db.execute(query)]

    @_reads
    def room_segments(
        self, room_id: str, after_id: int = 0, limit: int | None = None
    ) -> list[Segment]:
        """Finals of every session held in the room, in the order they were stored."""
        query = (
            select(SegmentRow)
            .join(SessionRow, SessionRow.id == SegmentRow.session_id)
            .where(SessionRow.room_id == room_id, SegmentRow.id > after_id)
            .order_by(SegmentRow.id)
        )
        if limit is not None:
            query = query.limit(limit)
        with self._db() as db:
            return [r.to_segment() for r in db.scalars(query)]

    @_reads
    def last_segment_id(self, room_id: str) -> int:
        """The largest segment id stored in the room (0: none)."""
        query = (
            select(func.max(SegmentRow.id))
            .join(SessionRow, SessionRow.id == SegmentRow.session_id)
            .where(SessionRow.room_id == room_id)
        )
        with self._db() as db:
            return db.scalar(query) or 0

    def speakers(self, room_id: str) -> list[SpeakerCount]:
        """The names on the room's captions, in order of first appearance, with how many
        captions each; then the voices the room knows that no caption carries (yet)."""
        return self._speakers(room_id, [])

    @_reads
    def _speakers(self, room_id: str, pending: Sequence[Segment]) -> list[SpeakerCount]:
        """`pending`: captions not in the database yet (or not as they are now): counted as
        given, and their rows in the database, if any, left out."""
        skip = [s.id for s in pending if s.id is not None]
        query = (
            select(SegmentRow.speaker, func.count(SegmentRow.id), func.min(SegmentRow.id))
            .join(SessionRow, SessionRow.id == SegmentRow.session_id)
            .where(SessionRow.room_id == room_id, SegmentRow.speaker.is_not(None))
            .group_by(SegmentRow.speaker)
        )
        if skip:
            query = query.where(SegmentRow.id.not_in(skip))
        with self._db() as db:
            found = {name: [n, first] for name, n, first in db.execute(query)}
            names = db.scalars(
                select(VoiceRow.name).where(VoiceRow.room_id == room_id).order_by(VoiceRow.position)
            ).all()
        for seg in pending:
            if seg.speaker:
                counted = found.setdefault(seg.speaker, [0, seg.id or 0])
                counted[0] += 1
                counted[1] = min(counted[1], seg.id or 0)
        order = sorted(found, key=lambda name: found[name][1])
        order += [name for name in names if name not in found]
        return [SpeakerCount(name=n, captions=found.get(n, [0])[0]) for n in dict.fromkeys(order)]

    @_reads
    def voices(self, room_id: str) -> list[SavedVoice]:
        query = select(VoiceRow).where(VoiceRow.room_id == room_id).order_by(VoiceRow.position)
        with self._db() as db:
            return [
                SavedVoice(position=r.position, name=r.name, total=r.total, utterances=r.utterances)
                for r in db.scalars(query)
            ]

    @_reads
    def rundown(self, room_id: str) -> SavedRundown | None:
        with self._db() as db:
            row = db.get(RundownRow, room_id)
            if row is None:
                return None
            return SavedRundown(
                text=row.text,
                format=row.format,
                position=row.position,
                cue=row.cue,
                skipped=list(row.skipped or []),
            )

    @_reads
    def room_texts(self, room_id: str) -> list[RoomText]:
        """A room's prepared texts, in the order they were added (reading order)."""
        query = select(TextRow).where(TextRow.room_id == room_id).order_by(TextRow.id)
        with self._db() as db:
            return [room_text(row) for row in db.scalars(query)]

    @_reads
    def texts_version(self, room_id: str) -> tuple[tuple[int, str], ...]:
        """What changes when a room's texts or terms change (not its machine translations)."""
        query = (
            select(TextRow.id, TextRow.updated_at)
            .where(TextRow.room_id == room_id)
            .order_by(TextRow.id)
        )
        with self._db() as db:
            return tuple((i, str(at)) for i, at in db.execute(query))
