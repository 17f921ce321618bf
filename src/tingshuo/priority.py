"""CPU priority of the calling thread: recognition of live rooms goes first, then drafts,
then translation and public work."""

from __future__ import annotations

import logging
import os
import threading

log = logging.getLogger(__name__)


def lower_priority(nice: int) -> None:
    """Lower the calling thread's CPU priority (Linux: a thread's nice value is its own, and
    threads it starts, such as a model's, inherit it)."""
    if nice <= 0 or not hasattr(os, "setpriority"):
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    except OSError as e:
        log.info("a thread runs at normal priority: %s", e)
