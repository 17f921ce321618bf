"""The sound meter on real speech (AISHELL) heard as a desk feed, from a room microphone in a
live hall (RT60 ≈ 0.9 s, image-source method), in pink noise, too quiet and clipping."""

from __future__ import annotations

import time

import numpy as np
import pytest

from tingshuo.audio.decode import SAMPLE_RATE, load_audio
from tingshuo.audio.room_sound import SoundMeter, SoundReport
from tingshuo.audio.vad import StreamingVAD

from .helpers import AISHELL, heard_through, read_tsv, room_impulses


def _pink(n: int, rng: np.random.Generator) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    k = np.arange(spectrum.size, dtype=float)
    k[0] = 1.0
    return np.fft.irfft(spectrum / np.sqrt(k), n)


@pytest.fixture(scope="module")
def inputs() -> dict[str, np.ndarray]:
    rows = read_tsv(AISHELL / "manifest.tsv")
    # three sentences of one speaker, 18 s: the meter's 15 s window full
    clean = np.concatenate([load_audio(AISHELL / rows[i]["path"]) for i in (0, 1, 2)])
    desk, room = room_impulses((0.36, 1.3))  # direct-to-reverberant ≈ +12 dB and ≈ 0 dB
    rng = np.random.default_rng(32)
    noise = _pink(clean.size, rng)
    noise *= np.sqrt(np.mean(clean**2) / np.mean(noise**2) / 10 ** (10 / 10))  # 10 dB SNR
    return {
        "clean": clean,
        "desk": heard_through(clean, desk),
        "room": heard_through(clean, room),
        "noisy": (clean + noise).astype(np.float32),
        "quiet": (clean * 10 ** (-40 / 20)).astype(np.float32),
        "clipping": np.clip(clean * 30, -1.0, 1.0).astype(np.float32),
    }


def _read(x: np.ndarray, block: int = 8000) -> SoundReport:
    meter = SoundMeter()
    for i in range(0, x.size, block):
        meter.feed(x[i : i + block])
    return meter.report()


@pytest.fixture(scope="module")
def reports(inputs) -> dict[str, SoundReport]:
    return {name: _read(x) for name, x in inputs.items()}


@pytest.mark.parametrize(
    "name,verdict,wants_filter",
    [
        ("clean", "good", False),
        ("desk", "good", False),
        ("room", "echo", True),
        ("noisy", "noisy", True),
        ("quiet", "quiet", False),
        ("clipping", "clipping", False),
    ],
)
def test_verdicts(reports, name, verdict, wants_filter):
    r = reports[name]
    assert r.verdict == verdict, r
    assert r.wants_filter is wants_filter, r
    assert r.advice and "\n" not in r.advice


def test_advice_says_what_to_do(reports):
    assert "closer mic" in reports["room"].advice
    assert "raise the gain" in reports["quiet"].advice
    assert "lower the gain" in reports["clipping"].advice


def test_echo_ranks_the_microphones(reports):
    clean, desk, room = (reports[n].echo for n in ("clean", "desk", "room"))
    assert clean is not None and desk is not None and room is not None
    assert clean < desk < room
    assert clean < 0.3 and room > 0.55
    # pink noise at 10 dB buries the decays: echo is not guessed from noise
    assert reports["noisy"].echo is None or reports["noisy"].echo < 0.4


def test_levels_and_noise(reports):
    clean, quiet, noisy = reports["clean"], reports["quiet"], reports["noisy"]
    assert -45 < clean.level_db < -20  # AISHELL's close talk, in dBFS
    assert clean.snr_db > 25 and noisy.snr_db < 20
    assert noisy.noise_db > clean.noise_db + 10
    assert quiet.level_db == pytest.approx(clean.level_db - 40, abs=1.5)
    assert reports["clipping"].clipping > 1e-3 and clean.clipping == 0
    assert 8 < clean.speech_s < 15


def test_block_size_does_not_matter(inputs, reports):
    x = inputs["room"]
    meter = SoundMeter()
    rng = np.random.default_rng(7)
    i = 0
    while i < x.size:
        n = int(rng.integers(1, 3000))
        meter.feed(x[i : i + n])
        i += n
    assert meter.report() == reports["room"]


def test_vad_probabilities_count_the_speech(inputs, reports):
    x = inputs["clean"]
    vad, meter = StreamingVAD(), SoundMeter()
    for i in range(0, x.size, 8000):
        block = x[i : i + 8000]
        meter.feed(block, vad(block))
    r = meter.report()
    assert r.verdict == "good" and not r.wants_filter
    assert abs(r.level_db - reports["clean"].level_db) < 3
    assert 8 < r.speech_s < 15


def test_auto_mode_turns_the_filter_off_again(inputs):
    meter = SoundMeter()
    meter.feed(inputs["room"])
    assert meter.report().wants_filter
    # 15 s later the window holds only the desk feed: off again
    meter.feed(inputs["clean"])
    r = meter.report()
    assert r.verdict == "good" and not r.wants_filter


def test_silence_is_not_noise():
    meter = SoundMeter()
    meter.feed(np.zeros(SAMPLE_RATE * 2, dtype=np.float32))
    r = meter.report()
    assert r.verdict == "quiet" and r.echo is None and not r.wants_filter
    assert SoundMeter().report().verdict == "quiet"  # nothing fed yet


def test_cheap(inputs):
    x = inputs["room"]
    meter = SoundMeter()
    started = time.process_time()
    for i in range(0, x.size, 1600):  # 100 ms blocks, a report each second
        meter.feed(x[i : i + 1600])
        if i % SAMPLE_RATE == 0:
            meter.report()
    cpu = time.process_time() - started
    # well under 1 % of a core: 18 s of audio in less than 90 ms of CPU
    assert cpu < 0.005 * x.size / SAMPLE_RATE, cpu
