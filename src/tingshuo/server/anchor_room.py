"""The AI anchor in a live room: a rundown the console steps through, spoken on the stage page.

A room holds at most one rundown, kept in the store with the position in it, so a server
restart in the middle of an event goes on from the segment cued last. The organizer steps through it
(next, previous, repeat, skip); each step is room state on the server and goes out on the room's
bus, so every open stage page follows the console. A cued line is synthesized once (then reused
from the cache), written to the room's transcript as a final of the speaker "AI主播" / "AI
anchor" (stored before it is broadcast, like a recognised final) with its translations: the
rundown's own text where the line is bilingual, machine translation otherwise.

See docs/protocol.md ("The AI anchor") for the calls and events.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from ..anchor.routes import RundownIn, SayOut, SegmentOut, say_line
from ..anchor.rundown import Rundown, Segment, parse_markdown, parse_yaml
from ..errors import TingshuoError
from ..events import AnchorCue, AnchorRundown, AnchorSkip, Final, RoomEvent, StageSound
from ..events import Segment as Caption
from ..store.db import RoomInfo, SavedRundown
from .api_rooms import Organizer, Viewer, rooms_of
from .auth import same, stage_key
from .limits import RateLimiter, client_address

if TYPE_CHECKING:
    from ..live.models import Models
    from ..live.rooms import Rooms

log = logging.getLogger(__name__)

anchor = APIRouter(prefix="/api/rooms/{room_id}/anchor", tags=["anchor"])
stage = APIRouter(prefix="/api/rooms/{room_id}/stage", tags=["anchor"])

# a line the voice cannot say still enters the transcript, timed at this reading pace
_FALLBACK_S_PER_CHAR = {"zh": 0.25, "en": 0.07}
_GAP_BETWEEN_LANGUAGES_S = 0.5  # as the stage page pauses between a line's languages
DEFAULT_ANCHOR = "AI 主播"  # rundown.py's default `anchor:`
# each sound report goes to every viewer of the room, and any phone holds the viewer token
SOUND_REPORTS_PER_MINUTE = 10
SOUND_REPORTS_BURST = 10


@dataclass
class Plan:
    """A room's rundown and where the console stands in it."""

    rundown: Rundown
    text: str
    format: str
    index: int = -1  # the segment cued last (-1: none yet)
    cue: int = 0  # counts cues and skips: a stage page plays only the newest
    skipped: set[int] = field(default_factory=set)


@dataclass
class AnchorSession:
    """Where the anchor's captions go while the room is not listening."""

    id: str
    t0: float


