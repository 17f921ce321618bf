"""The AI anchor in a live room: a rundown the console steps through, spoken on the stage page.

A room holds at most one rundown, kept in the store with the position in it, so a server
restart in the middle of an event goes on from the segment cued last. The organizer steps
through it (next, previous, repeat, skip); each step is room state on the server and goes out
on the room's bus, so every open stage page follows the console. A cued line is synthesized
once (then reused from the cache), written to the room's transcript as a final of the speaker
"AI主播" / "AI anchor" (stored before it is broadcast, like a recognised final) with its
translations: the rundown's own text where the line is bilingual, machine translation
otherwise. The routes are `server/api_anchor_room.py`.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from ..anchor.messages import SayOut, SegmentOut, say_line
from ..anchor.rundown import Rundown, Segment, parse_markdown, parse_yaml
from ..errors import TingshuoError
from ..events import AnchorCue, Final
from ..events import Segment as Caption
from ..store.db import RoomInfo, SavedRundown
from .base import LiveRooms
from .models import Models

log = logging.getLogger(__name__)

# a line the voice cannot say still enters the transcript, timed at this reading pace
_FALLBACK_S_PER_CHAR = {"zh": 0.25, "en": 0.07}
_GAP_BETWEEN_LANGUAGES_S = 0.5  # as the stage page pauses between a line's languages
DEFAULT_ANCHOR = "AI 主播"  # rundown.py's default `anchor:`


class NoCue(TingshuoError):
    """A step the rundown cannot take (its end, its start, nothing cued yet)."""

    status = 409


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


@dataclass
class Said:
    segment: Caption  # the anchor's words as stored in the transcript
    error: str | None  # a line the voice could not say (it is still captioned)


def parse(text: str, format: str) -> Rundown:
    return (parse_yaml if format == "yaml" else parse_markdown)(text, "rundown")


class Anchors:
    """Every room's rundown, and the synthesized lines (once per text and voice)."""

    def __init__(self) -> None:
        self.shared = False  # several gateways step through the same rundowns
        self.plans: dict[str, Plan] = {}
        self.sessions: dict[str, AnchorSession] = {}
        self._said: dict[tuple[str, str], SayOut] = {}
        # whether each room's stage page last said the browser blocks its sound (this server's
        # memory: a console opened later is told; the events tell the others)
        self.stage_muted: dict[str, bool] = {}
        self._lock = threading.Lock()  # one synthesis at a time: the voices share the CPU

    def say(self, text: str, lang: str, models: Models) -> SayOut:
        """Synthesized audio and timings of a line in the server's voice, made once
        (thread-safe)."""
        key = (lang, text)
        with self._lock:
            said = self._said.get(key)
            if said is None:
                said = self._said[key] = say_line(text, models.voice(lang))
                while len(self._said) > 256:  # a few rundowns' worth; the tts disk cache has more
                    del self._said[next(iter(self._said))]
            return said

    def plan(self, room_id: str, rooms: LiveRooms) -> Plan | None:
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
        try:
            rundown = parse(saved.text, saved.format)
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
        self.prepare(rundown, rooms.models)
        return plan

    def load(
        self, room_id: str, rundown: Rundown, text: str, format: str, rooms: LiveRooms
    ) -> Plan:
        """The room's new rundown (its cue count goes on: stage pages play only the newest)."""
        old = self.plan(room_id, rooms)
        plan = self.plans[room_id] = Plan(rundown, text, format, cue=old.cue if old else 0)
        self.save(room_id, plan, rooms)
        self.prepare(rundown, rooms.models)
        log.info("room %s: rundown %r, %d segments", room_id, rundown.title, len(rundown.segments))
        return plan

    @staticmethod
    def save(room_id: str, plan: Plan, rooms: LiveRooms) -> None:
        saved = SavedRundown(
            text=plan.text,
            format=plan.format,
            position=plan.index,
            cue=plan.cue,
            skipped=sorted(plan.skipped),
        )
        rooms.store.save_rundown(room_id, saved)

    def prepare(self, rundown: Rundown, models: Models) -> None:
        """Synthesize every line ahead, in order, so that a cue plays at once."""

        def work() -> None:
            for seg in rundown.segments:
                for lang in seg.speak:
                    try:
                        self.say(seg.lines[lang], lang, models)
                    except TingshuoError:
                        pass  # reported when the line is cued
                    except Exception:
                        log.exception("preparing the anchor's line %d failed", seg.line)

        threading.Thread(target=work, name="anchor-prepare", daemon=True).start()

    # -- stepping through

    @staticmethod
    def advance(plan: Plan, action: str) -> int:
        """next / previous / repeat / skip: the segment it cues (then `save` the plan)."""
        last = len(plan.rundown.segments) - 1
        index = {"next": plan.index + 1, "previous": plan.index - 1, "repeat": plan.index}.get(
            action, plan.index + 1
        )
        if index > last:
            raise NoCue("the rundown is over: previous or repeat, or load another")
        if index < 0:
            raise NoCue(
                "nothing was cued yet: next starts"
                if action == "repeat"
                else "already at the start"
            )
        plan.index = index
        plan.cue += 1
        if action == "skip":
            plan.skipped.add(index)
        else:
            plan.skipped.discard(index)
        return index

    def cue(
        self, room: RoomInfo, plan: Plan, action: str, index: int, cue: int, rooms: LiveRooms
    ) -> Said | None:
        """Say the cued segment's line (if it has one) and put it on the room's caption path:
        the `anchor_cue` event goes out once the caption is stored (it names the caption),
        then the caption, then its machine translations (blocking)."""
        seg = plan.rundown.segments[index]
        said = self._caption(room, plan.rundown, seg, rooms) if seg.lines else None
        # the console may have moved on while the line was being prepared: then the stage is
        # not told to say it (it is already elsewhere), but what was stored is still shown
        current = self.plans.get(room.id) is plan and plan.cue == cue

        def announce(final: Final | None) -> None:
            if current:
                event = AnchorCue(
                    action=action,
                    index=index,
                    cue=cue,
                    segment=SegmentOut.of(seg).model_dump(),
                    caption_id=final.segment.id if final else None,
                    error=said.error if said else None,
                )
                rooms.publish(room.id, event)

        if said is None:
            announce(None)
            return None
        path = rooms.captions(room)
        final = path.commit(
            Final(utterance=-cue, segment=said.segment),
            lambda event: rooms.publish(room.id, event),
            stored=announce,
            targets=[t for t in room.targets if t not in said.segment.translations],
        )
        if rooms.session_clock(room.id) is None:
            rooms.store.finish_session(final.segment.session_id or "", "done", final.segment.end)
        return Said(final.segment, said.error)

    def _caption(self, room: RoomInfo, rundown: Rundown, seg: Segment, rooms: LiveRooms) -> Said:
        """Synthesize the line (cached): the caption of the room's session it becomes."""
        error = None
        duration = 0.0
        for n, lang in enumerate(seg.speak):
            if n:
                duration += _GAP_BETWEEN_LANGUAGES_S
            try:
                duration += self.say(seg.lines[lang], lang, rooms.models).duration
            except Exception as e:  # still captioned: a failed line never silently disappears
                if isinstance(e, TingshuoError):
                    error = f"line {seg.line} ({lang}): {e}"
                    log.warning("room %s: the anchor cannot say %s", room.id, error)
                else:  # a voice's own failure: the cue still answers, and the caption is stored
                    error = f"line {seg.line} ({lang}): the voice failed on this line"
                    log.exception(
                        "room %s: the anchor's voice failed on line %d", room.id, seg.line
                    )
                duration += len(seg.lines[lang]) * _FALLBACK_S_PER_CHAR.get(lang, 0.1)
        lang = room.lang if room.lang in seg.lines else (seg.speak or list(seg.lines))[0]
        others = [t for t in room.targets if t != lang]
        given = {t: seg.lines[t] for t in others if t in seg.lines}
        session_id, start = self._session_and_time(room, rooms)
        caption = Caption(
            session_id=session_id,
            start=round(start, 3),
            end=round(start + duration, 3),
            lang=lang,
            text=seg.lines[lang],
            speaker=_speaker(rundown, lang),
            translations=given,
        )
        return Said(caption, error)

    def _session_and_time(self, room: RoomInfo, rooms: LiveRooms) -> tuple[str, float]:
        """The room's live session and the time in it; else the room's own anchor session."""
        clock = rooms.session_clock(room.id)
        if clock is not None:
            return clock
        session = self.sessions.get(room.id)
        if session is None:
            info = rooms.store.create_session(
                f"{room.name} · AI anchor",
                "AI anchor",
                room.lang,
                [],
                room.targets,
                room_id=room.id,
            )
            session = self.sessions[room.id] = AnchorSession(info.id, time.monotonic())
        return session.id, time.monotonic() - session.t0


def _speaker(rundown: Rundown, lang: str) -> str:
    if rundown.anchor and rundown.anchor != DEFAULT_ANCHOR:
        return rundown.anchor
    return "AI主播" if lang == "zh" else "AI anchor"
