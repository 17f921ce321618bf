"""CPU priority of the calling thread: recognition of live rooms goes first, then drafts,
then translation and public work; and how a loaded OpenMP runtime's threads wait."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator

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


@contextlib.contextmanager
def spinning_openmp() -> Iterator[None]:
    """Load a library whose OpenMP runtime must not wait passively (llama.cpp: its threads
    spin briefly between a token's hundreds of steps; passive, a caption took 1.3 s, not 0.9).

    The recognizer asks for `OMP_WAIT_POLICY=PASSIVE` (asr/whisper.py) for its own copy, and a
    runtime reads it when it loads. llama.cpp links the system's `libgomp.so.1`, and so does
    PyTorch (the speaker encoder) with a copy of its own under the same name: whichever loads
    first is the one both use. Both load under this, so llama.cpp's threads never wait
    passively, whatever the order (measured: with PyTorch loaded first under PASSIVE, a
    second pass used 1.15 of 2 cores, and 1.7 under this)."""
    saved = os.environ.pop("OMP_WAIT_POLICY", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["OMP_WAIT_POLICY"] = saved
