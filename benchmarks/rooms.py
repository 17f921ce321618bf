"""A lecture hall built with pyroomacoustics (image-source method) for the hall-sound benchmark.

One shoebox hall, 16 × 11 × 5 m, its walls' absorption tuned until the room microphone's
impulse response measures RT60 0.9 s (pyroomacoustics' `measure_rt60`, T30 extrapolated to
60 dB). The speaker stands at a lectern; two microphones hear them:

- `desk`: a close microphone, placed at the distance where the direct-to-reverberant ratio
  is about +10 dB;
- `room`: a room or laptop microphone, at the distance where it is about 0 dB.

DRR is targeted by the source–microphone distance alone (bisection), never by scaling the
direct path: DRR = energy within ±2.5 ms of the direct path's peak / the energy of the rest.

Conditions (each seeded: the same audio every run):

- `clean`: the recording as is;
- `desk`, `room`: the recording through that microphone's response;
- `talker`: desk, plus a competing talker in the audience (another position in the same
  hall, through its own response) at 10 dB SNR: reversed speech of other voices (English
  read by Mandarin speakers, speechocean762), as the issue's first test did;
- `talker_fwd`: the same with that speech played forwards;
- `noise`: desk, plus the hall's murmur at 10 dB SNR: eight other voices from eight audience
  seats (babble, each through its own response) and pink ventilation noise, half the noise
  power each.

SNR is relative to the main speech's active level at the microphone (the mean power of the
frames where the dry speech is active, P.56-like: within 30 dB of its loud frames); a
talker's level likewise; the murmur's by its mean power. Every mix is scaled so that the
main speech has the clean recording's active level.
"""

from __future__ import annotations

import hashlib
import json
import logging
import zlib
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
from scipy.signal import fftconvolve

from tingshuo.audio.decode import SAMPLE_RATE, load_audio

from .common import DATA, read_tsv

log = logging.getLogger(__name__)

CONDITIONS = ("clean", "desk", "room", "talker", "talker_fwd", "noise")
# bump when the building changes, so that cached audio is built again
BUILD_VERSION = 1
_DIRECT_S = 0.0025  # ±2.5 ms around the direct path's peak counts as direct
_FRAME = 320  # 20 ms frames for active levels


@dataclass(frozen=True)
class HallSpec:
    dim: tuple[float, float, float] = (16.0, 11.0, 5.0)
    rt60: float = 0.9
    speaker: tuple[float, float, float] = (3.0, 5.5, 1.6)  # mouth at the lectern
    mic_height: float = 1.3
    desk_drr_db: float = 10.0
    room_drr_db: float = 0.0
    talker: tuple[float, float, float] = (10.5, 3.0, 1.5)  # someone talking in the audience
    babble_seats: tuple[tuple[float, float, float], ...] = (
        (8.0, 2.5, 1.2),
        (8.0, 5.0, 1.2),
        (8.5, 8.0, 1.2),
        (10.5, 6.5, 1.2),
        (12.0, 2.0, 1.2),
        (12.5, 9.0, 1.2),
        (14.0, 4.0, 1.2),
        (14.5, 7.0, 1.2),
    )
    snr_db: float = 10.0
    seed: int = 32
    version: int = BUILD_VERSION

    def key(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:12]


def drr_db(h: np.ndarray, fs: int = SAMPLE_RATE, direct_at: int | None = None) -> float:
    """Direct-to-reverberant ratio of an impulse response: the energy within ±2.5 ms of the
    direct path's peak (`direct_at`, else the largest sample) against all the rest."""
    peak = int(np.argmax(np.abs(h))) if direct_at is None else direct_at
    w = round(_DIRECT_S * fs)
    energy = h.astype(np.float64) ** 2
    direct = energy[max(peak - w, 0) : peak + w + 1].sum()
    return float(10 * np.log10(direct / max(energy.sum() - direct, 1e-20)))


def rt60_s(h: np.ndarray, fs: int = SAMPLE_RATE) -> float:
    """RT60 by the Schroeder decay from −5 to −35 dB, extrapolated to 60 dB (T30)."""
    from pyroomacoustics.experimental import measure_rt60

    return float(measure_rt60(h, fs=fs, decay_db=30))


