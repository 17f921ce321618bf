"""The store's writes: sessions, captions and their corrections, rooms, voices, rundowns."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ..events import Segment
from .connection import Connection, failing
from .records import (
    Corrected,
    Revision,
    RoomInfo,
    RoomText,
    SavedRundown,
    SavedVoice,
    SessionInfo,
    StoredPassage,
    merged_voices,
    room_info,
    room_text,
    session_info,
)
from .tables import (
    CounterRow,
    RevisionRow,
    RoomRow,
    RundownRow,
    SegmentRow,
    SessionRow,
    SettingRow,
    TextRow,
    VoiceRow,
)

_writes = failing("write to")


class Writes(Connection):
    """Each write is one transaction: a database error rolls it back, as a StoreError."""

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
        return session_info(row)

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
        row.source = segment.source
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
        whether it overwrote someone else's. The model (`by="model"`, the live second pass)
        never touches a corrected caption; a reading again (`by="reread"`) never touches one
        an operator corrected. None: no such caption."""
        with self._db() as db, db.begin():
            row = db.get(SegmentRow, segment_id, with_for_update=True)
            if row is None:
                return None
            now = datetime.now(UTC)
            if by == "model" and (row.revision or 0) > 0:
                return Corrected(segment=row.to_segment(), changed=False)
            if by == "reread" and (row.revision or 0) > 0 and self._operator_revised(db, row.id):
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

    @staticmethod
    def _operator_revised(db: Session, segment_id: int) -> bool:
        query = select(RevisionRow.id).where(
            RevisionRow.segment_id == segment_id, RevisionRow.by == "operator"
        )
        return db.scalar(query.limit(1)) is not None

    @_writes
    def set_speaker(self, segment_id: int, speaker: str | None) -> Segment | None:
        with self._db() as db, db.begin():
            row = db.get(SegmentRow, segment_id)
            if row is None:
                return None
            row.speaker = speaker
            db.flush()
            return row.to_segment()

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

    # rooms (the live event server)

    @_writes
    def create_room(
        self,
        name: str,
        lang: str = "auto",
        targets: Sequence[str] = (),
        hotwords: Sequence[str] = (),
        glossary: Sequence[tuple[str, str]] = (),
        record: bool = True,
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
            record=record,
        )
        with self._db() as db, db.begin():
            db.add(row)
        return room_info(row)

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
            return room_info(row)

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
            for text in db.scalars(select(TextRow).where(TextRow.room_id == room_id)):
                db.delete(text)
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

    @_writes
    def save_rundown(self, room_id: str, rundown: SavedRundown) -> None:
        with self._db() as db, db.begin():
            row = db.get(RundownRow, room_id)
            if row is None:
                row = RundownRow(room_id=room_id)
                db.add(row)
            row.text, row.format = rundown.text, rundown.format
            row.position, row.cue, row.skipped = rundown.position, rundown.cue, rundown.skipped

    @_writes
    def delete_rundown(self, room_id: str) -> None:
        with self._db() as db, db.begin():
            row = db.get(RundownRow, room_id)
            if row is not None:
                db.delete(row)

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

    # -- prepared texts

    @_writes
    def add_text(
        self,
        room_id: str,
        name: str,
        kind: str,
        lang: str,
        passages: Sequence[StoredPassage],
        terms: Sequence[str],
        glossary: Sequence[tuple[str, str]] = (),
        pages: int = 0,
    ) -> RoomText:
        now = datetime.now(UTC)
        with self._db() as db, db.begin():
            row = TextRow(
                room_id=room_id,
                name=name,
                kind=kind,
                lang=lang,
                pages=pages,
                passages=[p.model_dump() for p in passages],
                terms=list(terms),
                glossary=[list(pair) for pair in glossary],
                created_at=now,
                updated_at=now,
            )
            db.add(row)
            db.flush()
            return room_text(row)

    @_writes
    def delete_text(self, room_id: str, text_id: int) -> bool:
        with self._db() as db, db.begin():
            row = db.get(TextRow, text_id)
            if row is None or row.room_id != room_id:
                return False
            db.delete(row)
            return True

    @_writes
    def set_text_terms(self, room_id: str, text_id: int, terms: Sequence[str]) -> RoomText | None:
        with self._db() as db, db.begin():
            row = db.get(TextRow, text_id)
            if row is None or row.room_id != room_id:
                return None
            row.terms = list(terms)
            row.updated_at = datetime.now(UTC)
            db.flush()
            return room_text(row)

    @_writes
    def set_passage_translations(
        self, text_id: int, translations: dict[int, dict[str, str]]
    ) -> None:
        """Machine translations of passages ({index: {lang: text}}); the organizer's own stay."""
        with self._db() as db, db.begin():
            row = db.get(TextRow, text_id)
            if row is None:
                return
            passages = [dict(p) for p in row.passages or []]
            for index, by_lang in translations.items():
                if 0 <= index < len(passages):
                    given = set(passages[index].get("given", []))
                    kept = dict(passages[index].get("translations", {}))
                    kept.update({k: v for k, v in by_lang.items() if k not in given})
                    passages[index]["translations"] = kept
            row.passages = passages
