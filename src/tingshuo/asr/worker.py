"""One recognizer instance shared by every session, in its own thread, behind a bounded queue.

Finals go before drafts; a draft that waits while a newer one from the same session
arrives is dropped, since only the newest matters for a caption.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from concurrent.futures import Future

from ..errors import TingshuoError
from .base import Hypothesis, Recognizer, Request

log = logging.getLogger(__name__)

_FINAL, _DRAFT = 0, 1


class QueueFull(TingshuoError):
    pass


class RecognizerWorker:
    def __init__(self, recognizer: Recognizer, max_queue: int = 64) -> None:
        self.recognizer = recognizer
        self._queue: queue.PriorityQueue = queue.PriorityQueue(maxsize=max_queue)
        self._order = itertools.count()
        self._latest_draft: dict[object, int] = {}
        self._lock = threading.Lock()
        self._finals = 0  # final requests queued or running
        self._active = 0  # all requests queued or running
        self._thread = threading.Thread(target=self._run, name="recognizer", daemon=True)
        self._thread.start()

    def submit(self, request: Request, owner: object = None) -> Future[Hypothesis]:
        """Queue a request; drafts are refused (QueueFull) rather than waited for."""
        future: Future[Hypothesis] = Future()
        n = next(self._order)
        priority = _DRAFT if request.draft else _FINAL
        if request.draft:
            with self._lock:
                self._latest_draft[owner] = n
        item = (priority, n, owner, request, future)
        with self._lock:
            self._active += 1
            self._finals += not request.draft
        future.add_done_callback(self._final_done if not request.draft else self._draft_done)
        if request.draft:
            try:
                self._queue.put_nowait(item)
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

    def idle(self) -> bool:
        """Nothing waits for the model or is being decoded: the CPU is free for other work."""
        return self._active == 0

    def waiting(self, owner: object = None, finals_only: bool = False) -> int:
        """Requests (or only finals) queued by others than `owner`: the model is wanted
        elsewhere."""
        with self._queue.mutex:
            return sum(
                1
                for item in self._queue.queue
                if item[2] is not owner and (not finals_only or item[0] == _FINAL)
            )

    def recognize(self, request: Request, owner: object = None) -> Hypothesis | None:
        """Blocking convenience; None when a draft was superseded or refused."""
        try:
            return self.submit(request, owner).result()
        except QueueFull:
            return None

    def _run(self) -> None:
        while True:
            priority, n, owner, request, future = self._queue.get()
            if request is None:
                return
            if priority == _DRAFT:
                with self._lock:
                    stale = self._latest_draft.get(owner) != n
                if stale:
                    future.set_result(None)
                    continue
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(self.recognizer.recognize(request))
            except Exception as e:  # the caller decides; the worker keeps serving
                log.exception("recognizer failed")
                future.set_exception(e)

    def close(self) -> None:
        self._queue.put((99, next(self._order), None, None, None))
        self._thread.join(timeout=5)