def _direct_index(src, mic, fs: int = SAMPLE_RATE) -> int:
    """Where the direct path peaks in a pyroomacoustics response (its delay filter is
    centred `frac_delay_length // 2` samples late)."""
    import pyroomacoustics as pra

    distance = float(np.linalg.norm(np.subtract(src, mic)))
    return (
        round(distance / pra.constants.get("c") * fs) + pra.constants.get("frac_delay_length") // 2
    )


def _rir(spec: HallSpec, absorption: float, max_order: int, src, mic) -> np.ndarray:
    import pyroomacoustics as pra

    room = pra.ShoeBox(
        list(spec.dim),
        fs=SAMPLE_RATE,
        materials=pra.Material(absorption),
        max_order=max_order,
    )
    room.add_source(list(src))
    room.add_microphone(list(mic))
    room.compute_rir()
    return np.asarray(room.rir[0][0], dtype=np.float64)


def _mic_at(spec: HallSpec, distance: float) -> tuple[float, float, float]:
    """A microphone `distance` metres from the mouth, in front of the speaker (towards the
    audience, a little aside) at the microphone's height."""
    dz = spec.mic_height - spec.speaker[2]
    flat = float(np.sqrt(max(distance**2 - dz**2, 0.0)))
    direction = np.array([1.0, 0.35]) / np.hypot(1.0, 0.35)
    x, y = np.array(spec.speaker[:2]) + flat * direction
    return (float(x), float(y), spec.mic_height)


@dataclass
class Responses:
    """The hall's impulse responses and what was measured of them."""

    desk: np.ndarray
    room: np.ndarray
    talker: np.ndarray  # the competing talker to the desk microphone
    babble: list[np.ndarray]  # each seat to the desk microphone
    measured: dict = field(default_factory=dict)


def _tune_absorption(spec: HallSpec, probe_mic) -> tuple[float, int, float]:
    """Energy absorption of the walls at which the response from the lectern to
    `probe_mic` measures the target RT60 (bisection; Sabine's value as the start)."""
    import pyroomacoustics as pra

    sabine, max_order = pra.inverse_sabine(spec.rt60, list(spec.dim))
    lo, hi = 0.02, 0.95  # RT60 falls as absorption rises
    a, got = sabine, float("nan")
    for _ in range(14):
        got = rt60_s(_rir(spec, a, max_order, spec.speaker, probe_mic))
        if abs(got - spec.rt60) < 0.01:
            break
        if got > spec.rt60:
            lo = a
        else:
            hi = a
        a = (lo + hi) / 2
    return a, max_order, got


def _distance_for(spec: HallSpec, absorption: float, max_order: int, target_db: float):
    """The source–microphone distance at which DRR is `target_db` (bisection, 0.1 dB)."""
    lo, hi = 0.15, 6.0  # DRR falls with distance
    best = None
    for _ in range(16):
        d = (lo + hi) / 2
        mic = _mic_at(spec, d)
        h = _rir(spec, absorption, max_order, spec.speaker, mic)
        got = drr_db(h, direct_at=_direct_index(spec.speaker, mic))
        best = (d, mic, h, got)
        if abs(got - target_db) < 0.1:
            break
        if got > target_db:
            lo = d
        else:
            hi = d
    return best


