"""The machine's second pass over live captions: a Mandarin final, once shown, is read again
in the background with the captions before it and the room's hot words
(`asr/second_pass.py`). When the reading changes, the caption is corrected through the same
path as an operator's correction (`CaptionPath.revised`: a `correction` event marked
`by: model`, then translated again). A caption an operator has corrected is never touched.

One thread per process, at the lowest CPU priority, after recognition, drafts and
translation. It never delays a final: finals are queued after they are published, and a
review whose room has fallen behind, or that waited too long, is skipped and counted.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ..errors import TingshuoError
from ..events import RoomEvent, Segment
from ..priority import lower_priority
from ..supervised import Supervised
from .captions import CaptionPath

log = logging.getLogger(__name__)

Publish = Callable[[RoomEvent], None]
CONTEXT_CAPTIONS = 2  # the captions before a final that the second pass reads with it
_IDLE_POLL_S = 0.05  # how often a review waiting for recognition and translation looks again
_PAUSE_MAX_S = 10.0  # the longest a review in progress waits for them
KEEPING_UP_OF = 20  # finals over which it is judged to keep up (≤ 1 in 5 skipped)


class Reviewer(Protocol):
    def review(
        self,
        text: str,
        context: Sequence[str] = (),
        hotwords: Sequence[str] = (),
        hypotheses: Sequence[str] = (),
        lang: str = "zh",
    ): ...


@dataclass
class Job:
    segment: Segment
    context: list[str]  # the captions before it, oldest first
    hotwords: list[str]
    hypotheses: list[str]  # the recognizer's other readings of the same audio
    captions: CaptionPath
    publish: Publish
    behind: Callable[[], bool] = lambda: False  # the room is late: skip
    queued: float = field(default_factory=time.monotonic)


@dataclass
class ReviewCounts:
    reviewed: int = 0
    changed: int = 0  # captions the second pass corrected
    skipped: int = 0  # not reviewed: the room was behind, or the queue full or stale
    refused: int = 0  # an operator had corrected it meanwhile
    seconds: list[float] = field(default_factory=list)  # cost of the latest reviews
    # the latest finals' fate, True where read again: whether it keeps up
    recent: deque[bool] = field(default_factory=lambda: deque(maxlen=KEEPING_UP_OF))

    @property
    def keeping_up(self) -> bool:
        """It read again all but a few of the latest finals given to it."""
        return not self.recent or self.recent.count(False) <= len(self.recent) * 0.2


class ReviewWorker:
    """One consumer of review jobs (see the module doc). `load` makes the reviewer on the
    worker's own thread, at first need."""

    def __init__(
        self,
        load: Callable[[], Reviewer],
        nice: int = 19,
        queue_size: int = 16,
        stale_s: float = 20.0,
        idle: Callable[[], bool] = lambda: True,
    ) -> None:
        """`idle`: whether recognition and translation have nothing waiting; a review starts
        only then (a nice value cannot keep two language models from sharing the memory's
        bandwidth: measured, translations came 1.5 s later at p95 without this)."""
        self._load = load
        self._idle_models = idle
        self.nice = nice
        self.stale_s = stale_s
        self.counts = ReviewCounts()
        self._queue: queue.Queue[Job | None] = queue.Queue(maxsize=queue_size)
        self._lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        self._reviewer: Reviewer | None = None  # loaded at first need, kept across restarts
        self._thread = Supervised("second pass", self._run)

    def submit(self, job: Job) -> None:
        """Queued behind the others; when the queue is full, the oldest job gives way."""
        self._thread.ensure()
        self._idle.clear()
        while True:
            try:
                self._queue.put_nowait(job)
                return
            except queue.Full:
                try:
                    dropped = self._queue.get_nowait()
                except queue.Empty:
                    continue
                if dropped is not None:
                    self._count(skipped=1)

    def wait(self, timeout: float | None = None) -> bool:
        """Until every job queued so far is done (tests, benchmarks)."""
        return self._idle.wait(timeout)

    def queued(self) -> int:
        """Finals waiting to be read again (/metrics)."""
        return self._queue.qsize()

    def thread_state(self) -> str:
        """For /health: "running" (and how often it was started again)."""
        return self._thread.state()

    def close(self, timeout: float = 5.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)

    def _wait_for_idle(self) -> None:
        """Between the batches of a review: while a final waits, it waits (a while at most)."""
        until = time.monotonic() + _PAUSE_MAX_S
        while not self._idle_models() and time.monotonic() < until:
            time.sleep(_IDLE_POLL_S)

    def _stale(self, job: Job) -> bool:
        return time.monotonic() - job.queued > self.stale_s

    def _count(self, **more: int) -> None:
        with self._lock:
            for name, n in more.items():
                setattr(self.counts, name, getattr(self.counts, name) + n)
            if more.get("skipped"):
                self.counts.recent.append(False)

    def _run(self) -> None:
        lower_priority(self.nice)
        while True:
            job = self._queue.get()
            if job is None:
                return
            try:
                while not self._idle_models() and not job.behind() and not self._stale(job):
                    time.sleep(_IDLE_POLL_S)
                if job.behind() or self._stale(job):
                    self._count(skipped=1)
                    continue
                if self._reviewer is None:
                    self._reviewer = self._load()
                    if hasattr(self._reviewer, "pause"):
                        self._reviewer.pause = self._wait_for_idle
                self._review(self._reviewer, job)
            except TingshuoError as e:  # a model that cannot load: captions go on without it
                log.error("second pass: %s", e)
                self._count(skipped=1)
            except Exception:  # never let one caption stop the thread
                log.exception("second pass failed on caption %s", job.segment.id)
                self._count(skipped=1)
            finally:
                if self._queue.empty():
                    self._idle.set()

    def _review(self, reviewer: Reviewer, job: Job) -> None:
        seg = job.segment
        if seg.id is None:
            return
        now = job.captions.store.get_segment(seg.id)
        if now is None or now.revision > 0:  # an operator got there first: theirs stands
            self._count(refused=1)
            return
        review = reviewer.review(seg.text, job.context, job.hotwords, job.hypotheses, seg.lang)
        with self._lock:
            self.counts.reviewed += 1
            self.counts.recent.append(True)
            self.counts.seconds = [*self.counts.seconds[-199:], review.seconds]
        if not review.changed:
            return
        text = job.captions.rules().apply(review.text)  # the room's rules have the last word
        if text == seg.text:
            return
        corrected = job.captions.store.correct_segment(seg.id, text, by="model")
        if corrected is None or not corrected.changed:
            self._count(refused=1)
            return
        self._count(changed=1)
        job.captions.revised(corrected.segment, job.publish, by="model")
