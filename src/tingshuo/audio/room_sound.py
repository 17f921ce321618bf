"""What the input sounds like: a running sound meter for the organizer's console.

Fed the same 16 kHz blocks as the recognizer (and, where the caller has them, Silero's speech
probabilities), it keeps the last 15 s as 10 ms frame statistics and tells, in numbers and in
one plain sentence, whether the microphone is good, too quiet, clipping, noisy or hearing the
room, and whether the DeepFilterNet3 front end (audio/enhance.py) should be on ("auto").

Echo is measured blind, from how speech dies away where the talker stops (an offset followed
by a pause): in a dry feed a syllable falls 5 → 20 dB below its peak within a few tens of ms;
a room microphone hears the reverberation go on, at 60 dB per RT60. The median time of that
15 dB fall, scaled to 60 dB, is `echo`: an apparent decay time in seconds (like an early decay
time: it counts the direct-to-reverberant ratio too, which is what hurts recognition: a desk
mic in a live hall reads lower than a room mic in the same hall). It is measured in two bands
(1–3 kHz, 3–7 kHz), where speech offsets are sharp and room modes do not linger, on energy
with the noise floor taken off. Noise (a stationary floor) is read in the pauses; a decay
needs 25 dB above that floor to be measured, so in heavy noise `echo` stays unknown (None) and
the verdict is "noisy".

Cost: one 320-point FFT per 10 ms in `feed`, a few vectorised passes over 1,500 frames in
`report`: well under 1 % of a core.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel

from .decode import SAMPLE_RATE

HOP = 160  # 10 ms frames
WIN = 320  # 20 ms Hann window for the band energies
WINDOW_S = 15.0  # what the meter remembers
VAD_FRAME = 512  # Silero's frame (32 ms), as audio/vad.py feeds it
BANDS = ((1000.0, 3000.0), (3000.0, 7000.0))  # where decays are measured
# level and noise are read in the speech band: mains hum and building rumble below it (the
# floor of many a quiet recording) neither hurt the recognizer nor mean a noisy room
SPEECH_BAND = (150.0, 7000.0)
FULL_SCALE = 0.99  # |sample| at or above this counts as clipped
FLOOR_DB = -100.0  # digital silence reads as this, not -inf

# the verdict's thresholds, chosen on AISHELL speech in simulated rooms (six sets of three
# sentences): echo ≥ 0.5 s. A dry feed reads 0.16–0.2 s; in a hall with RT60 0.9 s a desk
# mic at 0.36 m (DRR +12 dB) 0.31–0.36 s, a mic at 0.6 m (DRR +8 dB) 0.5–0.56 s, a room mic
# at DRR 0 dB 0.6–0.7 s; in a room with RT60 0.45 s every mic up to 2 m stays under 0.36 s.
# SNR (speech band, speech against the quietest tenth of the frames) below 20 dB: pink
# noise at 10 dB reads 17 dB here, and there the front end took CER 15.9 → 13.8 %
CLIPPING_SHARE = 1e-4
QUIET_DB = -45.0
ECHO_S = 0.5
ECHO_OFF_S = 0.4  # hysteresis for `wants_filter`: on at ECHO_S, off below this
NOISY_DB = 20.0
NOISY_OFF_DB = 24.0
MIN_SPEECH_S = 1.0  # speech needed before the SNR is judged
MIN_DECAYS = 3  # offsets needed before echo is judged

# a measured decay: from TOP to BOTTOM dB under the offset's peak, a free fall (no new sound
# rising RISE dB above its lowest point) within MAX_DECAY frames
TOP_DB, BOTTOM_DB, RISE_DB, MAX_DECAY = 5.0, 20.0, 3.0, 80
HEADROOM_DB = BOTTOM_DB + 5.0  # the peak's height above the band's noise floor

Verdict = Literal["good", "quiet", "noisy", "echo", "clipping"]

ADVICE: dict[str, str] = {
    "good": "the input sounds good",
    "quiet": "the input is very quiet: raise the gain",
    "noisy": "the microphone hears noise or other voices: use a closer mic",
    "echo": "the microphone hears the room: use the desk's feed or a closer mic",
    "clipping": "the input clips: lower the gain",
}


class SoundReport(BaseModel):
    """The meter's reading over the last ~15 s (dBFS: 0 dB is a full-scale square wave)."""

    level_db: float  # speech level, dBFS
    noise_db: float  # noise floor, dBFS
    snr_db: float
    echo: float | None  # apparent decay time, s (None: no clean offset heard yet)
    clipping: float  # share of samples at full scale (0–1)
    speech_s: float  # seconds of speech in the window
    verdict: Verdict
    advice: str
    wants_filter: bool  # "auto": whether the DeepFilterNet3 front end should be on