def build_responses(spec: HallSpec, cache: Path | None) -> Responses:
    path = cache / f"rirs-{spec.key()}.npz" if cache is not None else None
    if path is not None and path.is_file():
        with np.load(path, allow_pickle=False) as z:
            measured = json.loads(str(z["measured"]))
            return Responses(
                z["desk"],
                z["room"],
                z["talker"],
                [z[f"babble{i}"] for i in range(len(spec.babble_seats))],
                measured,
            )
    log.info("building the hall's impulse responses (image-source method)")
    # tuned at about the room microphone's distance
    absorption, max_order, _ = _tune_absorption(spec, _mic_at(spec, 2.0))
    desk_d, desk_mic, desk, desk_drr = _distance_for(spec, absorption, max_order, spec.desk_drr_db)
    room_d, room_mic, room, room_drr = _distance_for(spec, absorption, max_order, spec.room_drr_db)
    talker = _rir(spec, absorption, max_order, spec.talker, desk_mic)
    babble = [_rir(spec, absorption, max_order, seat, desk_mic) for seat in spec.babble_seats]
    talker_d = float(np.linalg.norm(np.subtract(spec.talker, desk_mic)))
    measured = {
        "absorption": absorption,
        "max_order": max_order,
        "desk": {
            "distance_m": desk_d,
            "mic": desk_mic,
            "drr_db": desk_drr,
            "rt60_s": rt60_s(desk),
        },
        "room": {
            "distance_m": room_d,
            "mic": room_mic,
            "drr_db": room_drr,
            "rt60_s": rt60_s(room),
        },
        "talker": {
            "distance_m": talker_d,
            "drr_db": drr_db(talker, direct_at=_direct_index(spec.talker, desk_mic)),
            "rt60_s": rt60_s(talker),
        },
    }
    out = Responses(desk, room, talker, babble, measured)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(
            path,
            desk=desk,
            room=room,
            talker=talker,
            measured=json.dumps(measured),
            **{f"babble{i}": b for i, b in enumerate(babble)},
        )
    return out


def active_power(dry: np.ndarray, wet: np.ndarray | None = None) -> float:
    """Mean power of `wet` (default: `dry`) over the 20 ms frames in which `dry` is active:
    within 30 dB of its 95th-percentile frame level (P.56-like; digital silence never)."""
    wet = dry if wet is None else wet
    n = min(dry.size, wet.size) // _FRAME
    if n == 0:
        return float(np.mean(wet.astype(np.float64) ** 2)) if wet.size else 0.0
    dry_p = np.mean(dry[: n * _FRAME].astype(np.float64).reshape(n, _FRAME) ** 2, axis=1)
    wet_p = np.mean(wet[: n * _FRAME].astype(np.float64).reshape(n, _FRAME) ** 2, axis=1)
    loud = np.percentile(dry_p, 95)
    active = (dry_p > loud * 10 ** (-30 / 10)) & (dry_p > 1e-10)
    return float(wet_p[active].mean()) if active.any() else float(wet_p.mean())


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Noise with a 1/f power spectrum (ventilation-like), unit power."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    spectrum[1:] /= np.sqrt(np.maximum(f[1:], 20.0))  # flat below 20 Hz
    spectrum[0] = 0
    x = np.fft.irfft(spectrum, n)
    return x / np.sqrt(np.mean(x**2))


