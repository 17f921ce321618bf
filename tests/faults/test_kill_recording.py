"""`kill -9` of a server while a room records: the sound stored before the kill reaches to
within 5 s of what had been played, and it is that sound (issue 27)."""

from __future__ import annotations

import signal
import time

import numpy as np
import pytest

from tingshuo.audio import opus
from tingshuo.audio.decode import load_audio
from tingshuo.store.db import open_store
from tingshuo.store.sound import session_sound, sound_duration

from ..helpers import Served, talk_wav

pytestmark = pytest.mark.slow

CLIPS = ["BAC009S0150W0212", "BAC009S0150W0287", "BAC009S0150W0121", "BAC009S0150W0126"]
PLAYED_S = 9.0  # how long the room plays before the kill


def test_kill_9_mid_room_loses_at_most_5_s_of_its_sound(aishell_rows, tmp_path):
    db, log, wav = tmp_path / "tingshuo.db", tmp_path / "server.log", tmp_path / "talk.wav"
    talk_wav(wav, CLIPS, aishell_rows)
    served = Served(db, log)
    try:
        room = served.http.post("/api/rooms", json={"name": "hall", "lang": "zh"}).json()
        with wav.open("rb") as f:
            r = served.http.post(
                f"/api/rooms/{room['id']}/start/file",
                files={"file": ("talk.wav", f, "audio/wav")},
                data={"speed": "1"},
            )
        assert r.status_code == 200, r.text
        playing_since = time.monotonic()  # the room paces the file from its start, before this
        time.sleep(PLAYED_S)
        served.proc.send_signal(signal.SIGKILL)
        played = time.monotonic() - playing_since
        served.proc.wait(10)
    finally:
        served.close()
    store = open_store(f"sqlite:///{db}")
    info = store.get_session(r.json()["session_id"])
    kept = sound_duration(store.sound_chunks(info.id))
    assert played - 5.0 <= kept <= played + 1.5, (played, kept)
    heard = opus.decode(session_sound(store, info))
    talk = load_audio(wav)[: heard.size]
    similarity = np.dot(talk, heard) / (np.linalg.norm(talk) * np.linalg.norm(heard))
    assert similarity > 0.9