def _crossing(ahead: np.ndarray, ref: np.ndarray, k: np.ndarray, drop: float) -> np.ndarray:
    """Fractional frame (1 = the first after the peak) where each row's decay crosses
    ref - drop, given k: the index of the first frame below it."""
    rows = np.arange(ahead.shape[0])
    after = ahead[rows, k]
    before = np.where(k > 0, ahead[rows, np.maximum(k - 1, 0)], ref)
    level = ref - drop
    return k + 1 - (level - after) / (before - after)


class SoundMeter:
    """Running sound statistics of one input stream (one per room, not thread-safe)."""

    def __init__(self, window_s: float = WINDOW_S) -> None:
        self._keep = int(window_s * SAMPLE_RATE / HOP)
        self._window = np.hanning(WIN).astype(np.float32)
        freqs = np.fft.rfftfreq(WIN, 1 / SAMPLE_RATE)
        self._bands = [(freqs >= lo) & (freqs < hi) for lo, hi in BANDS]
        self._speech_band = (freqs >= SPEECH_BAND[0]) & (freqs < SPEECH_BAND[1])
        # one-sided spectrum of a Hann-windowed frame → mean square of the signal
        self._to_power = 2.0 / (WIN * float(np.sum(self._window**2)))
        self._rest = np.zeros(0, dtype=np.float32)  # samples not yet framed
        self._frames = 0  # frames made since the start (frame j starts at sample j*HOP)
        self._power = np.zeros(0)  # mean square of each frame in the speech band
        self._band = np.zeros((len(BANDS), 0))  # band energies, 20 ms windows
        self._clipped = np.zeros(0, dtype=np.int32)
        self._vad = np.zeros(0, dtype=np.float32)  # Silero probabilities, from _vad_start
        self._vad_start = 0  # index (since the start) of self._vad[0]
        self._vad_seen = 0
        self._filter_on = False

    def feed(self, audio: np.ndarray, speech: np.ndarray | None = None) -> None:
        """The next 16 kHz block of the raw input and, optionally, the VAD probabilities for
        the 512-sample frames that completed with it (`StreamingVAD`'s output)."""
        x = np.asarray(audio, dtype=np.float32).reshape(-1)
        if speech is not None and len(speech):
            self._vad = np.concatenate([self._vad, np.asarray(speech, np.float32).ravel()])
            self._vad_seen += len(speech)
        buf = np.concatenate([self._rest, x]) if self._rest.size else x
        n = (buf.size - WIN) // HOP + 1 if buf.size >= WIN else 0
        if n > 0:
            starts = HOP * np.arange(n)
            hops = buf[starts[:, None] + np.arange(HOP)]
            clipped = np.count_nonzero(np.abs(hops) >= FULL_SCALE, axis=1).astype(np.int32)
            spec = np.fft.rfft(buf[starts[:, None] + np.arange(WIN)] * self._window, axis=1)
            mag = np.square(np.abs(spec))
            power = mag[:, self._speech_band].sum(axis=1) * self._to_power
            band = np.stack([mag[:, b].sum(axis=1) for b in self._bands])
            self._power = np.concatenate([self._power, power])[-self._keep :]
            self._clipped = np.concatenate([self._clipped, clipped])[-self._keep :]
            self._band = np.concatenate([self._band, band], axis=1)[:, -self._keep :]
            self._frames += n
            self._rest = buf[n * HOP :].copy()
        else:
            self._rest = buf.copy()
        # VAD frames older than the window are of no use
        first = (self._frames - self._power.size) * HOP // VAD_FRAME
        if first > self._vad_start:
            self._vad = self._vad[first - self._vad_start :]
            self._vad_start = first

    def _speech_frames(self, db: np.ndarray, noise_db: float) -> np.ndarray:
        """Which frames hold speech: Silero's say where given, else energy over the floor."""
        n = db.size
        if self._vad_seen:
            first = self._frames - n
            centre = (first + np.arange(n)) * HOP + WIN // 2
            idx = centre // VAD_FRAME - self._vad_start
            have = (idx >= 0) & (idx < self._vad.size)
            if have.mean() > 0.5:
                prob = np.where(have, self._vad[np.clip(idx, 0, max(self._vad.size - 1, 0))], 0)
                return prob >= 0.5
        top = np.percentile(db, 95)
        return (db > noise_db + 10.0) & (db > top - 25.0)

    def _echo(self) -> float | None:
        """Median 5 → 20 dB fall after speech offsets, scaled to 60 dB (s); None if too few."""
        taus: list[np.ndarray] = []
        for e in self._band:
            if e.size < 3:
                continue
            floor = np.percentile(e, 10)
            floor_db = 10 * np.log10(floor + 1e-20)
            db = 10 * np.log10(np.maximum(e - floor, floor * 1e-3) + 1e-20)
            inner = db[1:-1]
            peak = (inner >= db[:-2]) & (inner > db[2:]) & (inner > floor_db + HEADROOM_DB)
            peaks = np.flatnonzero(peak) + 1
            peaks = peaks[peaks + MAX_DECAY < db.size]  # whole look-ahead heard
            if peaks.size == 0:
                continue
            ahead = db[peaks[:, None] + np.arange(1, MAX_DECAY + 1)]
            ref = db[peaks][:, None]
            low = np.minimum.accumulate(ahead, axis=1)
            broken = (ahead > low + RISE_DB) | (ahead > ref)
            below_top = ahead < ref - TOP_DB
            below_bottom = ahead < ref - BOTTOM_DB
            end = np.where(below_bottom.any(axis=1), below_bottom.argmax(axis=1), MAX_DECAY)
            stop = np.where(broken.any(axis=1), broken.argmax(axis=1), MAX_DECAY)
            start = below_top.argmax(axis=1)
            ok = (end < MAX_DECAY) & (end < stop)
            # the crossings, between frames: a 10 ms step would be 40 ms of decay time
            with np.errstate(divide="ignore", invalid="ignore"):
                fall = _crossing(ahead, ref[:, 0], start, TOP_DB)
                fall = _crossing(ahead, ref[:, 0], np.minimum(end, MAX_DECAY - 1), BOTTOM_DB) - fall
            # one decay per offset: peaks inside an earlier decay are that decay again
            chosen, last_end = [], -1
            for p, t, good, tau in zip(peaks, end, ok, fall, strict=True):
                if good and p > last_end and np.isfinite(tau):
                    chosen.append(tau)
                    last_end = p + t
            if chosen:
                taus.append(np.asarray(chosen, dtype=float))
        if not taus:
            return None
        all_taus = np.concatenate(taus)
        if all_taus.size < MIN_DECAYS:
            return None
        return float(np.median(all_taus)) * HOP / SAMPLE_RATE * 60.0 / (BOTTOM_DB - TOP_DB)

    def report(self) -> SoundReport:
        """The reading now (cheap enough to ask once a second). `wants_filter` has memory:
        it turns on at the first sign of echo or noise and off only when speech is heard
        clear of both, so each call moves it."""
        if self._power.size == 0:
            return SoundReport(
                level_db=FLOOR_DB,
                noise_db=FLOOR_DB,
                snr_db=0.0,
                echo=None,
                clipping=0.0,
                speech_s=0.0,
                verdict="quiet",
                advice=ADVICE["quiet"],
                wants_filter=self._filter_on,
            )
        db = np.maximum(10 * np.log10(self._power + 1e-20), FLOOR_DB)
        noise_db = float(np.percentile(db, 10))
        speech = self._speech_frames(db, noise_db)
        speech_s = float(speech.sum()) * HOP / SAMPLE_RATE
        if speech.any():
            level_db = float(10 * np.log10(np.mean(self._power[speech]) + 1e-20))
        else:
            level_db = float(np.percentile(db, 95))
        level_db = max(level_db, FLOOR_DB)
        snr_db = level_db - noise_db
        echo = self._echo()
        clipping = float(self._clipped.sum()) / (self._power.size * HOP)

        heard = speech_s >= MIN_SPEECH_S
        echoing = echo is not None and echo >= ECHO_S
        noisy = heard and snr_db < NOISY_DB
        verdict: Verdict
        if clipping >= CLIPPING_SHARE:
            verdict = "clipping"
        elif (level_db if heard else float(np.percentile(db, 95))) < QUIET_DB:
            verdict = "quiet"
        elif echoing:
            verdict = "echo"
        elif noisy:
            verdict = "noisy"
        else:
            verdict = "good"

        # "auto": on at the first sign of echo or noise, off again only once speech is heard
        # well clear of both, so that the front end does not flap on a borderline input (nor
        # in a pause, which proves nothing)
        if echoing or noisy:
            self._filter_on = True
        elif heard and snr_db > NOISY_OFF_DB and echo is not None and echo < ECHO_OFF_S:
            self._filter_on = False

        return SoundReport(
            level_db=round(level_db, 1),
            noise_db=round(noise_db, 1),
            snr_db=round(snr_db, 1),
            echo=None if echo is None else round(echo, 2),
            clipping=round(clipping, 4),
            speech_s=round(speech_s, 1),
            verdict=verdict,
            advice=ADVICE[verdict],
            wants_filter=self._filter_on,
        )
