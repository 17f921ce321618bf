"""What the store hands out: sessions, rooms, voices, rundowns, revisions, search hits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel

from ..events import Segment
from .tables import RoomRow, SessionRow, TextRow


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


# a retranscription not heard of for this long was interrupted (its process stopped)
REREAD_SILENT_S = 120.0


class Retranscription(BaseModel):
    """How far a session's sound has been read again (live/retranscription.py)."""

    state: Literal["running", "done", "failed"]
    progress: float = 0.0  # 0–1
    changed: int = 0  # captions given a new text
    kept: int = 0  # captions an operator corrected, left as they are
    note: str | None = None  # why it failed


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
    audio: str = "none"  # its sound: none, off, kept, forgotten (tables.py)
    room_id: str | None = None  # the live room it was held in
    retranscribe: Retranscription | None = None  # its sound read again (None: never)


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
    record: bool = True  # its sessions' sound is kept


class StoredPassage(BaseModel):
    text: str
    translations: dict[str, str] = {}
    given: list[str] = []  # languages whose translation the organizer wrote


class RoomText(BaseModel):
    """A room's prepared text."""

    id: int
    room_id: str
    name: str
    kind: str
    lang: str
    pages: int = 0
    passages: list[StoredPassage] = []
    terms: list[str] = []
    glossary: list[tuple[str, str]] = []
    created_at: datetime
    updated_at: datetime


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


def room_info(row: RoomRow) -> RoomInfo:
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
        record=True if row.record is None else bool(row.record),
    )


class SearchHit(BaseModel):
    session: SessionInfo
    segment: Segment


def session_info(row: SessionRow, count: int = 0) -> SessionInfo:
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
        audio=row.audio or "none",
        room_id=row.room_id,
        retranscribe=retranscription(row),
    )


def retranscription(row: SessionRow) -> Retranscription | None:
    if row.reread_state is None:
        return None
    counts = row.reread_counts or {}
    state, note = row.reread_state, row.reread_note
    at = row.reread_at
    if at is not None and at.tzinfo is None:  # SQLite hands back naive UTC
        at = at.replace(tzinfo=UTC)
    if state == "running" and (
        at is None or (datetime.now(UTC) - at).total_seconds() > REREAD_SILENT_S
    ):
        state, note = "failed", "interrupted: the process reading it stopped"
    return Retranscription(
        state=state,  # type: ignore[arg-type]
        progress=row.reread_progress or 0.0,
        changed=counts.get("changed", 0),
        kept=counts.get("kept", 0),
        note=note,
    )


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


def room_text(row: TextRow) -> RoomText:
    return RoomText(
        id=row.id,
        room_id=row.room_id,
        name=row.name,
        kind=row.kind,
        lang=row.lang,
        pages=row.pages or 0,
        passages=[StoredPassage.model_validate(p) for p in row.passages or []],
        terms=list(row.terms or []),
        glossary=[(a, b) for a, b in row.glossary or []],
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
