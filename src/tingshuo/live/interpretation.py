"""Spoken interpretation (耳机听译): each caption's translation spoken by tingshuo's voice for
that language, synthesized once on the server and kept, so that a thousand listeners cost no
more synthesis than one.

- `Script`: a room's lines in one language, cut into pieces while the translation is still
  being written (`phrasing.py`), so that the first words are spoken before the sentence's
  translation is complete. Each piece is synthesized as soon as it is cut.
- `Interpreter.speech(text, lang)`: words as MP3, made at most once per text and voice
  (requests for one being made wait for it), on one thread at a low CPU priority so that
  recognition never waits for it.
- `Script.piece(...)`: what a phone plays: a line's next piece, waited for.
- `Interpreter.stream(room_id, lang)`: the room's interpretation as one ongoing MP3 stream
  (a stage PC, a streaming encoder, OBS), encoded once per room and language and shared by
  every listener. Pieces are spoken in caption order at the voice's brisk `PACE`; when a
  line starts more than `FASTER_AFTER_S` after its caption or another waits, faster again
  (`FASTER`, pitch kept); pieces not begun `DROP_AFTER_S` after their caption are dropped,
  so the stream never drifts minutes behind.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction

import av
import numpy as np

from ..errors import TingshuoError
from ..priority import lower_priority
from ..tts.audio_out import to_int16
from . import phrasing
from .bus import Bus, Message, Subscription

log = logging.getLogger(__name__)

RATE = 22_050  # the stream's sample rate: every voice is brought to it
BITRATE = 48_000  # mono speech: small enough for a phone on a hall's Wi-Fi
PACE = 1.1  # the voice's own pace, brisk as an interpreter's: a translation runs longer
FASTER = 1.2  # how much faster again it speaks to catch up (1.32× in all)
EDGE_S = (0.03, 0.12)  # silence kept before and after a piece's speech
FASTER_AFTER_S = 3.0  # a piece begun this long after its caption: spoken faster
DROP_AFTER_S = 7.0  # a piece not begun this long after its caption came: dropped (≤ 8 s behind)
TICK_S = 0.1  # the stream's pacing step
FOLLOW_S = 600.0  # lines are made ahead for a room this long after a phone last listened
KEEP_LINES = 300  # lines a script remembers
WAIT_S = 10.0  # the longest a phone's request waits for a piece


@dataclass(frozen=True)
class Spoken:
    """A caption's words as the listener hears them."""

    text: str
    lang: str
    mp3: bytes
    samples: np.ndarray  # float32 mono at RATE (for the stream)

    @property
    def duration(self) -> float:
        return self.samples.size / RATE


def resampled(audio: np.ndarray, rate: int, target: int = RATE) -> np.ndarray:
    if rate == target:
        return audio.astype(np.float32)
    from ..tts.audio_out import resample

    return resample(audio, rate, target).astype(np.float32)


def trimmed(samples: np.ndarray, level: float = 0.02) -> np.ndarray:
    """Without the voice's silence before and after the words (pieces follow each other)."""
    loud = np.flatnonzero(np.abs(samples) > level)
    if loud.size == 0:
        return samples
    start = max(0, loud[0] - int(EDGE_S[0] * RATE))
    return samples[start : loud[-1] + int(EDGE_S[1] * RATE)]


def faster(samples: np.ndarray, factor: float = FASTER) -> np.ndarray:
    """The same speech, `factor` times faster at the same pitch (ffmpeg's atempo)."""
    graph = av.filter.Graph()
    src = graph.add_abuffer(sample_rate=RATE, format="s16", layout="mono", time_base=f"1/{RATE}")
    tempo = graph.add("atempo", f"{factor}")
    sink = graph.add("abuffersink")
    src.link_to(tempo)
    tempo.link_to(sink)
    graph.configure()
    frame = av.AudioFrame.from_ndarray(to_int16(samples)[None, :], format="s16", layout="mono")
    frame.sample_rate = RATE
    frame.pts = 0
    frame.time_base = Fraction(1, RATE)
    graph.push(frame)
    graph.push(None)
    out = []
    while True:
        try:
            got = graph.pull()
        except (av.error.EOFError, av.error.BlockingIOError):
            break
        out.append(got.to_ndarray().reshape(-1))
    if not out:
        return samples
    return (np.concatenate(out).astype(np.float32) / 32768).astype(np.float32)


class Mp3Encoder:
    """PCM (float32 mono at `rate`) in, MP3 bytes out, frame by frame."""

    def __init__(self, rate: int = RATE) -> None:
        self.rate = rate
        self.codec = av.CodecContext.create("libmp3lame", "w")
        self.codec.sample_rate = rate
        self.codec.layout = "mono"
        self.codec.format = "s16p"
        self.codec.bit_rate = BITRATE
        self.codec.open()
        self.pts = 0

    def encode(self, samples: np.ndarray | None) -> bytes:
        if samples is None:
            return b"".join(bytes(p) for p in self.codec.encode(None))
        frame = av.AudioFrame.from_ndarray(to_int16(samples)[None, :], format="s16p", layout="mono")
        frame.sample_rate = self.rate
        frame.pts = self.pts
        self.pts += samples.size
        return b"".join(bytes(p) for p in self.codec.encode(frame))