class Hall:
    """Builds each condition of a dry 16 kHz recording; keeps built audio in `cache`."""

    def __init__(self, spec: HallSpec | None = None, cache: Path | None = None) -> None:
        self.spec = spec or HallSpec()
        self.cache = cache / self.spec.key() if cache is not None else None
        self.rirs = build_responses(self.spec, cache)
        self.levels: dict[tuple[str, str], dict] = {}  # what each mix measured

    @cached_property
    def _voices(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Other voices' sentences (speechocean762), split by speaker: the competing talker's
        and the murmur's, each in a seeded order."""
        rows = read_tsv(DATA / "english-l2-speechocean762-adults" / "manifest.tsv")
        speakers = sorted({r["speaker"] for r in rows})
        rng = np.random.default_rng(self.spec.seed)
        rng.shuffle(speakers)
        talkers = set(speakers[: len(speakers) // 2])
        folder = DATA / "english-l2-speechocean762-adults"
        a = [r for r in rows if r["speaker"] in talkers]
        b = [r for r in rows if r["speaker"] not in talkers]
        rng.shuffle(a)
        rng.shuffle(b)
        return [load_audio(folder / r["path"]) for r in a], [
            load_audio(folder / r["path"]) for r in b
        ]

    def _stream(self, which: int, reverse: bool) -> np.ndarray:
        """A voice stream: the sentences one after another, 0.15–0.6 s apart (seeded)."""
        rng = np.random.default_rng(self.spec.seed + which)
        parts = []
        for x in self._voices[which]:
            parts.append(x[::-1] if reverse else x)
            parts.append(np.zeros(int(rng.uniform(0.15, 0.6) * SAMPLE_RATE), dtype=np.float32))
        return np.concatenate(parts).astype(np.float32)

    @cached_property
    def _talk_reversed(self) -> np.ndarray:
        return self._stream(0, reverse=True)

    @cached_property
    def _talk_forward(self) -> np.ndarray:
        return self._stream(0, reverse=False)

    @cached_property
    def _murmur_voices(self) -> np.ndarray:
        return self._stream(1, reverse=False)

    @staticmethod
    def _slice(stream: np.ndarray, n: int, offset: int) -> np.ndarray:
        """`n` samples of `stream` from `offset`, wrapping round."""
        idx = (offset + np.arange(n)) % stream.size
        return stream[idx]

    def build(self, condition: str, dry: np.ndarray, item: str) -> np.ndarray:
        """`dry` (16 kHz) in `condition`; `item` names the recording (the seed of the
        interference chosen for it, and the cache's file name)."""
        if condition == "clean":
            return dry
        if condition not in CONDITIONS:
            raise ValueError(f"unknown condition {condition!r}: {', '.join(CONDITIONS)}")
        path = None
        if self.cache is not None:
            safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in item)
            path = self.cache / condition / f"{safe}-{dry.size}.npy"
            levels = path.with_suffix(".json")
            if path.is_file() and levels.is_file():
                self.levels[(condition, item)] = json.loads(levels.read_text())
                return np.load(path)
        out, levels = self._mix(condition, dry, item)
        self.levels[(condition, item)] = levels
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, out)
            path.with_suffix(".json").write_text(json.dumps(levels))
        return out

    def _mix(self, condition: str, dry: np.ndarray, item: str) -> tuple[np.ndarray, dict]:
        r = self.rirs
        n = dry.size + SAMPLE_RATE // 2  # the reverberant tail after the last word, 0.5 s
        padded = np.concatenate([dry, np.zeros(n - dry.size, dtype=dry.dtype)]).astype(np.float64)
        h = r.room if condition == "room" else r.desk
        speech = fftconvolve(padded, h)[:n]
        p_speech = active_power(padded, speech)
        levels: dict = {}
        mix = speech
        seed = zlib.crc32(f"{self.spec.seed}:{item}".encode())
        rng = np.random.default_rng(seed)
        if condition in ("talker", "talker_fwd"):
            stream = self._talk_reversed if condition == "talker" else self._talk_forward
            voice = self._slice(stream, n, int(rng.integers(stream.size))).astype(np.float64)
            wet = fftconvolve(voice, r.talker)[:n]
            gain = np.sqrt(p_speech / active_power(voice, wet) / 10 ** (self.spec.snr_db / 10))
            mix = speech + gain * wet
            levels["snr_db"] = 10 * np.log10(p_speech / active_power(voice, gain * wet))
        elif condition == "noise":
            stream = self._murmur_voices
            babble = np.zeros(n)
            for k, seat in enumerate(r.babble):
                offset = int(rng.integers(stream.size)) + k * stream.size // len(r.babble)
                babble += fftconvolve(self._slice(stream, n, offset), seat)[:n]
            babble /= np.sqrt(np.mean(babble**2))
            noise = babble + pink_noise(n, rng)  # half the power each
            noise *= np.sqrt(p_speech / np.mean(noise**2) / 10 ** (self.spec.snr_db / 10))
            mix = speech + noise
            levels["snr_db"] = 10 * np.log10(p_speech / np.mean(noise**2))
        # the main speech as loud as in the clean recording; nothing clips
        scale = np.sqrt(active_power(padded) / max(p_speech, 1e-20))
        mix = mix * scale
        peak = np.max(np.abs(mix))
        if peak > 0.99:
            mix *= 0.99 / peak
            levels["peak_scaled_db"] = 20 * np.log10(0.99 / peak)
        return mix.astype(np.float32), levels
