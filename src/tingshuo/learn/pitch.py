"""Pitch of a reading, normalised to the speaker: semitones around their own median.

Praat's autocorrelation pitch tracker (through parselmouth) takes ~10 ms for a sentence.
It is run twice: once over a wide range to find the speaker's register, then over a range
fitted to it (quartiles x 0.75 .. x 1.5, as De Looze & Hirst suggest), which removes most
octave jumps. Semitones around the median make a man, a woman and a child comparable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16_000
STEP_S = 0.01
# fewer voiced frames than this in a reading: listen again below 75 Hz (a tone needs 4,
# `tones.MIN_VOICED_FRAMES`)
HEARD_NOTHING = 4


@dataclass(frozen=True)
class PitchTrack:
    times: np.ndarray  # frame centres, seconds
    semitones: np.ndarray  # relative to the speaker's median; NaN where unvoiced
    median_hz: float
    intensity: np.ndarray  # dB, same frames

    def segment(self, start: float, end: float) -> np.ndarray:
        """The semitone values of the frames between start and end (NaN = unvoiced)."""
        lo, hi = np.searchsorted(self.times, [start, end])
        return self.semitones[lo:hi]

    @property
    def voiced_fraction(self) -> float:
        return float(np.mean(~np.isnan(self.semitones))) if self.semitones.size else 0.0


def track_pitch(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> PitchTrack:
    import parselmouth

    sound = parselmouth.Sound(audio.astype(np.float64), sampling_frequency=sample_rate)
    # a first floor of 75 Hz (Praat's default), not lower: below it Praat often takes half
    # the pitch of a short syllable (a 140 Hz voice read as 70 Hz); the second pass then
    # reaches down to 0.75 x the first quartile for low voices
    f0 = _f0(sound, 75.0, 600.0)
    voiced = f0[f0 > 0]
    if voiced.size < HEARD_NOTHING:
        # nothing to judge at 75 Hz: a deep voice's low, creaky syllable (gcin's voice made
        # deeper lost 3 % of its syllables so); below 75 Hz Praat may halve the pitch, but
        # a halved pitch still shows the tone's shape, and nothing shows none
        low = _f0(sound, 50.0, 600.0)
        if np.count_nonzero(low) > voiced.size:
            f0, voiced = low, low[low > 0]
    if (narrow := narrowed_range(voiced)) is not None:
        f0 = _f0(sound, *narrow)
        voiced = f0[f0 > 0]
    times = STEP_S * np.arange(f0.size) + STEP_S / 2
    intensity = _intensity(sound, times)
    if voiced.size == 0:
        return PitchTrack(times, np.full(f0.size, np.nan), 0.0, intensity)
    median = float(np.median(voiced))
    with np.errstate(divide="ignore"):
        st = np.where(f0 > 0, 12.0 * np.log2(np.maximum(f0, 1e-6) / median), np.nan)
    return PitchTrack(times, _octave_fixed(st), median, intensity)


def narrowed_range(voiced_hz: np.ndarray) -> tuple[float, float] | None:
    """The pitch range (floor, ceiling Hz) of `track_pitch`'s second pass, from the voiced
    frames of a first pass at 75-600 Hz; None when there are too few of them to tell."""
    if voiced_hz.size < 10:
        return None
    q1, q3 = np.percentile(voiced_hz, [25, 75])
    return max(50.0, 0.75 * float(q1)), min(800.0, 1.5 * float(q3))


def _octave_fixed(st: np.ndarray, jump: float = 8.0) -> np.ndarray:
    """Frames an octave off their neighbours (Praat halving or doubling) moved back.

    Within each voiced run, a frame more than `jump` semitones from the run's median is
    moved by whole octaves towards it; a run's median more than `jump` semitones from the
    whole reading's is moved the same way.
    """
    out = st.copy()
    voiced = ~np.isnan(out)
    if not voiced.any():
        return out
    edges = np.flatnonzero(np.diff(np.concatenate([[0], voiced.astype(int), [0]])))
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        run = out[a:b]
        med = float(np.median(run))
        shift = np.round((run - med) / 12.0) * 12.0
        run -= np.where(np.abs(run - med) > jump, shift, 0.0)
        med = float(np.median(run))
        if abs(med) > jump:
            run -= np.round(med / 12.0) * 12.0
    return out


def _f0(sound, floor: float, ceiling: float) -> np.ndarray:
    pitch = sound.to_pitch_ac(
        time_step=STEP_S, pitch_floor=floor, pitch_ceiling=ceiling, very_accurate=False
    )
    f0 = pitch.selected_array["frequency"]
    # Praat's first frame sits at half a window: pad so frame i is at i*STEP_S + STEP_S/2
    offset = int(round((pitch.xs()[0] - STEP_S / 2) / STEP_S)) if pitch.n_frames else 0
    n = int(sound.duration / STEP_S)
    out = np.zeros(n)
    out[offset : offset + f0.size] = f0[: max(0, n - offset)]
    return out


def _intensity(sound, times: np.ndarray) -> np.ndarray:
    x = sound.values[0]
    hop = int(STEP_S * sound.sampling_frequency)
    frames = x[: (x.size // hop) * hop].reshape(-1, hop)
    db = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-10)
    out = np.full(times.size, db.min() if db.size else -100.0)
    out[: min(db.size, times.size)] = db[: times.size]
    return out
