"""Any container and codec PyAV reads, at any rate and channel count, becomes 16 kHz mono."""

from __future__ import annotations

import av
import numpy as np
import pytest

from tingshuo.audio.decode import SAMPLE_RATE, iter_audio, load_audio, probe
from tingshuo.errors import AudioError

from .helpers import AISHELL, encode

SOURCE = AISHELL / "audio" / "BAC009S0150W0121.flac"


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return load_audio(SOURCE)


@pytest.mark.parametrize(
    "name,codec,rate,channels,video",
    [
        ("talk.wav", "pcm_s16le", 44_100, 2, False),
        ("talk.flac", "flac", 48_000, 1, False),
        ("talk.mp3", "mp3", 44_100, 2, False),
        ("talk.m4a", "aac", 48_000, 2, False),
        ("talk.ogg", "libopus", 48_000, 2, False),
        ("talk.mp4", "aac", 44_100, 2, True),
    ],
)
def test_every_container_decodes_to_16k_mono(tmp_path, speech, name, codec, rate, channels, video):
    path = tmp_path / name
    encode(path, speech, rate, codec, channels, video)
    audio = load_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    # same length within codec padding, and the same waveform shape (speech, not noise)
    assert abs(audio.size - speech.size) < 0.15 * SAMPLE_RATE
    n = min(audio.size, speech.size) - 4000
    best = max(np.corrcoef(audio[lag : lag + n], speech[:n])[0, 1] for lag in range(0, 2600, 16))
    assert best > 0.9


def test_blocks_cover_the_file(speech):
    blocks = list(iter_audio(SOURCE, block_s=0.5))
    assert sum(b.size for b in blocks) == speech.size
    assert all(b.size >= 0.5 * SAMPLE_RATE for b in blocks[:-1])


def test_text_file_is_refused_with_one_line(tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_text("this is not audio\n")
    with pytest.raises(AudioError, match="This file is not audio or video") as e:
        load_audio(bad)
    assert "\n" not in str(e.value)
    with pytest.raises(AudioError):
        probe(bad)


def test_empty_and_missing_files_are_refused(tmp_path):
    empty = tmp_path / "empty.flac"
    empty.touch()
    with pytest.raises(AudioError, match="empty"):
        load_audio(empty)
    with pytest.raises(AudioError, match="no such file"):
        load_audio(tmp_path / "missing.wav")


def test_video_without_audio_is_refused(tmp_path):
    path = tmp_path / "silent.mp4"
    with av.open(str(path), "w") as out:
        v = out.add_stream("mpeg4", rate=10)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        img = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), dtype=np.uint8), format="rgb24")
        for i in range(5):
            img.pts = i
            for packet in v.encode(img.reformat(format="yuv420p")):
                out.mux(packet)
        for packet in v.encode(None):
            out.mux(packet)
    with pytest.raises(AudioError, match="This video has no sound track"):
        load_audio(path)


def test_truncated_file_keeps_the_audio_before_the_break(tmp_path, speech):
    whole = tmp_path / "whole.mp3"
    encode(whole, speech, 44_100, "mp3", 2)
    data = whole.read_bytes()
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(data[: len(data) // 2])
    audio = load_audio(cut)
    assert 0.3 * speech.size < audio.size < 0.7 * speech.size
