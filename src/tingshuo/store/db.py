"""Sessions and their final segments, through SQLAlchemy: SQLite by default, PostgreSQL by URL."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    create_engine,
    func,
    select,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from ..errors import TingshuoError
from ..events import Segment


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
        )


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


class Store:
    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        if parsed.drivername.startswith("sqlite") and parsed.database not in (None, "", ":memory:"):
            folder = Path(parsed.database).expanduser().parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise TingshuoError(
                    f"cannot create the database folder {folder}: {e.strerror}"
                ) from e
        self.engine = create_engine(url, future=True)
        try:
            Base.metadata.create_all(self.engine)
        except OperationalError as e:
            raise TingshuoError(
                f"cannot open the database {parsed.render_as_string()}: {e.orig}"
            ) from e
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def _db(self) -> Session:
        return self._sessions()

    def create_session(
        self,
        title: str,
        source: str = "",
        lang: str = "auto",
        hotwords: Sequence[str] = (),
        targets: Sequence[str] = (),
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
        )
        with self._db() as db, db.begin():
            db.add(row)
        return _info(row)

    def add_segment(self, segment: Segment) -> Segment:
        """Write a final segment; returns it with its id."""
        if segment.session_id is None:
            raise ValueError("segment has no session_id")
        row = SegmentRow(
            session_id=segment.session_id,
            start=segment.start,
            end=segment.end,
            lang=segment.lang,
            text=segment.text,
            speaker=segment.speaker,
            translations=dict(segment.translations),
        )
        with self._db() as db, db.begin():
            db.add(row)
            db.flush()
            return row.to_segment()

    def set_translation(self, segment_id: int, lang: str, text: str) -> None:
        with self._db() as db, db.begin():
            row = db.get(SegmentRow, segment_id)
            if row is not None:
                row.translations = {**(row.translations or {}), lang: text}

    def finish_session(self, session_id: str, status: str, duration: float) -> None:
        with self._db() as db, db.begin():
            row = db.get(SessionRow, session_id)
            if row is not None:
                row.status = status
                row.duration = duration

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

    def get_session(self, session_id: str) -> SessionInfo:
        """By id, or by a unique prefix of it (as `tingshuo sessions` shows them)."""
        with self._db() as db:
            rows = db.scalars(select(SessionRow).where(SessionRow.id.startswith(session_id))).all()
            if len(rows) != 1 or not session_id:
                what = "no session" if not rows else "several sessions"
                raise TingshuoError(f"{what} matching {session_id!r}: see `tingshuo sessions`")
            n = db.scalar(
                select(func.count(SegmentRow.id)).where(SegmentRow.session_id == rows[0].id)
            )
            return _info(rows[0], n or 0)

    def segments(self, session_id: str, after_id: int | None = None) -> list[Segment]:
        query = select(SegmentRow).where(SegmentRow.session_id == session_id)
        if after_id is not None:
            query = query.where(SegmentRow.id > after_id)
        with self._db() as db:
            return [
                r.to_segment() for r in db.scalars(query.order_by(SegmentRow.start, SegmentRow.id))
            ]

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


def open_store(url: str) -> Store:
    try:
        return Store(url)
    except SQLAlchemyError as e:
        raise TingshuoError(f"cannot open the database {url}: {e}") from e
