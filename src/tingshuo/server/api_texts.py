"""REST for a room's prepared texts (文稿): a speech's script, the agenda, slides. Added as a
file (TXT, Markdown, DOCX, PDF, PPTX) or as JSON text; listed, changed (which terms stay
hot words) and removed, during the event too. Where the speaker is in them, and the
operator's re-anchoring. Organizer only."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

from fastapi import APIRouter, BackgroundTasks, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, Field

from ..errors import TingshuoError
from ..live.base import RoomError
from ..live.scripts import add_text
from ..prepared.documents import MAX_BYTES, DocumentError, read_document
from ..store.db import RoomText
from .room_access import Organizer, room_or_404, rooms_of

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/rooms", tags=["prepared texts"])


class TextIn(BaseModel):
    name: str = Field(min_length=1, max_length=300)
    text: str = Field(min_length=1, max_length=2_000_000)


class TextPatch(BaseModel):
    terms: list[str] = Field(description="the terms that stay the room's hot words")


class PlaceIn(BaseModel):
    text_id: int = Field(ge=1, le=2**63 - 1)
    index: int = Field(ge=0, le=1_000_000)


class PassageOut(BaseModel):
    text: str
    translations: dict[str, str] = {}
    given: list[str] = []


class TextOut(BaseModel):
    id: int
    name: str
    kind: str
    lang: str
    pages: int
    passages: int
    translated: dict[str, int]  # passages with a translation, per language
    terms: list[str]
    glossary: list[tuple[str, str]]
    created_at: datetime
    ready_s: float | None = None  # upload to terms and passages ready (a new text)


class TextFull(TextOut):
    lines: list[PassageOut]


def _out(text: RoomText, full: bool = False, ready_s: float | None = None) -> TextOut:
    translated: dict[str, int] = {}
    for p in text.passages:
        for lang, t in p.translations.items():
            if t:
                translated[lang] = translated.get(lang, 0) + 1
    fields: dict[str, Any] = dict(
        id=text.id,
        name=text.name,
        kind=text.kind,
        lang=text.lang,
        pages=text.pages,
        passages=len(text.passages),
        translated=translated,
        terms=text.terms,
        glossary=text.glossary,
        created_at=text.created_at,
        ready_s=ready_s,
    )
    if full:
        lines = [PassageOut(**p.model_dump()) for p in text.passages]
        return TextFull(**fields, lines=lines)
    return TextOut(**fields)


def _text_of(request: Request, room_id: str, text_id: int) -> RoomText:
    for text in request.app.state.store.room_texts(room_id):
        if text.id == text_id:
            return text
    raise HTTPException(404, f"no text {text_id} in this room")


@router.post("/{room_id}/texts", status_code=201, dependencies=[Organizer])
async def add(request: Request, room_id: str, background: BackgroundTasks) -> TextOut:
    """A prepared text: a `file` field (multipart: TXT, Markdown, DOCX, PDF with a text
    layer, PPTX), or JSON `{"name", "text"}`. Its passages are followed by the room's
    captions, its terms become hot words, a bilingual text gives translations and glossary
    pairs. A refused file leaves the room as it was."""
    started = time.monotonic()
    room = room_or_404(request, room_id)
    kind_header = request.headers.get("content-type", "")
    if kind_header.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise HTTPException(422, "send the document as a 'file' field")
        name = upload.filename or "text"
        data = await upload.read(MAX_BYTES + 1)
        try:
            doc = await run_in_threadpool(read_document, name, data, upload.content_type)
        except DocumentError as e:
            status = 413 if len(data) > MAX_BYTES else 422
            raise HTTPException(status, str(e)) from None
        name, kind, body, pages = doc.name, doc.kind, doc.text, doc.pages
    else:
        try:
            given = TextIn.model_validate(await request.json())
        except ValueError as e:
            raise HTTPException(422, f"send a file, or JSON {{'name', 'text'}}: {e}") from None
        name, kind, body, pages = given.name, "txt", given.text, 0
    try:
        text = await run_in_threadpool(
            add_text, request.app.state.store, room, name, kind, body, pages
        )
    except TingshuoError as e:
        raise HTTPException(422, str(e)) from None
    rooms = rooms_of(request)
    ready = time.monotonic() - started
    log.info(
        "room %s: text %r added (%d passages) in %.2f s", room.id, name, len(text.passages), ready
    )
    # after the answer: the translator may have to load first
    background.add_task(run_in_threadpool, rooms.texts_changed, room.id)
    return _out(text, ready_s=round(ready, 2))


@router.get("/{room_id}/texts", dependencies=[Organizer])
def list_texts(request: Request, room_id: str) -> list[TextOut]:
    room = room_or_404(request, room_id)
    return [_out(t) for t in request.app.state.store.room_texts(room.id)]


@router.get("/{room_id}/texts/place", dependencies=[Organizer])
def place(request: Request, room_id: str) -> dict[str, PlaceIn]:
    """Where the live room's speaker is in its texts, per language."""
    room = room_or_404(request, room_id)
    found = rooms_of(request).script_place(room.id)
    return {lang: PlaceIn(text_id=t, index=i) for lang, (t, i) in found.items()}


@router.post("/{room_id}/texts/place", status_code=204, dependencies=[Organizer])
def move(request: Request, room_id: str, body: PlaceIn) -> Response:
    """Re-anchor: the speaker is at this passage now (the live room follows on from it)."""
    room = room_or_404(request, room_id)
    try:
        rooms_of(request).move_script(room.id, body.text_id, body.index)
    except RoomError as e:
        raise HTTPException(e.status, str(e)) from None
    return Response(status_code=204)


@router.get("/{room_id}/texts/{text_id}", dependencies=[Organizer])
def get_text(request: Request, room_id: str, text_id: int) -> TextFull:
    room = room_or_404(request, room_id)
    return _out(_text_of(request, room.id, text_id), full=True)  # type: ignore[return-value]


@router.patch("/{room_id}/texts/{text_id}", dependencies=[Organizer])
def change(request: Request, room_id: str, text_id: int, body: TextPatch) -> TextOut:
    """Which of its terms stay hot words (drop one by leaving it out)."""
    room = room_or_404(request, room_id)
    had = _text_of(request, room.id, text_id).terms
    terms = list(dict.fromkeys(t.strip() for t in body.terms if t.strip()))
    unknown = [t for t in terms if t not in had]
    if unknown:
        raise HTTPException(
            422, f"{unknown[0]!r} is not a term of this text: add hot words to the room instead"
        )
    text = request.app.state.store.set_text_terms(room.id, text_id, terms)
    if text is None:
        raise HTTPException(404, f"no text {text_id} in this room")
    rooms_of(request).scripts.invalidate(room.id)
    return _out(text)


@router.delete("/{room_id}/texts/{text_id}", status_code=204, dependencies=[Organizer])
def remove(request: Request, room_id: str, text_id: int) -> Response:
    room = room_or_404(request, room_id)
    if not request.app.state.store.delete_text(room.id, text_id):
        raise HTTPException(404, f"no text {text_id} in this room")
    rooms_of(request).scripts.invalidate(room.id)
    return Response(status_code=204)
