"""Speech as a listener hears it (`interpretation.py`): the voice's words brought to the
streams' rate, trimmed of their silence, sped up, and encoded as MP3."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from ..tts.audio_out import to_int16

RATE = 22_050  # the stream's sample rate: every voice is brought to it
BITRATE = 48_000  # mono speech: small enough for a phone on a hall's Wi-Fi
PACE = 1.1  # the voice's own pace, brisk as an interpreter's: a translation runs longer
FASTER = 1.2  # how much faster again it speaks to catch up (1.32× in all)
EDGE_S = (0.03, 0.12)  # silence kept before and after a piece's speech


@dataclass(frozen=True)
class Spoken:
    """A caption's words as the listener hears them."""

    text: str
    lang: str
    mp3: bytes
    samples: np.ndarray  # float32 mono at RATE (for the stream)

    @property
    def duration(self) -> float:
        return self.samples.size / RATE


def resampled(audio: np.ndarray, rate: int, target: int = RATE) -> np.ndarray:
    if rate == target:
        return audio.astype(np.float32)
    from ..tts.audio_out import resample

    return resample(audio, rate, target).astype(np.float32)


def trimmed(samples: np.ndarray, level: float = 0.02) -> np.ndarray:
    """Without the voice's silence before and after the words (pieces follow each other)."""
    loud = np.flatnonzero(np.abs(samples) > level)
    if loud.size == 0:
        return samples
    start = max(0, loud[0] - int(EDGE_S[0] * RATE))
    return samples[start : loud[-1] + int(EDGE_S[1] * RATE)]


def faster(samples: np.ndarray, factor: float = FASTER) -> np.ndarray:
    """The same speech, `factor` times faster at the same pitch (ffmpeg's atempo)."""
    graph = av.filter.Graph()
    src = graph.add_abuffer(sample_rate=RATE, format="s16", layout="mono", time_base=f"1/{RATE}")
    tempo = graph.add("atempo", f"{factor}")
    sink = graph.add("abuffersink")
    src.link_to(tempo)
    tempo.link_to(sink)
    graph.configure()
    frame = av.AudioFrame.from_ndarray(to_int16(samples)[None, :], format="s16", layout="mono")
    frame.sample_rate = RATE
    frame.pts = 0
    frame.time_base = Fraction(1, RATE)
    graph.push(frame)
    graph.push(None)
    out = []
    while True:
        try:
            got = graph.pull()
        except (av.error.EOFError, av.error.BlockingIOError):
            break
        out.append(got.to_ndarray().reshape(-1))
    if not out:
        return samples
    return (np.concatenate(out).astype(np.float32) / 32768).astype(np.float32)


class Mp3Encoder:
    """PCM (float32 mono at `rate`) in, MP3 bytes out, frame by frame."""

    def __init__(self, rate: int = RATE) -> None:
        self.rate = rate
        self.codec = av.CodecContext.create("libmp3lame", "w")
        self.codec.sample_rate = rate
        self.codec.layout = "mono"
        self.codec.format = "s16p"
        self.codec.bit_rate = BITRATE
        self.codec.open()
        self.pts = 0

    def encode(self, samples: np.ndarray | None) -> bytes:
        if samples is None:
            return b"".join(bytes(p) for p in self.codec.encode(None))
        frame = av.AudioFrame.from_ndarray(to_int16(samples)[None, :], format="s16p", layout="mono")
        frame.sample_rate = self.rate
        frame.pts = self.pts
        self.pts += samples.size
        return b"".join(bytes(p) for p in self.codec.encode(frame))


def mp3(samples: np.ndarray) -> bytes:
    encoder = Mp3Encoder()
    return encoder.encode(samples) + encoder.encode(None)
