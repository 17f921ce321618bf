"""Live audio sources: a file played as if live, or a sound device."""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import TingshuoError
from .decode import SAMPLE_RATE, iter_audio

log = logging.getLogger(__name__)

BLOCK_S = 0.1  # a live source delivers audio in blocks of this length


def file_blocks(path: str | Path, realtime: bool, block_s: float = BLOCK_S) -> Iterator[np.ndarray]:
    """The file in `block_s` blocks; with `realtime`, paced at 1× like a live feed."""
    size = int(block_s * SAMPLE_RATE)
    started = time.monotonic()
    sent = 0
    rest = np.zeros(0, dtype=np.float32)
    for chunk in iter_audio(path):
        rest = np.concatenate([rest, chunk])
        while rest.size >= size:
            block, rest = rest[:size], rest[size:]
            yield _paced(block, started, sent, realtime)
            sent += size
    if rest.size:
        yield _paced(rest, started, sent, realtime)


def _paced(block: np.ndarray, started: float, sent: int, realtime: bool) -> np.ndarray:
    if realtime:
        # a block becomes available only once it has been "spoken"
        delay = started + (sent + block.size) / SAMPLE_RATE - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    return block


def mic_blocks(device: str | int | None = None, block_s: float = BLOCK_S) -> Iterator[np.ndarray]:
    """Blocks from a sound input device until the caller stops iterating.

    The device is checked now, so a missing one is reported before anything starts.
    """
    try:
        import sounddevice as sd
    except (ImportError, OSError) as e:
        raise TingshuoError(
            "no sound device support: pip install 'tingshuo[mic]' (sounddevice) and PortAudio"
        ) from e
    try:
        sd.check_input_settings(device=device, channels=1, samplerate=SAMPLE_RATE, dtype="float32")
    except Exception as e:  # PortAudio raises several kinds for "no such device"
        raise TingshuoError(f"no usable microphone ({e}): check `python -m sounddevice`") from e
    return _record(sd, device, block_s)


def _record(sd, device: str | int | None, block_s: float) -> Iterator[np.ndarray]:
    blocks: queue.Queue[np.ndarray] = queue.Queue()

    def callback(indata, frames, time_info, status) -> None:  # noqa: ARG001
        if status:
            log.warning("microphone: %s", status)
        blocks.put(indata[:, 0].copy())

    with sd.InputStream(
        device=device,
        channels=1,
        samplerate=SAMPLE_RATE,
        dtype="float32",
        blocksize=int(block_s * SAMPLE_RATE),
        callback=callback,
    ):
        while True:
            yield blocks.get()
