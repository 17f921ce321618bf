"""The MP3 streams of a room (`interpretation.py`): its interpretation in one language
(`RoomStream`) and its own sound (`Relay`), each encoded once and shared by every listener."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .spoken import RATE, Mp3Encoder, faster

if TYPE_CHECKING:
    from .script import Piece, Script

FASTER_AFTER_S = 3.0  # a piece begun this long after its caption: spoken faster
DROP_AFTER_S = 7.0  # a piece not begun this long after its caption came: dropped (≤ 8 s behind)
TICK_S = 0.1  # the stream's pacing step


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
