"""Every caption is clean text: a 30-minute room, played through, leaves no U+FFFD (a
character the decoder cut in two) and no other broken character in its store or in any
export. Whisper writes Mandarin in byte tokens, so a long room is where a split one shows."""

from __future__ import annotations

import io
import time
import wave
import zipfile

import numpy as np
import pytest

from tingshuo.audio.decode import load_audio

from .helpers import AISHELL, Viewer, events_url, live_server

LONGFORM = AISHELL / "longform" / "longform_2spk.flac"
MINUTES = 30
BROKEN = ("\ufffd", "\x00")


def wav_bytes(samples: np.ndarray) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return out.getvalue()


@pytest.fixture(scope="module")
def server(worker, tmp_path_factory):
    with live_server(worker, tmp_path_factory.mktemp("clean")) as live:
        yield live


@pytest.mark.slow
def test_a_30_minute_room_stores_and_exports_no_broken_character(server):
    talk = load_audio(LONGFORM)
    samples = np.resize(talk, MINUTES * 60 * 16000)  # the 7-minute talk, round and round
    room = server.room(name="半小时 Half an hour")
    viewer = Viewer(events_url(server, room), seconds=900)
    viewer.connected.wait(10)
    r = server.http.post(
        f"/api/rooms/{room['id']}/start/file",
        files={"file": ("half-hour.wav", wav_bytes(samples), "audio/wav")},
        data={"speed": "0"},
        timeout=120,
    )
    assert r.status_code == 200, r.text
    viewer.join(900)
    deadline = time.monotonic() + 60
    while server.http.get(f"/api/rooms/{room['id']}").json()["state"] != "idle":
        assert time.monotonic() < deadline
        time.sleep(0.5)

    finals = [m for m in viewer.events if m["type"] == "final"]
    partials = [m for m in viewer.events if m["type"] == "partial"]
    assert len(finals) > 300  # about 80 captions every 7 minutes
    assert finals[-1]["segment"]["end"] > (MINUTES - 1) * 60
    for m in finals:
        assert not any(b in m["segment"]["text"] for b in BROKEN), m
    for m in partials:
        assert not any(b in m["stable"] + m["unstable"] for b in BROKEN), m
    session = finals[0]["segment"]["session_id"]
    stored = server.http.get(f"/api/sessions/{session}").json()["segments"]
    assert len(stored) == len(finals)
    assert not [s["text"] for s in stored if any(b in s["text"] for b in BROKEN)]
    for fmt in ("txt", "srt", "vtt", "json"):
        body = server.http.get(f"/api/rooms/{room['id']}/export", params={"format": fmt})
        assert body.status_code == 200 and body.text.count("\n") > 300
        assert not any(b in body.text for b in BROKEN), fmt
    docx = server.http.get(f"/api/rooms/{room['id']}/export", params={"format": "docx"})
    document = zipfile.ZipFile(io.BytesIO(docx.content)).read("word/document.xml").decode()
    assert "一" in document or "的" in document
    assert not any(b in document for b in BROKEN)
