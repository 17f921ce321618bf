"""The AI anchor's routes in a live room: its rundown, the console's steps, the stage's sound.
The desk itself (rundowns, cues, the anchor's captions) is `live/anchor_desk.py`.

See docs/protocol.md ("The AI anchor") for the calls and events.
"""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from ..anchor.messages import SayOut, SegmentOut
from ..errors import TingshuoError
from ..events import AnchorRundown, AnchorSkip, StageSound
from ..events import Segment as Caption
from ..live.anchor_desk import Anchors, Plan, parse
from ..store.db import RoomInfo
from .api_anchor import RundownIn
from .auth import same, stage_key
from .limits import RateLimiter, client_address
from .room_access import Organizer, Viewer, rooms_of

log = logging.getLogger(__name__)

anchor = APIRouter(prefix="/api/rooms/{room_id}/anchor", tags=["anchor"])
stage = APIRouter(prefix="/api/rooms/{room_id}/stage", tags=["anchor"])

# each sound report goes to every viewer of the room, and any phone holds the viewer token
SOUND_REPORTS_PER_MINUTE = 10
SOUND_REPORTS_BURST = 10


def anchors_of(request: Request) -> Anchors:
    state = request.app.state
    if getattr(state, "anchors", None) is None:
        state.anchors = Anchors()
    return state.anchors


def _sound_reports(request: Request) -> RateLimiter:
    state = request.app.state
    if getattr(state, "sound_reports", None) is None:
        state.sound_reports = RateLimiter(SOUND_REPORTS_PER_MINUTE / 60, SOUND_REPORTS_BURST)
    return state.sound_reports


class AnchorOut(BaseModel):
    loaded: bool
    title: str = ""
    languages: list[str] = []
    segments: list[SegmentOut] = []
    index: int = -1
    cue: int = 0
    skipped: list[int] = []


class CueOut(BaseModel):
    action: str
    index: int
    cue: int
    segment: SegmentOut
    caption: Caption | None = None  # the anchor's words as stored in the transcript
    error: str | None = None  # a line the voice could not say (it is still captioned)


def _state(plan: Plan | None) -> AnchorOut:
    if plan is None:
        return AnchorOut(loaded=False)
    return AnchorOut(
        loaded=True,
        title=plan.rundown.title,
        languages=plan.rundown.languages,
        segments=[SegmentOut.of(s) for s in plan.rundown.segments],
        index=plan.index,
        cue=plan.cue,
        skipped=sorted(plan.skipped),
    )


def _current(request: Request, room_id: str) -> Plan | None:
    return anchors_of(request).plan(room_id, rooms_of(request))


def _plan(request: Request, room_id: str) -> Plan:
    plan = _current(request, room_id)
    if plan is None:
        raise HTTPException(409, "this room has no rundown: load one in the console first")
    return plan


@anchor.get("")
def anchor_state(request: Request, room: Viewer) -> AnchorOut:
    """The room's rundown and the segment cued last."""
    return _state(_current(request, room.id))


@anchor.put("/rundown", dependencies=[Organizer])
def load_rundown(request: Request, room: Viewer, body: RundownIn) -> AnchorOut:
    """Give the room a rundown (YAML or Markdown); a malformed one is 400 naming the line."""
    try:
        rundown = parse(body.text, body.format)
    except TingshuoError as e:
        raise HTTPException(400, str(e)) from None
    plan = anchors_of(request).load(room.id, rundown, body.text, body.format, rooms_of(request))
    state = _state(plan)
    rooms_of(request).publish(
        room.id,
        AnchorRundown(title=state.title, languages=state.languages, segments=len(state.segments)),
    )
    return state


@anchor.delete("/rundown", status_code=204, dependencies=[Organizer])
def clear_rundown(request: Request, room: Viewer) -> None:
    known = _current(request, room.id) is not None
    anchors_of(request).plans.pop(room.id, None)
    rooms_of(request).store.delete_rundown(room.id)
    if known:
        rooms_of(request).publish(room.id, AnchorRundown(title="", segments=0))


@anchor.get("/say")
async def say(request: Request, room: Viewer, index: int, lang: str) -> SayOut:
    """The cued line's voice (WAV as a data URL) with unit and mouth timings, for the stage."""
    plan = await run_in_threadpool(_plan, request, room.id)  # may read the store
    if not 0 <= index < len(plan.rundown.segments):
        raise HTTPException(404, f"the rundown has no segment {index}")
    seg = plan.rundown.segments[index]
    if lang not in seg.lines:
        raise HTTPException(404, f"segment {index} has no {lang} line")
    models = request.app.state.models
    try:
        return await run_in_threadpool(anchors_of(request).say, seg.lines[lang], lang, models)
    except TingshuoError as e:
        raise HTTPException(400, f"line {seg.line} ({lang}): {e}") from None


Action = Literal["next", "previous", "repeat", "skip"]


@anchor.post("/{action}", dependencies=[Organizer])
async def step(request: Request, room: Viewer, action: Action) -> CueOut:
    """next / previous / repeat: cue a segment; skip: silence the anchor and pass over the
    segment after the current one without saying it."""
    plan = await run_in_threadpool(_plan, request, room.id)  # may read the store
    anchors, rooms = anchors_of(request), rooms_of(request)
    try:
        index = anchors.advance(plan, action)  # on the event loop: steps come in order
    except TingshuoError as e:
        raise HTTPException(409, str(e)) from None
    await run_in_threadpool(anchors.save, room.id, plan, rooms)
    seg = plan.rundown.segments[index]
    cue = plan.cue
    if action == "skip":
        rooms.publish(room.id, AnchorSkip(index=index, cue=cue))
        return CueOut(action=action, index=index, cue=cue, segment=SegmentOut.of(seg))
    said = await run_in_threadpool(anchors.cue, room, plan, action, index, cue, rooms)
    return CueOut(
        action=action,
        index=index,
        cue=cue,
        segment=SegmentOut.of(seg),
        caption=said.segment if said else None,
        error=said.error if said else None,
    )


class Sound(BaseModel):
    muted: bool  # the stage page's browser blocks sound until someone clicks on it


def _sound_report(request: Request, room: Viewer, stage: str = "") -> RoomInfo:
    """Dependency: the room, for its stage page (the key in the stage link, besides the
    viewer token: a phone cannot report the stage muted) under a rate of reports (429)."""
    if not stage or not same(stage, stage_key(request, room.id)):
        raise HTTPException(403, "only the room's stage page reports its sound (its link's key)")
    wait = _sound_reports(request).take(f"{client_address(request)} {room.id}")
    if wait > 0:
        seconds = max(1, round(wait + 0.5))
        raise HTTPException(
            429,
            f"too many reports: try again in {seconds} s",
            headers={"Retry-After": str(seconds)},
        )
    return room


@stage.post("/sound", status_code=204)
async def stage_sound(
    request: Request, room: Annotated[RoomInfo, Depends(_sound_report)], body: Sound
) -> None:
    """The stage page says whether its browser plays sound (`muted`: it blocks autoplay until
    someone clicks the page); the room's consoles show it."""
    anchors_of(request).stage_muted[room.id] = body.muted
    rooms_of(request).publish(room.id, StageSound(muted=body.muted))


@stage.get("/sound")
def stage_sound_state(request: Request, room: Viewer) -> Sound:
    """What the room's stage page last reported to this server (a console just opened)."""
    return Sound(muted=anchors_of(request).stage_muted.get(room.id, False))


# app.py includes this one router
router = APIRouter()
router.include_router(anchor)
router.include_router(stage)