def mp3(samples: np.ndarray) -> bytes:
    encoder = Mp3Encoder()
    return encoder.encode(samples) + encoder.encode(None)


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
                self.take(message)
        finally:
            self.bus.unsubscribe(sub)

    def take(self, message: Message) -> None:
        if message.type == "final" and message.segment_id:
            seg = json.loads(message.text).get("segment") or {}
            line = self._line(message.segment_id)
            if seg.get("lang") == self.lang and not line.done:  # said in this language
                self._say(message.segment_id, line, seg.get("text") or "")
                line.done = True
        elif message.type == "translation" and message.lang == self.lang and message.segment_id:
            line = self._line(message.segment_id)
            if line.done:
                return
            self._translation(message.segment_id, line, message)
        else:
            return
        self._changed.set()
        self._changed = asyncio.Event()

    def _translation(self, segment_id: int, line: _Said, message: Message) -> None:
        event = json.loads(message.text)
        text = message.body or ""
        if event.get("skipped"):
            line.done = True
        elif not event.get("partial"):
            self._say(segment_id, line, phrasing.remainder(text, line.tokens, self.lang))
            line.done = True
        elif not line.strayed:
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


@dataclass
class _Line:
    piece: Piece
    samples: np.ndarray | None = None
    at: int = 0  # samples of it already sent


class _Broadcast:
    """One MP3 encoder, paced at real time while anyone listens, each chunk handed to every
    listener (never an encoder per listener). Subclasses give the samples."""

    rate = RATE

    def __init__(self) -> None:
        self.listeners: set[asyncio.Queue[bytes | None]] = set()
        self.closed = False
        self._task: asyncio.Task | None = None

    async def listen(self) -> AsyncIterator[bytes]:
        """The MP3 bytes from now on, until the stream closes."""
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=200)
        self.listeners.add(queue)
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())
        try:
            while True:
                chunk = await queue.get()
                if chunk is None:
                    return
                yield chunk
        finally:
            self.listeners.discard(queue)

    def close(self) -> None:
        self.closed = True
        for queue in list(self.listeners):
            if not queue.full():
                queue.put_nowait(None)

    async def _run(self) -> None:
        await self._broadcast()

    def _tick(self) -> None:
        """Before each step (on the event loop)."""

    def _next_samples(self, n: int) -> np.ndarray:
        raise NotImplementedError

    async def _broadcast(self) -> None:
        encoder = Mp3Encoder(self.rate)
        step = int(self.rate * TICK_S)
        started, sent = time.monotonic(), 0
        while self.listeners and not self.closed:
            self._tick()
            chunk = encoder.encode(self._next_samples(step))
            sent += 1
            for queue in list(self.listeners):
                if queue.full():  # a listener that stopped reading: let go
                    self.listeners.discard(queue)
                else:
                    queue.put_nowait(chunk)
            # real time: the stream is as long as the time it has run (a little ahead)
            ahead = started + sent * TICK_S - time.monotonic() - 0.3
            await asyncio.sleep(max(ahead, 0.0))  # never hold the event loop


class RoomStream(_Broadcast):
    """One room's interpretation in one language: the script's pieces in caption order,
    silence between, while anyone listens."""

    def __init__(self, script: Script) -> None:
        super().__init__()
        self.script = script
        self.lines: deque[_Line] = deque()
        self.dropped = 0  # pieces dropped to keep up
        self.sped_up = 0  # pieces spoken faster

    def add(self, piece: Piece) -> None:
        self.lines.append(_Line(piece))

    async def _run(self) -> None:
        self.script.streams.add(self)
        self.script.start()
        try:
            await self._broadcast()
        finally:
            self.script.streams.discard(self)
            self.lines.clear()

    def _next_samples(self, n: int) -> np.ndarray:
        """The next `n` samples: the piece being spoken, or silence."""
        out = np.zeros(n, dtype=np.float32)
        filled = 0
        while filled < n and self.lines:
            line = self.lines[0]
            spoken = line.piece.spoken
            if line.samples is None:
                if not spoken.done():
                    break  # being synthesized: silence meanwhile
                late = time.monotonic() - line.piece.came
                if spoken.exception() is not None or late > DROP_AFTER_S:
                    self.lines.popleft()
                    self.dropped += 1
                    continue
                samples = spoken.result().samples
                others = any(x.piece.segment_id != line.piece.segment_id for x in self.lines)
                if others or late > FASTER_AFTER_S:  # another line waits, or this one is late
                    samples = faster(samples)
                    self.sped_up += 1
                line.samples = samples
            take = min(n - filled, line.samples.size - line.at)
            out[filled : filled + take] = line.samples[line.at : line.at + take]
            filled += take
            line.at += take
            if line.at >= line.samples.size:
                self.lines.popleft()
        return out


class Relay(_Broadcast):
    """The room's own sound, relayed live as MP3 ("Original" listening: an overflow room, the
    hard of hearing). Fed from the room's thread with the blocks the recognizer gets; at most
    `KEEP_S` waits, so it stays live; silence while the room is quiet or paused."""

    KEEP_S = 2.0
    rate = 16_000

    def __init__(self) -> None:
        super().__init__()
        self._pcm: deque[np.ndarray] = deque()
        self._lock = threading.Lock()
        self._held = np.zeros(0, dtype=np.float32)

    def feed(self, block: np.ndarray) -> bool:
        """A block of the room's sound; False once nobody listens."""
        if not self.listeners:
            return False
        if not block.size:
            return True
        with self._lock:
            self._pcm.append(block.astype(np.float32))
            while sum(b.size for b in self._pcm) > self.KEEP_S * self.rate:
                self._pcm.popleft()
        return True

    def _tick(self) -> None:
        with self._lock:
            if self._pcm:
                self._held = np.concatenate([self._held, *self._pcm])
                self._pcm.clear()

    def _next_samples(self, n: int) -> np.ndarray:
        out = np.zeros(n, dtype=np.float32)
        take = min(n, self._held.size)
        out[:take] = self._held[:take]
        self._held = self._held[take:]
        return out