class Anchors:
    """Every room's rundown, and the synthesized lines (once per text and voice)."""

    def __init__(self) -> None:
        self.models: Models | None = None  # the server's (its voices); set when it starts
        self.shared = False  # several gateways step through the same rundowns
        self.plans: dict[str, Plan] = {}
        self.sessions: dict[str, AnchorSession] = {}
        self._said: dict[tuple[str, str], SayOut] = {}
        # whether each room's stage page last said the browser blocks its sound (this server's
        # memory: a console opened later is told; the events tell the others)
        self.stage_muted: dict[str, bool] = {}
        self.sound_reports = RateLimiter(SOUND_REPORTS_PER_MINUTE / 60, SOUND_REPORTS_BURST)
        self._lock = threading.Lock()  # one synthesis at a time: the voices share the CPU

    def say(self, text: str, lang: str, settings) -> SayOut:
        """Synthesized audio and timings of a line, made once (thread-safe)."""
        key = (lang, text)
        with self._lock:
            said = self._said.get(key)
            if said is None:
                voice = self.models.voice(lang) if self.models is not None else None
                said = self._said[key] = say_line(text, lang, settings, voice)
                while len(self._said) > 256:  # a few rundowns' worth; the tts disk cache has more
                    del self._said[next(iter(self._said))]
            return said

    def plan(self, room_id: str, rooms: Rooms, settings) -> Plan | None:
        """The room's rundown: from memory, or as the store kept it (after a restart). With
        several gateways (`shared`), where the console stands is read from the store each
        time: another gateway may have cued the next line."""
        plan = self.plans.get(room_id)
        if plan is not None and not self.shared:
            return plan
        saved = rooms.store.rundown(room_id)
        if saved is None:
            self.plans.pop(room_id, None)
            return None
        if plan is not None and plan.text == saved.text and plan.format == saved.format:
            last = len(plan.rundown.segments) - 1
            plan.index, plan.cue = min(saved.position, last), saved.cue
            plan.skipped = {i for i in saved.skipped if i <= last}
            return plan
        self.plans.pop(room_id, None)
        parse = parse_yaml if saved.format == "yaml" else parse_markdown
        try:
            rundown = parse(saved.text, "rundown")
        except TingshuoError as e:  # kept by an older version that read it differently
            log.warning("room %s: the stored rundown no longer reads: %s", room_id, e)
            return None
        last = len(rundown.segments) - 1
        plan = self.plans.setdefault(
            room_id,
            Plan(
                rundown,
                saved.text,
                saved.format,
                index=min(saved.position, last),
                cue=saved.cue,
                skipped={i for i in saved.skipped if i <= last},
            ),
        )
        self.prepare(rundown, settings)
        return plan

    @staticmethod
    def save(room_id: str, plan: Plan, rooms: Rooms) -> None:
        saved = SavedRundown(
            text=plan.text,
            format=plan.format,
            position=plan.index,
            cue=plan.cue,
            skipped=sorted(plan.skipped),
        )
        rooms.store.save_rundown(room_id, saved)

    def prepare(self, rundown: Rundown, settings) -> None:
        """Synthesize every line ahead, in order, so that a cue plays at once."""

        def work() -> None:
            for seg in rundown.segments:
                for lang in seg.speak:
                    try:
                        self.say(seg.lines[lang], lang, settings)
                    except TingshuoError:
                        pass  # reported when the line is cued
                    except Exception:
                        log.exception("preparing the anchor's line %d failed", seg.line)

        threading.Thread(target=work, name="anchor-prepare", daemon=True).start()


def anchors_of(request: Request) -> Anchors:
    state = request.app.state
    if getattr(state, "anchors", None) is None:
        state.anchors = Anchors()
    return state.anchors


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


def _seg_out(seg: Segment) -> SegmentOut:
    return SegmentOut(**vars(seg))


def _state(plan: Plan | None) -> AnchorOut:
    if plan is None:
        return AnchorOut(loaded=False)
    return AnchorOut(
        loaded=True,
        title=plan.rundown.title,
        languages=plan.rundown.languages,
        segments=[_seg_out(s) for s in plan.rundown.segments],
        index=plan.index,
        cue=plan.cue,
        skipped=sorted(plan.skipped),
    )


def _current(request: Request, room_id: str) -> Plan | None:
    return anchors_of(request).plan(room_id, rooms_of(request), request.app.state.settings)


def _plan(request: Request, room_id: str) -> Plan:
    plan = _current(request, room_id)
    if plan is None:
        raise HTTPException(409, "this room has no rundown: load one in the console first")
    return plan


def _publish(request: Request, room_id: str, event: RoomEvent) -> None:
    rooms_of(request).publish(room_id, event)  # from any thread: in order, on the event loop


@anchor.get("")
def anchor_state(request: Request, room: Viewer) -> AnchorOut:
    """The room's rundown and the segment cued last."""
    return _state(_current(request, room.id))


