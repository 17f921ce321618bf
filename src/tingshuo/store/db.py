"""Sessions and their final segments, through SQLAlchemy: SQLite by default, PostgreSQL by URL."""

from __future__ import annotations

import functools
import json
import logging
import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import ParamSpec, TypeVar

from pydantic import BaseModel
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    create_engine,
    event,
    func,
    inspect,
    literal,
    select,
    update,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from ..errors import StoreError, TingshuoError
from ..events import Segment

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")


class Base(DeclarativeBase):
    pass


class SessionRow(Base):
    __tablename__ = "sessions"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    source: Mapped[str] = mapped_column(String(1000), default="")
    lang: Mapped[str] = mapped_column(String(16), default="auto")
    hotwords: Mapped[list] = mapped_column(JSON, default=list)
    targets: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="live")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    duration: Mapped[float] = mapped_column(Float, default=0.0)
    # the live room this session was held in, if any
    room_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)


class RoomRow(Base):
    """A live event room: its settings and its viewer token; each start opens a session."""

    __tablename__ = "rooms"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    lang: Mapped[str] = mapped_column(String(16), default="auto")
    targets: Mapped[list] = mapped_column(JSON, default=list)
    hotwords: Mapped[list] = mapped_column(JSON, default=list)
    glossary: Mapped[list] = mapped_column(JSON, default=list)  # [[source, target], …]
    rules: Mapped[list] = mapped_column(JSON, default=list)  # correction rules [[wrong, right]]
    viewer_token: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="idle")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RundownRow(Base):
    """A room's AI-anchor rundown and where the console stands in it: an event survives a
    server restart in the middle of its programme."""

    __tablename__ = "rundowns"
    room_id: Mapped[str] = mapped_column(
        ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True
    )
    text: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(16))
    position: Mapped[int] = mapped_column(Integer, default=-1)
    cue: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[list] = mapped_column(JSON, default=list)


