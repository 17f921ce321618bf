"""A worker's one thread, started again if it ever stops by itself.

The recognizer's and the translator's loops catch each request's error, so a thread should
never end; if one does (a fault outside a request), every room would silently lose its
captions or translations. Its owner calls `ensure()` before queueing work and `/health`
calls it too: a stopped thread is logged, counted and started again on the same queue.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Supervised:
    def __init__(self, name: str, target: Callable[..., None], *args: object) -> None:
        self.name, self._target, self._args = name, target, args
        self.restarts = 0
        self._closing = False
        self._lock = threading.Lock()
        self._thread = self._start()

    def _start(self) -> threading.Thread:
        thread = threading.Thread(target=self._target, args=self._args, name=self.name, daemon=True)
        thread.start()
        return thread

    def ensure(self) -> None:
        """Start the thread again if it stopped while it was not asked to."""
        if self._closing or self._thread.is_alive():
            return
        with self._lock:
            if self._closing or self._thread.is_alive():
                return
            self.restarts += 1
            log.error("the %s thread had stopped; started again (%d)", self.name, self.restarts)
            self._thread = self._start()

    def state(self) -> str:
        """For /health: "running", with how often it was started again."""
        self.ensure()
        again = f" (started again {self.restarts}×)" if self.restarts else ""
        return ("running" if self._thread.is_alive() else "stopped") + again

    def join(self, timeout: float) -> None:
        """After the owner asked the loop to end (it will not be started again)."""
        self._closing = True
        self._thread.join(timeout=timeout)
