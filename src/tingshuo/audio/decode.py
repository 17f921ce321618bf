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

# what a real recording can declare; beyond it a header is a decode bomb (a 16 KB WAV that
# declares 1 Hz is hours of audio once resampled to 16 kHz) or garbage
MIN_RATE, MAX_RATE = 1_000, 768_000
MAX_CHANNELS = 64

# what people read (an upload's answer, the CLI's line): no errno, no library; the log says more
NOT_AUDIO = (
    "这个文件不是可识别的音频或视频 · This file is not audio or video that tingshuo can read "
    "(try WAV, MP3, M4A, FLAC, OGG or MP4)"
)
NO_SOUND = "这个视频没有声音 · This video has no sound track"
EMPTY = "这个文件是空的 · This file is empty"


def iter_audio(
    path: str | Path,
    block_s: float = 0.5,
    max_seconds: float | None = None,
    name: str | None = None,
) -> Iterator[np.ndarray]:
    """Yield the file's audio as 16 kHz mono float32 blocks of about `block_s` seconds.

    A file that breaks part-way (truncated, corrupt tail) yields what decoded before the
    break and logs a warning; a file with no decodable audio raises `AudioError`.
    With `max_seconds`, decoding stops (`AudioError`) as soon as the file proves longer:
    a small file of compressed silence cannot make the server decode hours. Messages name
    the file `name` (an upload's own name) instead of `path` when it is given.
    """
    path = Path(path)
    shown = name or str(path)
    with _open(path, shown) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        block = int(block_s * SAMPLE_RATE)
        pending: list[np.ndarray] = []
        pending_len = 0
        produced = 0
        heard = 0.0  # seconds decoded, counted before resampling (which multiplies them)
        try:
            for frame in container.decode(stream):
                _check_frame(frame, shown)
                heard += frame.samples / frame.sample_rate
                if max_seconds is not None and heard > max_seconds:
                    raise AudioError(
                        f"{shown}: longer than {max_seconds:g} s, the most accepted here"
                    )
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
            reason = _reason(e, path, shown)
            if produced == 0 and not pending:
                raise _not_audio(shown, reason) from e
            log.warning(
                "%s: decoding stopped early (%s); keeping the audio before it", shown, reason
            )
        if pending:
            data = np.concatenate(pending)
            produced += data.size
            if data.size:
                yield data
        if produced == 0:
            raise _not_audio(shown, "no audio frame decoded")


def load_audio(
    path: str | Path, max_seconds: float | None = None, name: str | None = None
) -> np.ndarray:
    """The whole file as one 16 kHz mono float32 array (see `iter_audio` for the limits)."""
    blocks = list(iter_audio(path, block_s=30.0, max_seconds=max_seconds, name=name))
    return np.concatenate(blocks).astype(np.float32, copy=False)


def probe(path: str | Path, name: str | None = None) -> float | None:
    """Raise `AudioError` unless `path` holds a plausible audio stream whose first frame
    decodes; return its duration if known."""
    path = Path(path)
    shown = name or str(path)
    with _open(path, shown) as container:
        try:
            # a header can pass and its codec still refuse (65,535 channels): find out now
            for frame in container.decode(container.streams.audio[0]):
                _check_frame(frame, shown)
                break
        except av.error.FFmpegError as e:
            raise _not_audio(shown, _reason(e, path, shown)) from e
        return container.duration / av.time_base if container.duration else None


def _open(path: Path, shown: str) -> av.container.InputContainer:
    """The file opened for reading, or one line that says why it cannot be."""
    if not path.is_file():
        raise AudioError(f"{shown}: no such file")
    if path.stat().st_size == 0:
        raise AudioError(f"{shown}: {EMPTY}")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError) as e:
        raise _not_audio(shown, _reason(e, path, shown)) from e
    if not container.streams.audio:
        # text reads as a "tty" video and a picture as an image stream: neither is a video
        fmt = container.format.name
        video = container.streams.video and not (fmt in ("tty", "image2") or "_pipe" in fmt)
        container.close()
        if video:
            raise AudioError(f"{shown}: {NO_SOUND}")
        raise _not_audio(shown, f"no audio stream ({fmt})")
    try:
        _check_header(container.streams.audio[0], shown)
    except AudioError:
        container.close()
        raise
    return container


def _check_header(stream, shown: str) -> None:
    """Refuse what no recording declares, before decoding anything (0 means not known yet)."""
    rate = stream.codec_context.sample_rate or 0
    channels = stream.codec_context.channels or 0
    if rate and not MIN_RATE <= rate <= MAX_RATE:
        raise AudioError(f"{shown}: a sample rate of {rate} Hz is not audio this server accepts")
    if channels > MAX_CHANNELS:
        raise AudioError(f"{shown}: {channels} channels is more than the {MAX_CHANNELS} accepted")


def _check_frame(frame: av.AudioFrame, shown: str) -> None:
    # a header can say one thing and the frames another
    if not MIN_RATE <= frame.sample_rate <= MAX_RATE:
        raise AudioError(
            f"{shown}: a sample rate of {frame.sample_rate} Hz is not audio this server accepts"
        )
    if len(frame.layout.channels) > MAX_CHANNELS:
        raise AudioError(
            f"{shown}: {len(frame.layout.channels)} channels is more than the "
            f"{MAX_CHANNELS} accepted"
        )


def _not_audio(shown: str, reason: str) -> AudioError:
    log.info("%s: not decodable as audio: %s", shown, reason)
    return AudioError(f"{shown}: {NOT_AUDIO}")


def _reason(error: Exception, path: Path, shown: str) -> str:
    """PyAV's message on one line for the log, with the file named as the caller knows it
    (an upload's temporary path is the server's business)."""
    text = str(error).replace(str(path), shown).replace(path.name, Path(shown).name)
    return " ".join(text.split())
