"""A room's sound, recorded as it is heard (issue 27): the blocks the recognizer gets, encoded
as Ogg/Opus (audio/opus.py) by one writer thread per recording at nice 19 and stored in the
database page by page (store/sound.py), so that any gateway serves it and a killed process
loses at most the page being filled.

Packet k of a session's stream is heard at k × 20 ms into the session: the same clock as its
captions (`LiveSession` counts samples; sources fill drops with silence). A worker that takes
a room over goes on where the stored recording ends.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

import numpy as np

from ..audio.decode import SAMPLE_RATE
from ..audio.opus import FRAME, GRANULES, Encoder, page
from ..events import RecordingNotice, RoomEvent
from ..priority import lower_priority
from ..store.db import Store

log = logging.getLogger(__name__)

# packets a page (a stored chunk): 2 s, so a kill -9 loses at most about 2 s (the page being
# filled, and what waits in the queue: the writer keeps up at ~1 % of a core)
PAGE_PACKETS = 100
_PACKET_S = FRAME / SAMPLE_RATE
_NICE = 19  # the lowest: a caption never waits for the recording


class Recorder:
    """One session's recording. `feed` (from the room's audio thread) never blocks; a store
    that refuses a page stops the recording (never the room) and `tell` says why."""

    def __init__(
        self,
        store: Store,
        session_id: str,
        at_s: float = 0.0,
    ) -> None:
        self.store = store
        self.session_id = session_id
        self.at_s = at_s  # where in the session the first block fed is heard
        self.tell: Callable[[RoomEvent], None] | None = (
            None  # the room's events (the session's sink)
        )
        self.stopped: str | None = None  # why it stopped early
        self.packets = 0  # packets stored, across the processes that recorded the session
        self._keep = True
        self._covered = 0  # packets yet to come that another process stored already
        self._queue: queue.SimpleQueue[np.ndarray | None] = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=self._write_loop, name=f"recorder-{session_id}", daemon=True
        )
        self._thread.start()

    def feed(self, block: np.ndarray) -> None:
        if self.stopped is None:
            self._queue.put(block)

    def close(self, keep: bool = True, timeout: float = 10.0) -> None:
        """What was fed is stored (the last page too), then the thread ends; `keep` False:
        what waits is dropped (another worker took the session over and records it)."""
        self._keep = keep
        self._queue.put(None)
        self._thread.join(timeout)

    def _write_loop(self) -> None:
        lower_priority(_NICE)
        try:
            self._record()
        except Exception as e:  # noqa: BLE001 - a full disk, a database away: captions go on
            self.stopped = str(e).splitlines()[0] if str(e) else type(e).__name__
            log.warning("session %s: the recording stopped: %s", self.session_id, self.stopped)
            if self.tell is not None:
                message = (
                    f"录音已停止，字幕继续 · the recording stopped ({self.stopped}); captions go on"
                )
                self.tell(RecordingNotice(recording=False, message=message))
            while self._queue.get() is not None:  # let the room's blocks go
                pass

    def _record(self) -> None:
        last = self.store.last_sound_chunk(self.session_id)
        encoder = Encoder()
        seq, pre_skip = 2, encoder.pre_skip  # pages 0 and 1 are the file's header
        if last is not None:  # another process recorded the session's start
            seq, pre_skip = last.seq + 1, last.pre_skip
            self.packets = last.first + last.packets
        # the recording reaches packets × 20 ms; the blocks begin at `at_s` (a worker taking
        # the room over hears the sentence being spoken again): skip what is kept, or fill
        # with silence what nobody recorded
        skip = round((self.packets * _PACKET_S - self.at_s) * SAMPLE_RATE)
        if skip < 0:
            pending = encoder.encode(np.zeros(-skip, dtype=np.float32))
            skip = 0
        else:
            pending = []
        while True:
            block = self._queue.get()
            if block is None:
                if not self._keep:
                    return
                pending += encoder.flush()
                break
            if skip:
                cut = min(skip, block.size)
                block, skip = block[cut:], skip - cut
            pending += encoder.encode(block)
            if self._covered:  # packets another process stored already
                dropped = min(self._covered, len(pending))
                pending, self._covered = pending[dropped:], self._covered - dropped
            while len(pending) >= PAGE_PACKETS:
                seq, pending = self._store(pending, PAGE_PACKETS, seq, pre_skip)
        while pending:
            seq, pending = self._store(pending, PAGE_PACKETS, seq, pre_skip)

    def _store(
        self, pending: list[bytes], count: int, seq: int, pre_skip: int
    ) -> tuple[int, list[bytes]]:
        """The first `count` packets stored as page `seq`: the next page's number and what is
        left. Where another process stored that page (a worker that lost the room and has
        not heard yet), the recording goes on after the last stored page, and the packets it
        already holds are dropped: one voice for each stretch, in order."""
        packets = pending[:count]
        data = page(packets, (self.packets + len(packets)) * GRANULES, seq)
        if self.store.add_sound_chunk(
            self.session_id, seq, self.packets, len(packets), pre_skip, data
        ):
            self.packets += len(packets)
            return seq + 1, pending[count:]
        last = self.store.last_sound_chunk(self.session_id)
        assert last is not None  # the page that took the number
        stored_to = last.first + last.packets
        covered = max(stored_to - self.packets, 0)
        log.warning(
            "session %s: another process stores its sound too; going on after page %d",
            self.session_id,
            last.seq,
        )
        self.packets = max(self.packets, stored_to)
        self._covered = max(covered - len(pending), 0)  # more to drop as it comes
        return last.seq + 1, pending[covered:]
