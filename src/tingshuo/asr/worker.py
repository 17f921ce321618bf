"""One recognizer instance shared by every session, in its own thread, behind a bounded queue.

Finals go before drafts; a draft that waits while a newer one from the same session
arrives is dropped, since only the newest matters for a caption.

With `drafter`, drafts have a model instance and thread of their own at a lower CPU
priority: a final never waits for a draft to finish (on a long utterance a draft costs
nearly as much as its final), and the two share the cores in the final's favour.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

from ..errors import TingshuoError
from ..priority import lower_priority
from ..supervised import Supervised
from .base import Hypothesis, Recognizer, Request

log = logging.getLogger(__name__)

_FINAL, _DRAFT = 0, 1


class QueueFull(TingshuoError):
    pass


class RecognizerWorker:
    def __init__(
        self,
        recognizer: Recognizer,
        max_queue: int = 64,
        drafter: Callable[[], Recognizer] | None = None,
        draft_nice: int = 5,
    ) -> None:
        """`drafter`: loads a second instance for drafts (in their thread, after it has
        lowered its priority to `draft_nice`, so that the model's own threads inherit it)."""
        self.recognizer = recognizer
        self._queue: queue.PriorityQueue = queue.PriorityQueue(maxsize=max_queue)
        self._drafts: queue.PriorityQueue | None = None
        self._order = itertools.count()
        self._latest_draft: dict[object, int] = {}
        self._lock = threading.Lock()
        self._finals = 0  # final requests queued or running
        self._active = 0  # all requests queued or running
        self._seen: dict[object, float] = {}  # owner -> when it last asked
        self._thread = Supervised("recognizer", self._run, self._queue, lambda: self.recognizer)
        self._draft_thread: Supervised | None = None
        if drafter is not None:
            draft_queue = self._drafts = queue.PriorityQueue(maxsize=max_queue)
            loaded: list[Recognizer] = []

            def drafts() -> None:
                lower_priority(draft_nice)
                if not loaded:  # (a thread started again keeps the instance loaded before)
                    try:
                        loaded.append(drafter())
                    except Exception:  # drafts then share the main instance, as without one
                        log.exception("a second recognizer for drafts could not be loaded")
                        loaded.append(self.recognizer)
                self._run(draft_queue, lambda: loaded[0])

            self._draft_thread = Supervised("drafts", drafts)

    def submit(
        self, request: Request, owner: object = None, urgent: bool = False
    ) -> Future[Hypothesis]:
        """Queue a request; drafts are refused (QueueFull) rather than waited for. An `urgent`
        draft (an utterance's first: a caption must show) goes on the main instance, after
        finals, rather than at the drafts' lower priority."""
        self._thread.ensure()
        if request.draft and self._draft_thread is not None:
            self._draft_thread.ensure()
        future: Future[Hypothesis] = Future()
        n = next(self._order)
        priority = _DRAFT if request.draft else _FINAL
        if request.draft:
            with self._lock:
                self._latest_draft[owner] = n
        item = (priority, n, owner, request, future)
        with self._lock:
            self._seen[owner] = time.monotonic()
            self._active += 1
            self._finals += not request.draft
        future.add_done_callback(self._final_done if not request.draft else self._draft_done)
        if request.draft:
            try:
                (self._queue if urgent else self._drafts or self._queue).put_nowait(item)
            except queue.Full as e:
                future.cancel()  # never queued: it counts as done
                raise QueueFull("the recognizer is saturated; draft skipped") from e
        else:
            self._queue.put(item)
        return future

    def _final_done(self, _: Future) -> None:
        with self._lock:
            self._finals -= 1
            self._active -= 1

    def _draft_done(self, _: Future) -> None:
        with self._lock:
            self._active -= 1

    def busy(self) -> bool:
        """A final waits for the model or is being decoded: lower-priority work should yield."""
        return self._finals > 0

    def sharing(self, within_s: float = 10.0) -> int:
        """How many owners (live sessions) asked for the model in the last `within_s`."""
        now = time.monotonic()
        with self._lock:
            for owner in [o for o, t in self._seen.items() if now - t > within_s]:
                del self._seen[owner]
            return len(self._seen)

    def idle(self) -> bool:
        """Nothing waits for the model or is being decoded: the CPU is free for other work."""
        return self._active == 0

    def queued(self) -> dict[str, int]:
        """Requests waiting for each instance (/metrics): "recognizer" (finals and first
        drafts) and "drafts" (redrafts, when they have their own instance)."""
        out = {"recognizer": self._queue.qsize()}
        if self._drafts is not None:
            out["drafts"] = self._drafts.qsize()
        return out

    def waiting(self, owner: object = None, finals_only: bool = False) -> int:
        """Requests (or only finals) queued by others than `owner`: the model is wanted
        elsewhere."""
        count = 0
        for q in (self._queue, self._drafts):
            if q is None:
                continue
            with q.mutex:
                count += sum(
                    1
                    for item in q.queue
                    if item[2] is not owner and (not finals_only or item[0] == _FINAL)
                )
        return count

    def recognize(self, request: Request, owner: object = None) -> Hypothesis | None:
        """Blocking convenience; None when a draft was superseded or refused."""
        try:
            return self.submit(request, owner).result()
        except QueueFull:
            return None

    def _run(self, requests: queue.PriorityQueue, model: Callable[[], Recognizer]) -> None:
        while True:
            priority, n, owner, request, future = requests.get()
            if request is None:
                return
            # a request cancelled while it waited (a draft whose utterance is final) is passed
            # over; once running it can no longer be cancelled, so setting it is safe
            if not future.set_running_or_notify_cancel():
                continue
            if priority == _DRAFT:
                with self._lock:
                    stale = self._latest_draft.get(owner) != n
                if stale:
                    future.set_result(None)
                    continue
            try:
                future.set_result(model().recognize(request))
            except Exception as e:  # the caller decides; the worker keeps serving
                log.exception("recognizer failed")
                future.set_exception(e)

    def thread_state(self) -> str:
        """Its state: "running" (and how often it was started again after stopping by itself)."""
        return self._thread.state()

    def drafts_state(self) -> str | None:
        """The drafts thread's state, as `thread_state`; None without a second instance."""
        return self._draft_thread.state() if self._draft_thread is not None else None

    def close(self) -> None:
        self._queue.put((99, next(self._order), None, None, None))
        if self._drafts is not None:
            self._drafts.put((99, next(self._order), None, None, None))
        self._thread.join(5)
        if self._draft_thread is not None:
            # joined, not left to end as the interpreter exits: a model freed by a thread
            # that is being torn down aborts the process (std::terminate)
            self._draft_thread.join(5)
