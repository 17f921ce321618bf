"""Writing and resampling synthesized audio (WAV by the standard library, resampling by PyAV)."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np

from ..errors import TingshuoError


def to_int16(audio: np.ndarray) -> np.ndarray:
    return (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")


def wav_bytes(audio: np.ndarray, sample_rate: int) -> bytes:
    """A 16-bit mono WAV file in memory, for an HTTP answer."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(to_int16(audio).tobytes())
    return buffer.getvalue()


def write_wav(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    if path.suffix.lower() != ".wav":
        raise TingshuoError(f"{path}: only .wav output is written; name the file *.wav")
    try:
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(sample_rate)
            out.writeframes(to_int16(audio).tobytes())
    except OSError as e:
        raise TingshuoError(f"cannot write {path}: {e.strerror}") from e


def resample(audio: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Mono float32 from `rate` to `target` Hz (e.g. 24 kHz speech → 16 kHz for the recognizer)."""
    if rate == target:
        return audio.astype(np.float32)
    import av

    resampler = av.AudioResampler(format="flt", layout="mono", rate=target)
    frame = av.AudioFrame.from_ndarray(
        audio.astype(np.float32)[None, :], format="flt", layout="mono"
    )
    frame.sample_rate = rate
    out = [f.to_ndarray()[0] for f in resampler.resample(frame)]
    out += [f.to_ndarray()[0] for f in resampler.resample(None)]
    return np.concatenate(out).astype(np.float32) if out else np.zeros(0, np.float32)