class VoiceRow(Base):
    """A speaker a room's diarizer knows: its name and the sum of its voice embeddings, so
    that after a restart a voice is still the person the organizer named."""

    __tablename__ = "voices"
    room_id: Mapped[str] = mapped_column(
        ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    total: Mapped[list] = mapped_column(JSON)
    utterances: Mapped[int] = mapped_column(Integer, default=1)


class SavedVoice(BaseModel):
    position: int
    name: str
    total: list[float]
    utterances: int


class SpeakerCount(BaseModel):
    """A name on a room's captions (or a voice not on any yet) and how many captions carry it."""

    name: str
    captions: int


class SavedRundown(BaseModel):
    text: str
    format: str
    position: int = -1  # the segment cued last (-1: none yet)
    cue: int = 0
    skipped: list[int] = []


class CounterRow(Base):
    """The next segment id not yet handed out. Ids are reserved from here in blocks, so a
    server can number captions while its database is away, and two processes writing to one
    database never hand out the same id."""

    __tablename__ = "counters"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    next: Mapped[int] = mapped_column(BigInteger)


class SegmentRow(Base):
    __tablename__ = "segments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    lang: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    speaker: Mapped[str | None] = mapped_column(String(100), nullable=True)
    translations: Mapped[dict] = mapped_column(JSON, default=dict)
    # corrections: the count of revisions and the machine's text (None until corrected)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    original: Mapped[str | None] = mapped_column(Text, nullable=True)

    def to_segment(self) -> Segment:
        return Segment(
            id=self.id,
            session_id=self.session_id,
            start=self.start,
            end=self.end,
            lang=self.lang,
            text=self.text,
            speaker=self.speaker,
            translations=dict(self.translations or {}),
            revision=self.revision or 0,
            original=self.original,
        )


class RevisionRow(Base):
    """Each text a caption has had: revision 0 is the machine's, then every correction, by
    whom and from which console."""

    __tablename__ = "revisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    segment_id: Mapped[int] = mapped_column(BigInteger, index=True)
    revision: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    by: Mapped[str] = mapped_column(String(16))  # machine, operator, model
    editor: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SettingRow(Base):
    """Server-wide settings kept in the database (the server's correction rules)."""

    __tablename__ = "server_settings"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[list] = mapped_column(JSON, default=list)


class SessionInfo(BaseModel):
    id: str
    title: str
    source: str
    lang: str
    hotwords: list[str]
    targets: list[str] = []
    status: str
    created_at: datetime
    duration: float
    segments: int = 0


class RoomInfo(BaseModel):
    id: str
    name: str
    lang: str
    targets: list[str]
    hotwords: list[str]
    glossary: list[tuple[str, str]]
    rules: list[tuple[str, str]] = []
    viewer_token: str
    state: str
    created_at: datetime


class Revision(BaseModel):
    revision: int
    text: str
    by: str
    editor: str | None = None
    at: datetime


class Corrected(BaseModel):
    """A correction as stored: the caption now, and what it overwrote when that was not the
    revision the editor started from (someone else saved in between)."""

    segment: Segment
    changed: bool  # False: the text was already this, or the model may not touch it
    replaced: Revision | None = None


def _room(row: RoomRow) -> RoomInfo:
    return RoomInfo(
        id=row.id,
        name=row.name,
        lang=row.lang,
        targets=list(row.targets or []),
        hotwords=list(row.hotwords or []),
        glossary=[(a, b) for a, b in (row.glossary or [])],
        rules=[(a, b) for a, b in (row.rules or [])],
        viewer_token=row.viewer_token,
        state=row.state,
        created_at=row.created_at,
    )


class SearchHit(BaseModel):
    session: SessionInfo
    segment: Segment


def _info(row: SessionRow, count: int = 0) -> SessionInfo:
    return SessionInfo(
        id=row.id,
        title=row.title,
        source=row.source,
        lang=row.lang,
        hotwords=list(row.hotwords or []),
        targets=list(row.targets or []),
        status=row.status,
        created_at=row.created_at,
        duration=row.duration,
        segments=count,
    )


def _literal_default(column: Column, dialect) -> str | None:
    """The column's Python default as SQL, for rows stored before the column existed."""
    default = column.default
    if default is None:
        return None
    value = default.arg(None) if default.is_callable else default.arg  # type: ignore[union-attr]
    if isinstance(column.type, JSON):
        value = json.dumps(value, ensure_ascii=False)
    return str(literal(value).compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def _add_missing_columns(engine: Engine) -> None:
    """A database made by an older tingshuo lacks the columns added since: add them, with their
    defaults, so that an upgrade keeps every stored session. New tables come from create_all;
    columns are only ever added, never changed or dropped."""
    schema = inspect(engine)
    for table in Base.metadata.sorted_tables:
        present = {c["name"] for c in schema.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            ddl = (
                f"ALTER TABLE {table.name} ADD COLUMN {column.name} "
                f"{column.type.compile(dialect=engine.dialect)}"
            )
            default = _literal_default(column, engine.dialect)
            if default is not None:
                ddl += f" DEFAULT {default}"
            with engine.begin() as conn:
                conn.exec_driver_sql(ddl)
            log.info("database upgraded: %s.%s added", table.name, column.name)


def _failing(doing: str) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """A database error (a full disk, a lock, a lost server) becomes one StoreError line,
    "cannot {doing} the database: …"; a write's transaction is rolled back, so what was
    stored before stays."""

    def wrap(method: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(method)
        def call(*args: P.args, **kwargs: P.kwargs) -> T:
            try:
                return method(*args, **kwargs)
            except SQLAlchemyError as e:
                raise StoreError(f"cannot {doing} the database: {_reason(e)}") from e

        return call

    return wrap


_writes = _failing("write to")
_reads = _failing("read")


def _reason(error: SQLAlchemyError) -> str:
    return str(getattr(error, "orig", None) or error).strip().splitlines()[0]


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL: readers never wait for a writer, and a writer for readers
    dbapi_connection.execute("PRAGMA journal_mode=WAL")


class Store:
    def __init__(self, url: str, busy_timeout_s: float = 5.0) -> None:
        parsed = make_url(url)
        if parsed.drivername.startswith("sqlite") and parsed.database not in (None, "", ":memory:"):
            folder = Path(parsed.database).expanduser().parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise TingshuoError(
                    f"cannot create the database folder {folder}: {e.strerror}"
                ) from e
        if parsed.drivername.startswith("sqlite"):
            # a locked database is waited for this long before a statement gives up
            self.engine = create_engine(url, connect_args={"timeout": busy_timeout_s})
            if parsed.database not in (None, "", ":memory:"):
                event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            # a connection the server dropped (a restart) is noticed before it is used
            self.engine = create_engine(url, pool_pre_ping=True)
        try:
            Base.metadata.create_all(self.engine)
            _add_missing_columns(self.engine)
        except OperationalError as e:
            raise TingshuoError(
                f"cannot open the database {parsed.render_as_string()}: {e.orig}"
            ) from e
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def _db(self) -> Session:
        return self._sessions()

    @_writes
    def create_session(
        self,
        title: str,
        source: str = "",
        lang: str = "auto",
        hotwords: Sequence[str] = (),
        targets: Sequence[str] = (),
        room_id: str | None = None,
    ) -> SessionInfo:
        row = SessionRow(
            id=secrets.token_hex(8),
            title=title,
            source=source,
            lang=lang,
            hotwords=list(hotwords),
            targets=list(targets),
            status="live",
            created_at=datetime.now(UTC),
            duration=0.0,
            room_id=room_id,
        )
        with self._db() as db, db.begin():
            db.add(row)
        return _info(row)

    @_writes
    def reserve_ids(self, count: int) -> int:
        """Reserve `count` segment ids for this process; returns the first of them."""
        with self._db() as db, db.begin():
            return self._reserve(db, count)

    def _reserve(self, db: Session, count: int) -> int:
        bump = (
            update(CounterRow)
            .where(CounterRow.name == "segments")
            .values(next=CounterRow.next + count)
            .returning(CounterRow.next)
        )
        after = db.scalar(bump)
        if after is None:  # the first reservation in this database
            last = db.scalar(select(func.max(SegmentRow.id))) or 0
            db.add(CounterRow(name="segments", next=last + 1 + count))
            db.flush()
            return last + 1
        return after - count

    @_writes
    def add_segment(self, segment: Segment) -> Segment:
        """Write a final segment; returns it with its id (the one it has, or a new one)."""
        if segment.session_id is None:
            raise ValueError("segment has no session_id")
        with self._db() as db, db.begin():
            row = self._segment_row(db, segment)
            db.flush()
            return row.to_segment()

    def _segment_row(self, db: Session, segment: Segment) -> SegmentRow:
        """Insert the segment, or (written before, by a journal being replayed) update it."""
        row = db.get(SegmentRow, segment.id) if segment.id is not None else None
        if row is None:
            row = SegmentRow(id=segment.id if segment.id is not None else self._reserve(db, 1))
            db.add(row)
        row.session_id = segment.session_id  # type: ignore[assignment]
        row.start, row.end, row.lang = segment.start, segment.end, segment.lang
        row.speaker = segment.speaker
        row.translations = dict(segment.translations)
        if (row.revision or 0) <= segment.revision:  # a replay never undoes a correction
            row.text, row.revision, row.original = segment.text, segment.revision, segment.original
        return row

    @_writes
    def set_translation(self, segment_id: int, lang: str, text: str) -> None:
        with self._db() as db, db.begin():
            row = db.get(SegmentRow, segment_id)
            if row is not None:
                row.translations = {**(row.translations or {}), lang: text}

    @_reads
    def get_segment(self, segment_id: int) -> Segment | None:
        with self._db() as db:
            row = db.get(SegmentRow, segment_id)
            return row.to_segment() if row is not None else None

    @_writes
    def correct_segment(
        self,
        segment_id: int,
        text: str,
        by: str = "operator",
        editor: str | None = None,
        base: int | None = None,
    ) -> Corrected | None:
        """The caption's text becomes `text`, as a new revision (the machine's text is kept as
        revision 0). The later save wins; `base`, the revision the editor started from, tells
        whether it overwrote someone else's. The model never touches a caption an operator
        corrected. None: no such caption."""
        with self._db() as db, db.begin():
            row = db.get(SegmentRow, segment_id, with_for_update=True)
            if row is None:
                return None
            now = datetime.now(UTC)
            if by == "model" and (row.revision or 0) > 0:
                return Corrected(segment=row.to_segment(), changed=False)
            if text == row.text:
                return Corrected(segment=row.to_segment(), changed=False)
            replaced = None
            if base is not None and base < (row.revision or 0):
                last = db.scalar(
                    select(RevisionRow)
                    .where(RevisionRow.segment_id == segment_id)
                    .order_by(RevisionRow.revision.desc())
                    .limit(1)
                )
                replaced = Revision(
                    revision=row.revision,
                    text=row.text,
                    by=last.by if last is not None else "machine",
                    editor=last.editor if last is not None else None,
                    at=last.created_at if last is not None else now,
                )
            if not row.revision:
                row.original = row.text
                db.add(RevisionRow(segment_id=segment_id, revision=0, text=row.text,
                                   by="machine", created_at=now))  # fmt: skip
            row.revision = (row.revision or 0) + 1
            row.text = text
            db.add(RevisionRow(segment_id=segment_id, revision=row.revision, text=text, by=by,
                               editor=editor, created_at=now))  # fmt: skip
            db.flush()
            return Corrected(segment=row.to_segment(), changed=True, replaced=replaced)

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

    @_writes
    def set_server_rules(self, pairs: Sequence[tuple[str, str]]) -> None:
        with self._db() as db, db.begin():
            row = db.get(SettingRow, "rules")
            if row is None:
                row = SettingRow(name="rules")
                db.add(row)
            row.value = [list(p) for p in pairs]

    @_writes
    def finish_session(self, session_id: str, status: str, duration: float) -> None:
        with self._db() as db, db.begin():
            row = db.get(SessionRow, session_id)
            if row is not None:
                row.status = status
                row.duration = duration

    @_writes
    def close_interrupted_sessions(self) -> int:
        """Sessions still 'live' when a server starts were cut off by a crash or kill -9:
        mark them 'interrupted' (what they stored stays); returns how many."""
        with self._db() as db, db.begin():
            rows = db.scalars(select(SessionRow).where(SessionRow.status == "live")).all()
            for row in rows:
                row.status = "interrupted"
                last = db.scalar(
                    select(func.max(SegmentRow.end)).where(SegmentRow.session_id == row.id)
                )
                row.duration = max(row.duration or 0.0, last or 0.0)
            return len(rows)

    @_reads
    def list_sessions(self) -> list[SessionInfo]:
        counts = (
            select(SegmentRow.session_id, func.count(SegmentRow.id).label("n"))
            .group_by(SegmentRow.session_id)
            .subquery()
        )
        query = (
            select(SessionRow, func.coalesce(counts.c.n, 0))
            .outerjoin(counts, counts.c.session_id == SessionRow.id)
            .order_by(SessionRow.created_at.desc())
        )
        with self._db() as db:
            return [_info(row, n) for row, n in db.execute(query)]

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
            return _info(rows[0], n or 0)

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
                SearchHit(session=_info(s), segment=g.to_segment()) for g, s in db.execute(query)
            ]

    # rooms (the live event server)

    @_writes
    def create_room(
        self,
        name: str,
        lang: str = "auto",
        targets: Sequence[str] = (),
        hotwords: Sequence[str] = (),
        glossary: Sequence[tuple[str, str]] = (),
    ) -> RoomInfo:
        row = RoomRow(
            id=secrets.token_urlsafe(12),  # 96 random bits: a room id cannot be guessed
            name=name,
            lang=lang,
            targets=list(targets),
            hotwords=list(hotwords),
            glossary=[list(pair) for pair in glossary],
            viewer_token=secrets.token_urlsafe(12),
            state="idle",
            created_at=datetime.now(UTC),
        )
        with self._db() as db, db.begin():
            db.add(row)
        return _room(row)

    @_reads
    def get_room(self, room_id: str) -> RoomInfo | None:
        with self._db() as db:
            row = db.get(RoomRow, room_id)
            return _room(row) if row is not None else None

    @_reads
    def list_rooms(self) -> list[RoomInfo]:
        with self._db() as db:
            return [_room(r) for r in db.scalars(select(RoomRow).order_by(RoomRow.created_at))]

    @_writes
    def update_room(self, room_id: str, **fields: object) -> RoomInfo | None:
        """Set the given columns (name, lang, targets, hotwords, glossary, state)."""
        with self._db() as db, db.begin():
            row = db.get(RoomRow, room_id)
            if row is None:
                return None
            for key, value in fields.items():
                if key in ("glossary", "rules"):
                    value = [list(pair) for pair in value]  # type: ignore[union-attr]
                setattr(row, key, value)
            db.flush()
            return _room(row)

    @_writes
    def set_room_state(self, room_id: str, state: str) -> None:
        with self._db() as db, db.begin():
            row = db.get(RoomRow, room_id)
            if row is not None:
                row.state = state

    @_writes
    def delete_room(self, room_id: str) -> bool:
        """The room goes, with its rundown; its sessions and their transcripts stay."""
        with self._db() as db, db.begin():
            row = db.get(RoomRow, room_id)
            if row is None:
                return False
            rundown = db.get(RundownRow, room_id)
            if rundown is not None:
                db.delete(rundown)
            for voice in db.scalars(select(VoiceRow).where(VoiceRow.room_id == room_id)):
                db.delete(voice)
            db.delete(row)
            return True

    @_writes
    def save_voice(self, room_id: str, voice: SavedVoice) -> None:
        with self._db() as db, db.begin():
            row = db.get(VoiceRow, (room_id, voice.position))
            if row is None:
                row = VoiceRow(room_id=room_id, position=voice.position)
                db.add(row)
            row.name, row.total, row.utterances = voice.name, voice.total, voice.utterances

    @_writes
    def replace_voices(self, room_id: str, voices: Sequence[SavedVoice]) -> None:
        """The room's voices become these (after a merge, whose positions shift)."""
        with self._db() as db, db.begin():
            self._replace_voices(db, room_id, voices)

    def _replace_voices(self, db: Session, room_id: str, voices: Sequence[SavedVoice]) -> None:
        for row in db.scalars(select(VoiceRow).where(VoiceRow.room_id == room_id)):
            db.delete(row)
        db.flush()  # the old rows go before new ones take their positions
        for voice in voices:
            db.add(
                VoiceRow(room_id=room_id, position=voice.position, name=voice.name,
                         total=voice.total, utterances=voice.utterances)
            )  # fmt: skip
        db.flush()

    @_reads
    def voices(self, room_id: str) -> list[SavedVoice]:
        query = select(VoiceRow).where(VoiceRow.room_id == room_id).order_by(VoiceRow.position)
        with self._db() as db:
            return [
                SavedVoice(position=r.position, name=r.name, total=r.total, utterances=r.utterances)
                for r in db.scalars(query)
            ]

    @_writes
    def save_rundown(self, room_id: str, rundown: SavedRundown) -> None:
        with self._db() as db, db.begin():
            row = db.get(RundownRow, room_id)
            if row is None:
                row = RundownRow(room_id=room_id)
                db.add(row)
            row.text, row.format = rundown.text, rundown.format
            row.position, row.cue, row.skipped = rundown.position, rundown.cue, rundown.skipped

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

    @_writes
    def delete_rundown(self, room_id: str) -> None:
        with self._db() as db, db.begin():
            row = db.get(RundownRow, room_id)
            if row is not None:
                db.delete(row)

    @_reads
    def room_sessions(self, room_id: str) -> list[SessionInfo]:
        query = select(SessionRow).where(SessionRow.room_id == room_id)
        with self._db() as db:
            return [_info(r) for r in db.scalars(query.order_by(SessionRow.created_at))]

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

    @_writes
    def set_speaker(self, segment_id: int, speaker: str | None) -> Segment | None:
        with self._db() as db, db.begin():
            row = db.get(SegmentRow, segment_id)
            if row is None:
                return None
            row.speaker = speaker
            db.flush()
            return row.to_segment()

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

    @_writes
    def rename_speaker(self, room_id: str, old: str, new: str) -> list[int]:
        """Every segment of the room labelled `old` becomes `new`, and so does the voice called
        `old` unless another voice has the name (merge them instead); returns the ids."""
        with self._db() as db, db.begin():
            ids = self._relabel(db, room_id, old, new)
            voices = {
                v.name: v for v in db.scalars(select(VoiceRow).where(VoiceRow.room_id == room_id))
            }
            if old in voices and new not in voices:
                voices[old].name = new
            return ids

    @_writes
    def merge_speakers(self, room_id: str, source: str, into: str) -> list[int]:
        """One person heard as two voices: the captions of `source` become `into`'s and the
        two stored voices one (their sums add up); returns the relabelled captions' ids."""
        with self._db() as db, db.begin():
            ids = self._relabel(db, room_id, source, into)
            rows = db.scalars(
                select(VoiceRow).where(VoiceRow.room_id == room_id).order_by(VoiceRow.position)
            ).all()
            voices = [
                SavedVoice(position=r.position, name=r.name, total=r.total, utterances=r.utterances)
                for r in rows
            ]
            merged = merged_voices(voices, source, into)
            if merged != voices:
                self._replace_voices(db, room_id, merged)
            return ids

    def _relabel(self, db: Session, room_id: str, old: str, new: str) -> list[int]:
        sessions = select(SessionRow.id).where(SessionRow.room_id == room_id)
        rows = db.scalars(
            select(SegmentRow)
            .where(SegmentRow.session_id.in_(sessions), SegmentRow.speaker == old)
            .order_by(SegmentRow.id)
        ).all()
        for row in rows:
            row.speaker = new
        return [row.id for row in rows]


def merged_voices(voices: Sequence[SavedVoice], source: str, into: str) -> list[SavedVoice]:
    """The stored voices with `source` added into `into` and the positions closed up (they
    are the diarizer's indices); `source` alone is renamed; unchanged if it is not there."""
    names = [v.name for v in voices]
    if source not in names or source == into:
        return list(voices)
    gone = voices[names.index(source)]
    if into not in names:
        return [v.model_copy(update={"name": into}) if v is gone else v for v in voices]
    kept = voices[names.index(into)]
    total = [a + b for a, b in zip(kept.total, gone.total, strict=True)]
    out = []
    for voice in voices:
        if voice is gone:
            continue
        if voice is kept:
            voice = voice.model_copy(
                update={"total": total, "utterances": kept.utterances + gone.utterances}
            )
        out.append(voice.model_copy(update={"position": len(out)}))
    return out


def open_store(url: str) -> Store:
    try:
        return Store(url)
    except SQLAlchemyError as e:
        raise TingshuoError(f"cannot open the database {url}: {e}") from e
