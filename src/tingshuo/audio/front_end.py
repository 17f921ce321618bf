"""What the VAD and the recognizer hear: a stream's input as it came, or cleaned by
DeepFilterNet3 (audio/enhance.py), chosen by the `front_end` setting; and the meter that
tells the organizer how the input sounds (audio/room_sound.py)."""

from __future__ import annotations

import logging
import threading

import numpy as np

from ..errors import TingshuoError
from .decode import SAMPLE_RATE
from .enhance import RoomFilter
from .room_sound import SoundMeter, SoundReport

log = logging.getLogger(__name__)

MODES = ("off", "on", "auto")
# "auto" asks the meter this often whether the filter should run
_CHECK_S = 1.0
# a filter that starts mid-stream first hears this much of the input before it: its
# resamplers and recurrent state settle on audio whose output is thrown away
_PRIME_S = 0.5


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise TingshuoError(f"unknown front end {mode!r}: use on, off or auto")
    return mode


def choose(mode: str, audio: np.ndarray) -> str:
    """A whole recording's front end: "auto" becomes "on" where the meter hears echo or noise
    in a quarter or more of it (read in its 15 s windows), else "off". A file is cleaned all
    through or not at all: from its first second, and the same every time it is read."""
    if check_mode(mode) != "auto":
        return mode
    meter = SoundMeter()
    verdicts = []
    window = int(15 * SAMPLE_RATE)
    for i in range(0, max(audio.size, 1), SAMPLE_RATE):
        meter.feed(audio[i : i + SAMPLE_RATE])
        end = min(i + SAMPLE_RATE, audio.size)
        if end % window < SAMPLE_RATE or end == audio.size:
            verdicts.append(meter.report().wants_filter)
    return "on" if sum(verdicts) >= 0.25 * len(verdicts) and any(verdicts) else "off"


class FrontEnd:
    """One stream's front end: `__call__` gives what the VAD and the recognizer hear (same
    timing as the input: sample i of it is sample i of the input), `heard` feeds the meter
    with the VAD's verdicts, `flush` ends the stream.

    "on": always cleaned. "off": never. "auto": cleaned while the meter hears echo or
    noise (`SoundReport.wants_filter`); the filter loads aside at the start (0.5 s, 6 MB)
    but runs, and costs CPU (0.155 of a core), only then. A switch keeps the timing: a
    filter that starts hears the last `_PRIME_S` of input first, one that stops gives back
    what it held.
    """

    def __init__(self, mode: str, load_aside: bool = False) -> None:
        self.mode = check_mode(mode)
        self.meter = SoundMeter()
        self._filter: RoomFilter | None = None
        if mode == "on" or mode == "auto" and not load_aside:
            self._filter = RoomFilter()
        elif mode == "auto":
            # loaded aside (0.5 s), so that a live room starts at once; used once it is
            # there (a file waits for it: the same file must read the same every time)
            threading.Thread(target=self._load, name="front-end-load", daemon=True).start()
        self.filtering = mode == "on"
        self._skip = 0  # filter output still to throw away: what it was primed with
        self._tail = np.zeros(0, dtype=np.float32)  # the input's latest _PRIME_S
        self._unchecked = 0  # samples heard since "auto" last asked the meter
        self._stop = False  # "auto" decided to stop: the next call gives back the rest
        self.filtered_s = 0.0  # seconds of input the filter cleaned
        self.last_report: SoundReport | None = None  # the meter's, once a second

    def _load(self) -> None:
        try:
            self._filter = RoomFilter()
        except Exception:  # noqa: BLE001 - without it the input is heard as it came
            log.exception("the front end could not load: the input is not cleaned")

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        audio = audio.astype(np.float32, copy=False)
        out = self._filtered(audio) if self.filtering else audio
        if self._stop:
            out = np.concatenate([self._held(), audio])
        keep = int(_PRIME_S * SAMPLE_RATE)
        self._tail = np.concatenate([self._tail, audio])[-keep:]
        return out

    def _filtered(self, audio: np.ndarray) -> np.ndarray:
        assert self._filter is not None
        self.filtered_s += audio.size / SAMPLE_RATE
        return self._skipped(self._filter(audio))

    def _skipped(self, out: np.ndarray) -> np.ndarray:
        if self._skip:
            dropped = min(self._skip, out.size)
            self._skip -= dropped
            out = out[dropped:]
        return out

    def _held(self) -> np.ndarray:
        """The filter stops: what it still holds, up to the end of the input it heard."""
        assert self._filter is not None
        self._stop = False
        return self._skipped(self._filter.flush())

    def heard(self, audio: np.ndarray, speech: np.ndarray) -> None:
        """The input `audio` (as it came) and the VAD's speech probabilities for the frames
        completed since the last call: the meter's; "auto" may switch the filter for what
        comes next."""
        self.meter.feed(audio, speech)
        self._unchecked += audio.size
        if self._unchecked < _CHECK_S * SAMPLE_RATE:
            return
        self._unchecked = 0
        # read here, in the stream's thread: others read `last_report`, never the meter
        self.last_report = self.meter.report()
        if self.mode != "auto":
            return
        wanted = self.last_report.wants_filter
        if wanted and not self.filtering and self._filter is not None:
            # primed on the input just before, its output for that thrown away
            self._skip = self._tail.size
            self.filtering = True
            self._skipped(self._filter(self._tail))
            log.info("the input sounds echoing or noisy: the front end cleans it")
        elif not wanted and self.filtering:
            self.filtering = False
            self._stop = True
            log.info("the input sounds clean: the front end lets it through")

    def flush(self) -> np.ndarray:
        """The end of the stream: what the filter still holds."""
        if self.filtering or self._stop:
            self._stop = False
            return self._skipped(self._filter.flush()) if self._filter is not None else np.zeros(0)
        return np.zeros(0, dtype=np.float32)

    def close(self) -> None:
        if self._filter is not None:
            self._filter.close()
