"""A room's lines in one language as they are spoken (`interpretation.py`): each cut into
pieces while its translation is still being written (`phrasing.py`), so that the first words
are spoken before the sentence's translation is complete.

A translation still being written is cut only up to a stretch in the other script
("the full自动驾驶 machine"): the translator repairs it when the reply is complete, and the
rest is spoken from the repaired translation. What the complete translation still holds in
the other script is left out of the speech (`mt.cleanup.without_foreign`). A piece the voice
cannot say all the same is counted for the console (`Interpreter.unspoken`), and the phone
goes on to the next piece.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import TingshuoError
from ..events import Final, RoomEvent, Translation
from ..mt.cleanup import before_foreign, without_foreign
from . import phrasing
from .bus import Bus, Subscription
from .spoken import Spoken

if TYPE_CHECKING:
    from .broadcast import RoomStream
    from .interpretation import Interpreter

FOLLOW_S = 600.0  # lines are made ahead for a room this long after a phone last listened
KEEP_LINES = 300  # lines a script remembers
WAIT_S = 10.0  # the longest a phone's request waits for a piece


@dataclass
class Piece:
    """Words of a line to be spoken now: its `part`-th piece."""

    segment_id: int
    part: int
    text: str
    came: float  # monotonic time the line's caption came
    spoken: Future[Spoken]


@dataclass
class _Said:
    came: float
    pieces: list[Piece] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)  # the translation's tokens spoken so far
    done: bool = False  # no more pieces will come
    strayed: bool = False  # the drafts no longer begin with what was spoken: wait for the end


class Script:
    """A room's lines in one language, in caption order, each cut into pieces as its
    translation is written (`phrasing.cut`), the rest spoken when it is complete. Lives on
    the event loop: it follows the room's events itself while wanted (`take` may also be
    handed events directly)."""

    def __init__(self, interpreter: Interpreter, bus: Bus, room_id: str, lang: str) -> None:
        self.interpreter, self.bus, self.room_id, self.lang = interpreter, bus, room_id, lang
        self.lines: OrderedDict[int, _Said] = OrderedDict()
        self.wanted = 0.0  # when a phone last said it listens
        self.streams: set[RoomStream] = set()  # ongoing streams fed with each piece
        self._changed = asyncio.Event()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        """Follow the room's events from now on (subscribed before this returns)."""
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._follow(self.bus.subscribe(self.room_id)))

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def _listened(self) -> bool:
        return bool(self.streams) or time.monotonic() - self.wanted < FOLLOW_S

    async def _follow(self, sub: Subscription) -> None:
        try:
            while self._listened() and not sub.dropped.is_set():
                try:
                    message = await asyncio.wait_for(sub.get(), 5.0)
                except TimeoutError:
                    continue
                self.take(message.event)
        finally:
            self.bus.unsubscribe(sub)

    def take(self, event: RoomEvent) -> None:
        if isinstance(event, Final) and event.segment.id:
            line = self._line(event.segment.id)
            if event.segment.lang == self.lang and not line.done:  # said in this language
                self._say(event.segment.id, line, event.segment.text)
                line.done = True
        elif isinstance(event, Translation) and event.lang == self.lang and event.segment_id:
            line = self._line(event.segment_id)
            if line.done:
                return
            self._translation(event.segment_id, line, event)
        else:
            return
        self._changed.set()
        self._changed = asyncio.Event()

    def _translation(self, segment_id: int, line: _Said, event: Translation) -> None:
        text = event.text
        if event.skipped:
            line.done = True
        elif not event.partial:
            # the last resort: what repair left in the other script is not read out
            text = without_foreign(text, self.lang)
            self._say(segment_id, line, phrasing.remainder(text, line.tokens, self.lang))
            line.done = True
        elif not line.strayed:
            # up to a stretch in the other script: the complete translation repairs it
            text = before_foreign(text, self.lang)
            toks = phrasing.tokens(text, self.lang)
            if not phrasing.same_start(toks, line.tokens):
                line.strayed = True  # a retranslation: the rest waits for the complete one
                return
            n = phrasing.cut(text, len(line.tokens), self.lang)
            if n > len(line.tokens):
                self._say(segment_id, line, phrasing.join(toks[len(line.tokens) : n], self.lang))

    def _line(self, segment_id: int) -> _Said:
        line = self.lines.get(segment_id)
        if line is None:
            line = self.lines[segment_id] = _Said(time.monotonic())
            while len(self.lines) > KEEP_LINES:
                self.lines.popitem(last=False)
        return line

    def _say(self, segment_id: int, line: _Said, text: str) -> None:
        line.tokens += phrasing.tokens(text, self.lang)
        try:
            spoken = self.interpreter.speech(text, self.lang)
        except TingshuoError:  # nothing to say
            return
        piece = Piece(segment_id, len(line.pieces), text, line.came, spoken)
        self.interpreter.watch(spoken, self.room_id, self.lang, segment_id, piece.part, text)
        line.pieces.append(piece)
        for stream in self.streams:
            stream.add(piece)

    async def piece(self, segment_id: int, part: int, wait: float) -> Piece | None:
        """The line's `part`-th piece, waiting up to `wait` seconds for it to be cut; None
        when the line has no such piece (it ended, was skipped, or did not come in time)."""
        deadline = time.monotonic() + min(wait, WAIT_S)
        while True:
            line = self.lines.get(segment_id)
            if line is not None and part < len(line.pieces):
                return line.pieces[part]
            if line is not None and line.done:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                return None
