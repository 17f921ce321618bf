"""Where the speech is in a learner's recording: Silero VAD, shared by every assessment."""

from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np

from ..errors import TingshuoError
from ..settings import Settings

SAMPLE_RATE = 16_000
VAD_FRAME_S = 512 / SAMPLE_RATE


def check_duration(audio: np.ndarray, settings: Settings) -> float:
    """The recording's length in seconds; too long a recording is refused before any work."""
    duration = audio.size / SAMPLE_RATE
    if duration > settings.assess_max_audio_s:
        raise TingshuoError(
            f"the recording is {duration:.0f} s long; assess at most "
            f"{settings.assess_max_audio_s:.0f} s at a time (one or two sentences)"
        )
    return duration


_VAD_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _vad():
    """One Silero session for all assessments: opening one takes ~0.5 s on a busy machine."""
    from ..audio.vad import StreamingVAD

    return StreamingVAD()


def voice_activity(
    audio: np.ndarray,
) -> tuple[tuple[float, float], list[tuple[float, float]], float]:
    """(first..last speech, silences between, seconds of speech) by Silero VAD."""
    with _VAD_LOCK:
        vad = _vad()
        vad.reset()
        probs = vad(audio)
    speech = probs >= 0.5
    idx = np.flatnonzero(speech)
    if idx.size == 0:
        return (0.0, 0.0), [], 0.0
    first = max(0.0, idx[0] * VAD_FRAME_S - 0.1)
    last = min(audio.size / SAMPLE_RATE, (idx[-1] + 1) * VAD_FRAME_S + 0.1)
    silences = []
    run_start = None
    for k in range(idx[0], idx[-1] + 1):
        if not speech[k] and run_start is None:
            run_start = k
        elif speech[k] and run_start is not None:
            silences.append((run_start * VAD_FRAME_S, k * VAD_FRAME_S))
            run_start = None
    return (first, last), silences, float(speech.sum() * VAD_FRAME_S)
