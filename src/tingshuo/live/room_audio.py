"""A room's audio in Redis (distributed mode): the blocks as its stream holds them, and the
relay that reads them for listeners of the original sound on any gateway."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np

from .bus import room_key

_TAP_IDLE_S = 10.0  # the original sound is read this long after its last listener


def to_pcm(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()


def from_pcm(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0


def relay(
    client, room_id: str, listener: Callable[[np.ndarray], bool], closing: threading.Event
) -> None:
    """Hand `listener` each block written to the room's audio stream from now on (an empty
    block when none came for half a second), until it has said False (nobody listens) for a
    while, or `closing`."""
    import redis

    key, after = room_key(room_id, "audio"), "$"
    wanted_at = time.monotonic()
    while not closing.is_set():
        try:
            got = client.xread({key: after}, count=50, block=500)
        except redis.RedisError:  # a restart: the relay is silent meanwhile
            time.sleep(0.5)
            continue
        wanted = True
        for entry_id, fields in got[0][1] if got else []:
            after = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
            if b"pcm" in fields:
                wanted = listener(from_pcm(fields[b"pcm"])) is not False
        if not got:
            wanted = listener(np.zeros(0, dtype=np.float32)) is not False
        if wanted:
            wanted_at = time.monotonic()
        elif time.monotonic() - wanted_at > _TAP_IDLE_S:  # (a listener takes a moment)
            return