@anchor.put("/rundown", dependencies=[Organizer])
def load_rundown(request: Request, room: Viewer, body: RundownIn) -> AnchorOut:
    """Give the room a rundown (YAML or Markdown); a malformed one is 400 naming the line."""
    parse = parse_yaml if body.format == "yaml" else parse_markdown
    try:
        rundown = parse(body.text, "rundown")
    except TingshuoError as e:
        raise HTTPException(400, str(e)) from None
    anchors = anchors_of(request)
    old = _current(request, room.id)
    plan = anchors.plans[room.id] = Plan(rundown, body.text, body.format, cue=old.cue if old else 0)
    anchors.save(room.id, plan, rooms_of(request))
    anchors.prepare(rundown, request.app.state.settings)
    log.info("room %s: rundown %r, %d segments", room.id, rundown.title, len(rundown.segments))
    state = _state(plan)
    _publish(
        request,
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
        _publish(request, room.id, AnchorRundown(title="", segments=0))


@anchor.get("/say")
async def say(request: Request, room: Viewer, index: int, lang: str) -> SayOut:
    """The cued line's voice (WAV as a data URL) with unit and mouth timings, for the stage."""
    plan = await run_in_threadpool(_plan, request, room.id)  # may read the store
    if not 0 <= index < len(plan.rundown.segments):
        raise HTTPException(404, f"the rundown has no segment {index}")
    seg = plan.rundown.segments[index]
    if lang not in seg.lines:
        raise HTTPException(404, f"segment {index} has no {lang} line")
    settings = request.app.state.settings
    try:
        return await run_in_threadpool(anchors_of(request).say, seg.lines[lang], lang, settings)
    except TingshuoError as e:
        raise HTTPException(400, f"line {seg.line} ({lang}): {e}") from None


Action = Literal["next", "previous", "repeat", "skip"]


@anchor.post("/{action}", dependencies=[Organizer])
async def step(request: Request, room: Viewer, action: Action) -> CueOut:
    """next / previous / repeat: cue a segment; skip: silence the anchor and pass over the
    segment after the current one without saying it."""
    plan = await run_in_threadpool(_plan, request, room.id)  # may read the store
    last = len(plan.rundown.segments) - 1
    index = {"next": plan.index + 1, "previous": plan.index - 1, "repeat": plan.index}.get(
        action, plan.index + 1
    )
    if index > last:
        raise HTTPException(409, "the rundown is over: previous or repeat, or load another")
    if index < 0:
        why = "nothing was cued yet: next starts" if action == "repeat" else "already at the start"
        raise HTTPException(409, why)
    plan.index = index
    plan.cue += 1
    if action == "skip":
        plan.skipped.add(index)
    else:
        plan.skipped.discard(index)
    await run_in_threadpool(anchors_of(request).save, room.id, plan, rooms_of(request))
    seg = plan.rundown.segments[index]
    if action == "skip":
        _publish(request, room.id, AnchorSkip(index=index, cue=plan.cue))
        return CueOut(action=action, index=index, cue=plan.cue, segment=_seg_out(seg))
    cue = plan.cue
    caption = await run_in_threadpool(_cue, request, room, plan, seg, action, index, cue)
    return CueOut(
        action=action,
        index=index,
        cue=cue,
        segment=_seg_out(seg),
        caption=caption.segment if caption else None,
        error=caption.error if caption else None,
    )


@dataclass
class _Said:
    segment: Caption
    error: str | None


def _cue(
    request: Request, room: RoomInfo, plan: Plan, seg: Segment, action: str, index: int, cue: int
) -> _Said | None:
    """Say the cued segment's line (if it has one) and put it on the room's caption path: the
    `anchor_cue` event goes out once the caption is stored (it names the caption), then the
    caption, then its machine translations."""
    said = _caption(request, room, plan.rundown, seg) if seg.lines else None
    # the console may have moved on while the line was being prepared: then the stage is
    # not told to say it (it is already elsewhere), but what was stored is still shown
    current = anchors_of(request).plans.get(room.id) is plan and plan.cue == cue

    def announce(final: Final | None) -> None:
        if current:
            event = AnchorCue(
                action=action,
                index=index,
                cue=cue,
                segment=_seg_out(seg).model_dump(),
                caption_id=final.segment.id if final else None,
                error=said.error if said else None,
            )
            _publish(request, room.id, event)

    if said is None:
        announce(None)
        return None
    rooms = rooms_of(request)
    path = rooms.captions(room)
    final = path.commit(
        Final(utterance=-cue, segment=said.segment),
        lambda event: _publish(request, room.id, event),
        stored=announce,
        targets=[t for t in room.targets if t not in said.segment.translations],
    )
    if rooms.session_clock(room.id) is None:
        rooms.store.finish_session(final.segment.session_id or "", "done", final.segment.end)
    return _Said(final.segment, said.error)


def _speaker(rundown: Rundown, lang: str) -> str:
    if rundown.anchor and rundown.anchor != DEFAULT_ANCHOR:
        return rundown.anchor
    return "AI主播" if lang == "zh" else "AI anchor"


def _caption(request: Request, room: RoomInfo, rundown: Rundown, seg: Segment) -> _Said:
    """Synthesize the line (cached): the caption of the room's session it becomes."""
    settings = request.app.state.settings
    anchors = anchors_of(request)
    rooms: Rooms = rooms_of(request)
    error = None
    duration = 0.0
    for n, lang in enumerate(seg.speak):
        if n:
            duration += _GAP_BETWEEN_LANGUAGES_S
        try:
            duration += anchors.say(seg.lines[lang], lang, settings).duration
        except Exception as e:  # still captioned: a failed line never silently disappears
            if isinstance(e, TingshuoError):
                error = f"line {seg.line} ({lang}): {e}"
                log.warning("room %s: the anchor cannot say %s", room.id, error)
            else:  # a voice's own failure: the cue still answers, and the caption is stored
                error = f"line {seg.line} ({lang}): the voice failed on this line"
                log.exception("room %s: the anchor's voice failed on line %d", room.id, seg.line)
            duration += len(seg.lines[lang]) * _FALLBACK_S_PER_CHAR.get(lang, 0.1)
    lang = room.lang if room.lang in seg.lines else (seg.speak or list(seg.lines))[0]
    others = [t for t in room.targets if t != lang]
    given = {t: seg.lines[t] for t in others if t in seg.lines}
    session_id, start = _session_and_time(rooms, anchors, room)
    caption = Caption(
        session_id=session_id,
        start=round(start, 3),
        end=round(start + duration, 3),
        lang=lang,
        text=seg.lines[lang],
        speaker=_speaker(rundown, lang),
        translations=given,
    )
    return _Said(caption, error)


def _session_and_time(rooms: Rooms, anchors: Anchors, room: RoomInfo) -> tuple[str, float]:
    """The room's live session and the time in it; else the room's own anchor session."""
    clock = rooms.session_clock(room.id)
    if clock is not None:
        return clock
    session = anchors.sessions.get(room.id)
    if session is None:
        info = rooms.store.create_session(
            f"{room.name} · AI anchor", "AI anchor", room.lang, [], room.targets, room_id=room.id
        )
        session = anchors.sessions[room.id] = AnchorSession(info.id, time.monotonic())
    return session.id, time.monotonic() - session.t0


class Sound(BaseModel):
    muted: bool  # the stage page's browser blocks sound until someone clicks on it


def _sound_report(request: Request, room: Viewer, stage: str = "") -> RoomInfo:
    """Dependency: the room, for its stage page (the key in the stage link, besides the
    viewer token: a phone cannot report the stage muted) under a rate of reports (429)."""
    if not stage or not same(stage, stage_key(request, room.id)):
        raise HTTPException(403, "only the room's stage page reports its sound (its link's key)")
    wait = anchors_of(request).sound_reports.take(f"{client_address(request)} {room.id}")
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
    _publish(request, room.id, StageSound(muted=body.muted))


@stage.get("/sound")
def stage_sound_state(request: Request, room: Viewer) -> Sound:
    """What the room's stage page last reported to this server (a console just opened)."""
    return Sound(muted=anchors_of(request).stage_muted.get(room.id, False))


# app.py includes this one router
router = APIRouter()
router.include_router(anchor)
router.include_router(stage)
