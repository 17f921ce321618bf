"""The database's tables, as the code reads and writes them. A change here needs its migration
(migrations/versions/; store/schema.py runs them, and a test checks that none is missing)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

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
    # the live room this session was held in, if any
    room_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    # its sound: "none" (not a room's), "off" (the room's record setting), "kept" (in
    # sound_chunks), "forgotten" (TINGSHUO_KEEP_AUDIO_DAYS removed it)
    audio: Mapped[str] = mapped_column(String(16), default="none", server_default="none")
    # its sound read again (live/retranscription.py): running, done or failed; how far (0–1);
    # when last heard of (a "running" long silent was interrupted); captions changed and kept
    reread_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    reread_progress: Mapped[float | None] = mapped_column(Float, nullable=True)
    reread_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    reread_counts: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    reread_note: Mapped[str | None] = mapped_column(String(300), nullable=True)


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
    record: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


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
    # "script": the caption shows a prepared text's writing (None: as recognized)
    source: Mapped[str | None] = mapped_column(String(16), nullable=True)

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
            source=self.source,
        )


class TextRow(Base):
    """A room's prepared text (a speech's script, the agenda, slides): its passages as they
    are followed and translated, and the terms that are the room's hot words."""

    __tablename__ = "room_texts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(16))
    lang: Mapped[str] = mapped_column(String(16))
    pages: Mapped[int] = mapped_column(Integer, default=0)
    # [{"text": …, "translations": {lang: text}, "given": [langs the organizer wrote]}]
    passages: Mapped[list] = mapped_column(JSON, default=list)
    terms: Mapped[list] = mapped_column(JSON, default=list)
    glossary: Mapped[list] = mapped_column(JSON, default=list)  # [[source, target], …]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # changed with the passages or terms (not with machine translations): a live room reads
    # its scripts again when this moves
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


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


class SoundChunkRow(Base):
    """A stretch of a session's recorded sound: one Ogg/Opus page (audio/opus.py), stored as
    it was encoded. `first` is the number of its first packet in the session's stream (20 ms
    each), so that packet k is heard at k × 20 ms into the session."""

    __tablename__ = "sound_chunks"
    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)  # the Ogg page number
    first: Mapped[int] = mapped_column(Integer)
    packets: Mapped[int] = mapped_column(Integer)
    pre_skip: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
