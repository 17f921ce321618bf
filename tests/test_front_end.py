"""The front end a stream is heard through (issue 32): "auto" cleans a room microphone's
input with DeepFilterNet3 and lets a desk feed through as it came, switching as the input
changes without moving a sample."""

from __future__ import annotations

import numpy as np
import pytest

from tingshuo.audio.decode import SAMPLE_RATE, load_audio
from tingshuo.audio.front_end import FrontEnd, choose
from tingshuo.audio.vad import StreamingVAD
from tingshuo.errors import TingshuoError

from .helpers import AISHELL, heard_through, read_tsv, room_impulses

BLOCK = SAMPLE_RATE // 10  # a live room's blocks: 100 ms


@pytest.fixture(scope="module")
def desk_room_desk() -> tuple[np.ndarray, int, int]:
    """18 s of a desk feed, the same talker's next 18 s from a room microphone (RT60 0.9 s,
    direct-to-reverberant ≈ 0 dB), then 18 s of the desk feed again; where each part ends."""
    rows = read_tsv(AISHELL / "manifest.tsv")
    parts = [
        np.concatenate([load_audio(AISHELL / rows[i]["path"]) for i in ids])
        for ids in ((0, 1, 2), (3, 4, 5), (6, 7, 8))
    ]
    (room,) = room_impulses((1.3,))
    parts[1] = heard_through(parts[1], room)
    ends = np.cumsum([p.size for p in parts])
    return np.concatenate(parts), int(ends[0]), int(ends[1])


def _run(front: FrontEnd, audio: np.ndarray) -> tuple[np.ndarray, list[bool]]:
    """As the transcriber does: the VAD hears the front end's output, the meter the input."""
    vad = StreamingVAD()
    out, states = [], []
    for i in range(0, audio.size, BLOCK):
        block = audio[i : i + BLOCK]
        heard = front(block)
        out.append(heard)
        front.heard(block, vad(heard))
        states.append(front.filtering)
    out.append(front.flush())
    return np.concatenate(out), states


def test_auto_cleans_the_room_mic_and_not_the_desk_feed(desk_room_desk):
    audio, room_from, desk_from = desk_room_desk
    front = FrontEnd("auto")
    out, states = _run(front, audio)
    assert out.size == audio.size
    block_at = [i * BLOCK for i in range(len(states))]
    on = [at for at, s in zip(block_at, states, strict=True) if s]
    # on within 16 s of the room microphone (its 15 s window first forgets the desk feed),
    # off again within 16 s of the desk feed
    assert on and room_from < on[0] < room_from + 16 * SAMPLE_RATE
    assert desk_from < on[-1] < desk_from + 16 * SAMPLE_RATE
    assert not states[-1]
    # what it let through is the input, sample for sample
    np.testing.assert_array_equal(out[: on[0]], audio[: on[0]])
    after = on[-1] + 2 * BLOCK
    np.testing.assert_array_equal(out[after:], audio[after:])
    # what it cleaned is in time with the input: cross-correlation peaks at lag 0
    a, b = on[0] + SAMPLE_RATE, on[0] + 6 * SAMPLE_RATE
    x, y = audio[a:b], out[a:b]
    lags = range(-160, 161)
    best = max(lags, key=lambda k: float(np.dot(x[160 + k : x.size - 160 + k], y[160:-160])))
    assert abs(best) <= 16  # 1 ms
    assert not np.array_equal(y, x)
    assert 0 < front.filtered_s < 30


def test_on_always_cleans_and_off_never(desk_room_desk):
    audio = desk_room_desk[0][: 5 * SAMPLE_RATE]
    out, states = _run(FrontEnd("off"), audio)
    np.testing.assert_array_equal(out, audio)
    assert not any(states)
    out, states = _run(FrontEnd("on"), audio)
    assert out.size == audio.size and all(states)
    assert not np.allclose(out, audio, atol=1e-3)


def test_a_file_is_cleaned_all_through_or_not_at_all(desk_room_desk):
    """A recording's front end is chosen once from all of it: the room microphone's is
    cleaned from its first second, the desk feed's never."""
    audio, room_from, desk_from = desk_room_desk
    assert choose("auto", audio[:room_from]) == "off"
    assert choose("auto", audio[room_from:desk_from]) == "on"
    assert choose("off", audio[room_from:desk_from]) == "off"
    assert choose("on", audio[:room_from]) == "on"


def test_an_unknown_front_end_is_one_clear_error():
    with pytest.raises(TingshuoError, match="unknown front end 'loud': use on, off or auto"):
        FrontEnd("loud")
