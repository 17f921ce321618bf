"""A room that listens to a network stream (`audio/stream.py`), one-process or on a gateway:
the URL checked against the organizer's hosts and opened before the room starts, and each
drop and return told to the room's console as a `stream` notice."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import numpy as np

from ..audio.stream import StreamChange, StreamSource, check_url, open_stream, shown
from ..events import StreamNotice
from ..settings import Settings


def open_room_stream(
    url: str, settings: Settings, publish: Callable[[StreamNotice], None], stopping: threading.Event
) -> Iterator[np.ndarray]:
    """Blocking (a name is looked up, the stream probed): the room's blocks until `stopping`
    is set (while it reconnects too). Raises `StreamError`, a 4xx with one line."""
    container = open_stream(check_url(url, settings.stream_hosts))

    def told(change: StreamChange) -> None:
        publish(notice(change))

    return iter(StreamSource(url.strip(), container, told, stopping.is_set))


def notice(change: StreamChange) -> StreamNotice:
    if change.back:
        message = f"stream back after {change.gap_s:.1f} s; {change.gap_s:.1f} s of sound lost"
        if change.lost_s > change.gap_s + 0.05:
            message += f" ({change.lost_s:.1f} s in this session)"
    else:
        why = f" ({change.reason})" if change.reason else ""
        message = f"stream lost{why}, reconnecting (try {change.tries})…"
    return StreamNotice(
        back=change.back,
        tries=change.tries,
        gap_s=round(change.gap_s, 1),
        lost_s=round(change.lost_s, 1),
        message=message,
    )


def label(url: str | None) -> str:
    """How a session records a stream: its URL, without a password."""
    return shown(url or "")


def unless_paused(blocks: Iterator[np.ndarray], paused: Callable[[], bool]) -> Iterator[np.ndarray]:
    """A live source read on while the room is paused, its sound dropped (a stream must be
    read, or its server drops this client)."""
    for block in blocks:
        if not paused():
            yield block
