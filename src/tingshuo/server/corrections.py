"""Captions people correct: a caption's new text (every page follows, it is translated
again, its revisions are kept), and the correction rules (`wrong => right`) of a room and of
the whole server."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, HTTPException, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from ..events import Segment
from ..rules import RuleError, Rules, suggest_rule
from ..store.db import Revision, RoomInfo
from .room_access import MAX_ID, Organizer, room_or_404, room_segment, rooms_of

log = logging.getLogger(__name__)

router = APIRouter(tags=["corrections"], dependencies=[Organizer])

MAX_TEXT = 2000
SegmentId = Annotated[int, PathParam(ge=1, le=MAX_ID)]


class CorrectionIn(BaseModel):
    text: str
    revision: int | None = Field(
        default=None, ge=0, description="the revision the editor started from"
    )
    editor: str | None = Field(default=None, max_length=64, description="the console's own id")


class RuleOut(BaseModel):
    wrong: str
    right: str


class CorrectionOut(BaseModel):
    segment: Segment
    # someone else's save that this one overwrote (kept in the revisions all the same)
    replaced: Revision | None = None
    # 'always replace X with Y': the rule this correction suggests, when it replaced one
    # word or phrase and no rule says so yet
    suggestion: RuleOut | None = None


class RulesIn(BaseModel):
    rules: str | list[list[str]] = Field(
        description="'wrong => right' one per line, or [[wrong, right], …]"
    )


class RuleIn(BaseModel):
    wrong: str
    right: str


class RulesOut(BaseModel):
    rules: str  # these rules, one per line
    server: str = ""  # for a room: the server's rules, which apply too
    hotwords: list[str] = []  # what the rules in force write: favoured by the recognizer


def _parse(value: str | list[list[str]]) -> Rules:
    if isinstance(value, str):
        return Rules.parse(value)
    for pair in value:
        if len(pair) != 2:
            raise RuleError(f"{pair!r} is not a rule: give [wrong, right]")
    return Rules.of(value)


def _server_rules(request: Request) -> Rules:
    return Rules.of(request.app.state.store.server_rules())


def _segment_of(request: Request, room: RoomInfo, segment_id: int) -> Segment:
    return room_segment(request.app.state.store, room, segment_id)


@router.patch("/api/rooms/{room_id}/segments/{segment_id}")
def correct(
    request: Request, room_id: str, segment_id: SegmentId, body: CorrectionIn
) -> CorrectionOut:
    """A caption's corrected text. Every page replaces it in place (a `correction` event) and
    it is translated again; the machine's text stays as revision 0. Two consoles saving the
    same caption: the later save wins, and `replaced` tells it what it overwrote."""
    text = " ".join(body.text.split())
    if not text:
        raise HTTPException(422, "the text is empty: the caption is kept as it was")
    if len(text) > MAX_TEXT:
        raise HTTPException(
            422, f"the text has {len(text):,} characters: a caption takes at most {MAX_TEXT:,}"
        )
    room = room_or_404(request, room_id)
    before = _segment_of(request, room, segment_id)
    store = request.app.state.store
    corrected = store.correct_segment(
        segment_id, text, by="operator", editor=body.editor, base=body.revision
    )
    if corrected is None:  # deleted meanwhile
        raise HTTPException(404, f"no caption {segment_id} in this room")
    rooms = rooms_of(request)
    if corrected.changed:
        rooms.captions(room).revised(
            corrected.segment, lambda e: rooms.publish(room.id, e), editor=body.editor
        )
    return CorrectionOut(
        segment=corrected.segment,
        replaced=corrected.replaced,
        suggestion=_suggestion(request, room, before.text, text),
    )


def _suggestion(request: Request, room: RoomInfo, before: str, after: str) -> RuleOut | None:
    rule = suggest_rule(before, after)
    if rule is None:
        return None
    rules = rooms_of(request).rulebook.for_room(room.id)
    if rules.apply(before) == after or any(r.wrong == rule.wrong for r in rules.rules):
        return None
    try:  # only a rule that could be added as it is
        rules + Rules([rule])
    except RuleError:
        return None
    return RuleOut(wrong=rule.wrong, right=rule.right)


@router.get("/api/rooms/{room_id}/segments/{segment_id}/revisions")
def revisions(request: Request, room_id: str, segment_id: SegmentId) -> list[Revision]:
    """Each text the caption has had, the machine's first (empty: never corrected)."""
    _segment_of(request, room_or_404(request, room_id), segment_id)
    return request.app.state.store.revisions(segment_id)


def _room_rules_out(request: Request, room: RoomInfo) -> RulesOut:
    server = _server_rules(request)
    mine = Rules.of(room.rules)
    return RulesOut(rules=mine.text(), server=server.text(), hotwords=(server + mine).hotwords)


@router.get("/api/rooms/{room_id}/rules")
def room_rules(request: Request, room_id: str) -> RulesOut:
    return _room_rules_out(request, room_or_404(request, room_id))


def _save_room_rules(request: Request, room: RoomInfo, rules: Rules) -> RulesOut:
    try:
        _server_rules(request) + rules  # checked together: they apply together
    except RuleError as e:
        raise RuleError(f"{e} (with the server's rules)") from None
    room = request.app.state.store.update_room(room.id, rules=rules.pairs()) or room
    rooms_of(request).rulebook.invalidate()
    return _room_rules_out(request, room)


@router.put("/api/rooms/{room_id}/rules")
def set_room_rules(request: Request, room_id: str, body: RulesIn) -> RulesOut:
    """The room's rules, all at once: applied to its captions from now on (a live room within
    2 s), and what they write becomes a hot word. A rule that would loop is refused."""
    room = room_or_404(request, room_id)
    return _save_room_rules(request, room, _parse(body.rules))


@router.post("/api/rooms/{room_id}/rules")
def add_room_rule(request: Request, room_id: str, body: RuleIn) -> RulesOut:
    """One more rule (the console's 'always replace X with Y')."""
    room = room_or_404(request, room_id)
    added = Rules.of(room.rules) + Rules.of([(body.wrong, body.right)])
    return _save_room_rules(request, room, added)


@router.get("/api/rules")
def server_rules(request: Request) -> RulesOut:
    """The whole server's rules: every room's captions follow them (a room's own rule for the
    same words wins)."""
    rules = _server_rules(request)
    return RulesOut(rules=rules.text(), hotwords=rules.hotwords)


@router.put("/api/rules")
def set_server_rules(request: Request, body: RulesIn) -> RulesOut:
    rules = _parse(body.rules)
    store = request.app.state.store
    for room in store.list_rooms():
        try:
            rules + Rules.of(room.rules)
        except RuleError as e:
            raise RuleError(f"{e} (with the rules of room “{room.name}”)") from None
    store.set_server_rules(rules.pairs())
    rooms_of(request).rulebook.invalidate()
    return RulesOut(rules=rules.text(), hotwords=rules.hotwords)
