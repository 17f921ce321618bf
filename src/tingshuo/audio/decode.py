"""Any file PyAV can read (wav, flac, mp3, m4a, ogg, mp4 video…) → 16 kHz mono float32."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from ..errors import AudioError

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000


def iter_audio(path: str | Path, block_s: float = 0.5) -> Iterator[np.ndarray]:
    """Yield the file's audio as 16 kHz mono float32 blocks of about `block_s` seconds.

    A file that breaks part-way (truncated, corrupt tail) yields what decoded before the
    break and logs a warning; a file with no decodable audio raises `AudioError`.
    """
    path = Path(path)
    with _open(path) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        block = int(block_s * SAMPLE_RATE)
        pending: list[np.ndarray] = []
        pending_len = 0
        produced = 0
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    samples = out.to_ndarray().reshape(-1)
                    pending.append(samples)
                    pending_len += samples.size
                if pending_len >= block:
                    data = np.concatenate(pending)
                    pending, pending_len = [], 0
                    produced += data.size
                    yield data
            for out in resampler.resample(None):
                pending.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError as e:
            if produced == 0 and not pending:
                raise AudioError(f"{path}: not a supported audio file (PyAV: {e})") from e
            log.warning("%s: decoding stopped early (%s); keeping the audio before it", path, e)
        if pending:
            data = np.concatenate(pending)
            produced += data.size
            if data.size:
                yield data
        if produced == 0:
            raise AudioError(f"{path}: no audio could be decoded (empty or truncated file)")


def load_audio(path: str | Path) -> np.ndarray:
    """The whole file as one 16 kHz mono float32 array."""
    return np.concatenate(list(iter_audio(path, block_s=30.0))).astype(np.float32, copy=False)


def probe(path: str | Path) -> float | None:
    """Raise `AudioError` unless `path` holds an audio stream; return its duration if known."""
    with _open(Path(path)) as container:
        return container.duration / av.time_base if container.duration else None


def _open(path: Path) -> av.container.InputContainer:
    """The file opened for reading, or one line that says why it cannot be."""
    if not path.is_file():
        raise AudioError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: the file is empty")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError) as e:
        raise AudioError(f"{path}: not a supported audio file (PyAV: {e})") from e
    if not container.streams.audio:
        container.close()
        raise AudioError(f"{path}: the file has no audio stream")
    return container
