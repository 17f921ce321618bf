"""Item 9: `kill -9` of the server in the middle of a room, and a restart on the same
database: what a viewer saw before the kill is still there, the session is closed as
'interrupted' and the upload the room was playing is removed."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
from websockets.sync.client import connect

from tingshuo.server.uploads import upload_dir
from tingshuo.settings import Settings

from ..helpers import Served, talk_wav

pytestmark = pytest.mark.slow

CLIPS = ["BAC009S0150W0212", "BAC009S0150W0287", "BAC009S0150W0121", "BAC009S0150W0126"]


def talk(aishell_rows, path: Path) -> None:
    talk_wav(path, CLIPS, aishell_rows)


def finals(url: str, until: int, timeout: float = 60) -> list[dict]:
    """Finals a viewer gets (replayed or live) until it has `until` of them."""
    out: list[dict] = []
    with connect(url, open_timeout=30) as ws:
        deadline = time.monotonic() + timeout
        while len(out) < until and time.monotonic() < deadline:
            try:
                event = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            except TimeoutError:
                break
            if event["type"] == "final":
                out.append(event["segment"])
            if event["type"] == "caught_up" and until == 0:
                break
    return out


def test_kill_9_mid_room_then_restart(aishell_rows, tmp_path):
    db, log = tmp_path / "tingshuo.db", tmp_path / "server.log"
    wav = tmp_path / "talk.wav"
    talk(aishell_rows, wav)
    first = Served(db, log)
    try:
        room = first.http.post("/api/rooms", json={"name": "hall", "lang": "zh"}).json()
        events = f"ws://127.0.0.1:{first.port}/ws/rooms/{room['id']}/events"
        viewer_url = f"{events}?token={room['viewer_token']}"
        with wav.open("rb") as f:
            r = first.http.post(
                f"/api/rooms/{room['id']}/start/file",
                files={"file": ("talk.wav", f, "audio/wav")},
                data={"speed": "1"},
            )
        assert r.status_code == 200, r.text
        session = r.json()["session_id"]
        playing = list(upload_dir(Settings()).glob(f"upload-{first.proc.pid}-*"))
        assert len(playing) == 1  # the file the room plays, kept in the uploads folder
        seen = finals(viewer_url, until=2)
        assert len(seen) == 2
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(10)
    finally:
        first.close()
    assert playing[0].exists()  # what kill -9 leaves behind

    second = Served(db, log)
    try:
        assert not playing[0].exists()
        sessions = second.http.get(f"/api/rooms/{room['id']}/sessions").json()
        assert [(s["id"], s["status"]) for s in sessions] == [(session, "interrupted")]
        assert second.http.get(f"/api/rooms/{room['id']}").json()["state"] == "idle"
        # a phone that reconnects gets what it saw before the kill, once each, unchanged
        url = f"ws://127.0.0.1:{second.port}/ws/rooms/{room['id']}/events"
        again = finals(f"{url}?token={room['viewer_token']}", until=len(seen), timeout=10)
        assert [s["text"] for s in again[: len(seen)]] == [s["text"] for s in seen]
        assert [s["id"] for s in again] == sorted({s["id"] for s in again})
    finally:
        second.close()
