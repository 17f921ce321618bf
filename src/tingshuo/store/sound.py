"""The store's recorded sound: a session's Ogg/Opus pages (tables.py `SoundChunkRow`), kept in
the database so that every gateway serves a worker's recording; and forgetting sessions."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, func, select, update

from ..audio.opus import GRANULES, stretch, whole
from ..errors import TingshuoError
from .connection import Connection, failing
from .records import SessionInfo, retranscription
from .tables import RevisionRow, SegmentRow, SessionRow, SoundChunkRow

_writes = failing("write to")
_reads = failing("read")


class Sound(Connection):
    @_writes
    def set_session_audio(self, session_id: str, audio: str) -> None:
        with self._db() as db, db.begin():
            db.execute(update(SessionRow).where(SessionRow.id == session_id).values(audio=audio))

    @_writes
    def add_sound_chunk(
        self, session_id: str, seq: int, first: int, packets: int, pre_skip: int, data: bytes
    ) -> bool:
        """Stored; False when the page number is taken (another process records the session
        too: a worker that has not yet heard that the room was taken over)."""
        row = {"session_id": session_id, "seq": seq, "first": first, "packets": packets,
               "pre_skip": pre_skip, "data": data}  # fmt: skip
        with self._db() as db, db.begin():
            if db.get_bind().dialect.name == "postgresql":
                from sqlalchemy.dialects.postgresql import insert
            else:
                from sqlalchemy.dialects.sqlite import insert
            # the row back only if it went in (psycopg's rowcount says 1 either way)
            query = insert(SoundChunkRow).values(**row).on_conflict_do_nothing()
            return db.execute(query.returning(SoundChunkRow.seq)).first() is not None

    @_reads
    def last_sound_chunk(self, session_id: str) -> SoundChunkRow | None:
        """Where a session's recording reaches (a worker taking the room over goes on)."""
        with self._db() as db:
            query = select(SoundChunkRow).where(SoundChunkRow.session_id == session_id)
            row = db.scalars(query.order_by(SoundChunkRow.seq.desc()).limit(1)).first()
            if row is not None:
                db.expunge(row)
            return row

    @_reads
    def sound_chunks(
        self, session_id: str, from_packet: int = 0, to_packet: int | None = None
    ) -> list[SoundChunkRow]:
        """The session's pages in order; those holding packets [from_packet, to_packet)."""
        query = select(SoundChunkRow).where(
            SoundChunkRow.session_id == session_id,
            SoundChunkRow.first + SoundChunkRow.packets > from_packet,
        )
        if to_packet is not None:
            query = query.where(SoundChunkRow.first < to_packet)
        with self._db() as db:
            rows = list(db.scalars(query.order_by(SoundChunkRow.seq)))
            for row in rows:
                db.expunge(row)
            return rows

    @_writes
    def delete_session(self, session_id: str) -> bool:
        """The session goes with its captions, their revisions and translations, its sound."""
        with self._db() as db, db.begin():
            if db.get(SessionRow, session_id) is None:
                return False
            ids = select(SegmentRow.id).where(SegmentRow.session_id == session_id)
            db.execute(delete(RevisionRow).where(RevisionRow.segment_id.in_(ids)))
            db.execute(delete(SegmentRow).where(SegmentRow.session_id == session_id))
            db.execute(delete(SoundChunkRow).where(SoundChunkRow.session_id == session_id))
            db.execute(delete(SessionRow).where(SessionRow.id == session_id))
            return True

    @_writes
    def forget_sound(self, before: datetime) -> list[str]:
        """The sound of sessions created before `before` goes; their text stays."""
        with self._db() as db, db.begin():
            old = select(SessionRow.id).where(
                SessionRow.audio == "kept", SessionRow.created_at < before
            )
            ids = list(db.scalars(old))
            if ids:
                db.execute(delete(SoundChunkRow).where(SoundChunkRow.session_id.in_(ids)))
                db.execute(
                    update(SessionRow).where(SessionRow.id.in_(ids)).values(audio="forgotten")
                )
            return ids

    @_writes
    def claim_retranscription(self, session_id: str) -> bool:
        """The session's reading again begins here: False while one already runs (on any
        process, heard of lately)."""
        with self._db() as db, db.begin():
            row = db.get(SessionRow, session_id, with_for_update=True)
            if row is None:
                return False
            current = retranscription(row)
            if current is not None and current.state == "running":
                return False
            row.reread_state, row.reread_progress, row.reread_at = "running", 0.0, now()
            row.reread_counts, row.reread_note = {"changed": 0, "kept": 0}, None
            return True

    @_writes
    def set_retranscription(
        self,
        session_id: str,
        state: str,
        progress: float,
        changed: int = 0,
        kept: int = 0,
        note: str | None = None,
    ) -> None:
        with self._db() as db, db.begin():
            db.execute(
                update(SessionRow)
                .where(SessionRow.id == session_id)
                .values(
                    reread_state=state,
                    reread_progress=round(progress, 4),
                    reread_at=now(),
                    reread_counts={"changed": changed, "kept": kept},
                    reread_note=note[:300] if note else None,
                )
            )

    @_reads
    def sound_bytes(self, session_id: str) -> int:
        with self._db() as db:
            size = func.sum(func.length(SoundChunkRow.data))
            found = db.scalar(select(size).where(SoundChunkRow.session_id == session_id))
            return int(found or 0)


_NO_SOUND = {
    "off": "its room's recording was off (the room's `record` setting)",
    "forgotten": "its sound was deleted (TINGSHUO_KEEP_AUDIO_DAYS)",
    "none": "it was not a live room's session",
}


class SoundMissing(TingshuoError):
    status = 404


def session_sound(
    store: Sound, info: SessionInfo, start: float | None = None, end: float | None = None
) -> bytes:
    """The session's sound as an Ogg/Opus file, or [start, end) seconds of it. Raises
    SoundMissing (which says why) or ValueError (a stretch outside the sound)."""
    session_sound_check(store, info)
    pages = store.sound_chunks(info.id)
    if not pages:
        raise SoundMissing(f"session {info.id} has no sound: none was stored (yet)")
    pre_skip = pages[0].pre_skip
    if start is None and end is None:
        return whole([p.data for p in pages], pre_skip)
    duration = sound_duration(pages)
    start = 0.0 if start is None else start
    end = duration if end is None else end
    if start < 0 or end <= start or end > duration + 0.02:
        raise ValueError(
            f"start and end must lie in the sound (0 to {duration:.2f} s) with start before end"
        )
    first = int(start * 48_000 + pre_skip) // GRANULES - 8
    chosen = [p for p in pages if p.first + p.packets > max(first, 0)]
    return stretch([p.data for p in chosen], pre_skip, chosen[0].first, start, end)


def session_sound_check(store: Sound, info: SessionInfo) -> None:
    """Raises SoundMissing, saying why, unless the session has sound stored."""
    if info.audio != "kept":
        why = _NO_SOUND.get(info.audio, info.audio)
        raise SoundMissing(f"session {info.id} has no sound: {why}")
    if store.last_sound_chunk(info.id) is None:
        raise SoundMissing(f"session {info.id} has no sound: none was stored (yet)")


def sound_duration(pages: list) -> float:
    last = pages[-1]
    return ((last.first + last.packets) * GRANULES - pages[0].pre_skip) / 48_000


def now() -> datetime:
    return datetime.now(UTC)
