"""Spoken interpretation (耳机听译): each caption's translation spoken by tingshuo's voice for
that language, synthesized once on the server and kept, so that a thousand listeners cost no
more synthesis than one.

- `Script` (`script.py`): a room's lines in one language, cut into pieces while the
  translation is still being written (`phrasing.py`), so that the first words are spoken
  before the sentence's translation is complete. Each piece is synthesized as soon as it is
  cut.
- `Interpreter.speech(text, lang)`: words as MP3, made at most once per text and voice
  (requests for one being made wait for it), on one thread at a low CPU priority so that
  recognition never waits for it.
- `Script.piece(...)`: what a phone plays: a line's next piece, waited for.
- `Interpreter.stream(room_id, lang)` (`broadcast.py`): the room's interpretation as one
  ongoing MP3 stream (a stage PC, a streaming encoder, OBS), encoded once per room and
  language and shared by every listener. Pieces are spoken in caption order at the voice's
  brisk `PACE`; when a line starts more than `FASTER_AFTER_S` after its caption or another
  waits, faster again (`FASTER`, pitch kept); pieces not begun `DROP_AFTER_S` after their
  caption are dropped, so the stream never drifts minutes behind.

- `Interpreter.unspoken(room_id)`: pieces the voice could not say, per language, with the
  last reason (the console shows them; each is logged once). The stream and the phone go on
  to the next piece.

The speech itself (trimmed, sped up, MP3) is made in `spoken.py`.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from ..errors import TingshuoError
from ..priority import lower_priority
from .broadcast import Relay, RoomStream
from .bus import Bus
from .script import Script
from .spoken import PACE, Spoken, faster, mp3, resampled, trimmed

log = logging.getLogger(__name__)

# pieces remembered as counted (a piece asked for by many phones counts once)
_COUNTED_KEEP = 4096


@dataclass
class Unspoken:
    """Pieces of a room's interpretation in one language that the voice could not say."""

    count: int = 0
    reason: str = ""  # the voice's words about the last one
    text: str = ""  # the last one


class Interpreter:
    """Synthesis for listeners, once per text and language (see the module doc). `voice`
    gives tingshuo's voice for a language (the server's `Models.voice`)."""

    def __init__(
        self,
        voice: Callable[[str], object],
        nice: int = 15,
        cache_size: int = 2048,
    ) -> None:
        self._voice = voice
        self._pool = ThreadPoolExecutor(
            1, thread_name_prefix="interpretation", initializer=lower_priority, initargs=(nice,)
        )
        self._kept: OrderedDict[tuple[str, str], Future[Spoken]] = OrderedDict()
        self._lock = threading.Lock()
        self.cache_size = cache_size
        self.synthesized = 0  # how many lines were synthesized (the rest came from the cache)
        self._streams: dict[tuple[str, str], RoomStream] = {}
        self._relays: dict[str, Relay] = {}
        self._scripts: dict[tuple[str, str], Script] = {}
        self._unspoken: dict[tuple[str, str], Unspoken] = {}
        self._counted: OrderedDict[tuple[str, str, int, int], None] = OrderedDict()

    def speech(self, text: str, lang: str) -> Future[Spoken]:
        """The line spoken: made now, or already made (or being made) for another listener."""
        text = " ".join(text.split())
        if not text:
            raise TingshuoError("nothing to say: the text is empty")
        key = (lang, text)
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None and not (kept.done() and kept.exception() is not None):
                self._kept.move_to_end(key)
                return kept
            future = self._pool.submit(self._synthesize, text, lang)
            self._kept[key] = future
            while len(self._kept) > self.cache_size:
                self._kept.popitem(last=False)
            return future

    def _synthesize(self, text: str, lang: str) -> Spoken:
        voice = self._voice(lang)
        said = voice.say(text)  # type: ignore[attr-defined]
        samples = faster(trimmed(resampled(said.audio, said.sample_rate)), PACE)
        self.synthesized += 1
        return Spoken(text, lang, mp3(samples), samples)

    def watch(
        self, spoken: Future[Spoken], room_id: str, lang: str, segment_id: int, part: int, text: str
    ) -> None:
        """The `part`-th piece of a room's line, being made: counted (once) and logged if the
        voice cannot say it, never passed over silently."""

        def done(future: Future[Spoken]) -> None:
            if future.cancelled() or future.exception() is None:
                return
            key = (room_id, lang, segment_id, part)
            reason = str(future.exception())
            with self._lock:
                if key in self._counted:
                    return
                self._counted[key] = None
                while len(self._counted) > _COUNTED_KEEP:
                    self._counted.popitem(last=False)
                unspoken = self._unspoken.setdefault((room_id, lang), Unspoken())
                unspoken.count += 1
                unspoken.reason, unspoken.text = reason, text
            log.warning("room %s: could not speak %s piece %r: %s", room_id, lang, text, reason)

        spoken.add_done_callback(done)

    def unspoken(self, room_id: str) -> dict[str, Unspoken]:
        """The room's pieces that could not be spoken, by language (none: not there)."""
        with self._lock:
            return {
                lang: dataclasses.replace(u)
                for (room, lang), u in self._unspoken.items()
                if room == room_id
            }

    def unspoken_counts(self) -> dict[str, int]:
        """Pieces that could not be spoken so far, by language, every room together
        (/metrics)."""
        with self._lock:
            out: dict[str, int] = {}
            for (_, lang), unspoken in self._unspoken.items():
                out[lang] = out.get(lang, 0) + unspoken.count
            return out

    def waiting(self) -> int:
        """Pieces waiting for the voice or being spoken (/metrics)."""
        with self._lock:
            return sum(not future.done() for future in self._kept.values())

    def script(self, room_id: str, lang: str, bus: Bus) -> Script:
        """The room's lines in `lang`, cut into pieces (one per room and language); it
        follows the room's events while a phone or a stream listens. Call on the event loop."""
        key = (room_id, lang)
        script = self._scripts.get(key)
        if script is None:
            script = self._scripts[key] = Script(self, bus, room_id, lang)
        return script

    def follow(self, room_id: str, lang: str, bus: Bus) -> Script:
        """Someone listens to this room in `lang` (a phone): from now until FOLLOW_S after
        the last such call, each piece is synthesized as soon as it is cut, so that a phone's
        request finds it made. Call on the event loop."""
        script = self.script(room_id, lang, bus)
        script.wanted = time.monotonic()
        script.start()
        return script

    def stream(self, room_id: str, lang: str, bus: Bus) -> RoomStream:
        """The room's ongoing interpretation in `lang` (one per room and language); it
        follows the room's events on `bus` while anyone listens."""
        key = (room_id, lang)
        stream = self._streams.get(key)
        if stream is None or stream.closed:
            stream = self._streams[key] = RoomStream(self.script(room_id, lang, bus))
        return stream

    def relay(self, room_id: str) -> Relay:
        """The room's own sound, relayed (one per room)."""
        relay = self._relays.get(room_id)
        if relay is None:
            relay = self._relays[room_id] = Relay()
        return relay

    def close(self) -> None:
        for stream in [*self._streams.values(), *self._relays.values()]:
            stream.close()
        for script in self._scripts.values():
            script.stop()
        self._pool.shutdown(wait=False, cancel_futures=True)
