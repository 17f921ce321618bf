"""Item 9: numbers past SQL's integers, private paths in messages, what viewers may read,
LIKE wildcards in session prefixes, and what a killed server leaves behind."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tingshuo.audio.decode import NOT_AUDIO
from tingshuo.errors import TingshuoError
from tingshuo.server.app import create_app
from tingshuo.server.uploads import upload_dir
from tingshuo.settings import Settings
from tingshuo.store.db import Store

from ..helpers import AUTH, ORG

HUGE = [2**63, 2**64, 10**30]


@pytest.fixture
def cfg(tmp_path) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path / 'db.sqlite'}", token=ORG)


@pytest.fixture
def client(worker, cfg):
    with TestClient(create_app(cfg, worker=worker)) as c:
        yield c


@pytest.fixture
def room(client) -> dict:
    body = {"name": "hall", "lang": "zh", "hotwords": "秘密项目", "glossary": "秘密项目,Project X"}
    return client.post("/api/rooms", json=body, headers=AUTH).json()


@pytest.mark.parametrize("value", HUGE)
def test_ids_past_sql_integers_are_422_or_a_close_code(client, room, value):
    base = f"/api/rooms/{room['id']}"
    r = client.get(f"{base}/segments", params={"since": value}, headers=AUTH)
    assert r.status_code == 422
    r = client.get("/api/search", params={"q": "x", "limit": value}, headers=AUTH)
    assert r.status_code == 422
    r = client.put(f"{base}/segments/{value}/speaker", json={"speaker": "x"}, headers=AUTH)
    assert r.status_code == 422
    url = f"/ws/rooms/{room['id']}/events?token={room['viewer_token']}&since={value}"
    with pytest.raises(WebSocketDisconnect) as e, client.websocket_connect(url) as ws:
        ws.receive_json()
    assert e.value.code == 4400 and "since must be a segment id" in e.value.reason


def test_the_largest_id_is_still_a_plain_empty_answer(client, room):
    r = client.get(f"/api/rooms/{room['id']}/segments", params={"since": 2**63 - 1}, headers=AUTH)
    assert r.status_code == 200 and r.json() == []


def test_audio_errors_name_the_upload_not_the_servers_temp_path(client, room, cfg):
    # PyAV's own message names the file it was given: the server's temp path, before the fix
    uploads = [
        ("broken.wav", b"\0" * 2000, NOT_AUDIO),
        ("notes.txt", b"not audio at all " * 100, NOT_AUDIO),
    ]
    for url, field in [
        ("/api/transcribe", {}),
        (f"/api/rooms/{room['id']}/start/file", {}),
        ("/api/learn/assess", {"text": "你好"}),
    ]:
        for name, data, why in uploads:
            r = client.post(url, files={"file": (name, data)}, data=field, headers=AUTH)
            assert r.status_code == 422, (url, r.text)
            detail = r.json()["detail"]
            assert detail.startswith(f"{name}: {why}"), detail
            for private in ("/tmp", str(cfg.cache_dir), "upload-", "\n", "PyAV", "Errno"):
                assert private not in detail, (url, detail)


def test_viewers_do_not_see_hot_words_or_glossary(client, room):
    viewer = client.get(f"/api/rooms/{room['id']}", params={"token": room["viewer_token"]})
    assert viewer.status_code == 200
    assert "hotwords" not in viewer.json() and "glossary" not in viewer.json()
    assert "秘密项目" not in viewer.text
    assert viewer.json()["name"] == "hall" and viewer.json()["links"]["phone"]
    organizer = client.get(f"/api/rooms/{room['id']}", headers=AUTH).json()
    assert organizer["hotwords"] == ["秘密项目"]
    assert organizer["glossary"] == [["秘密项目", "Project X"]]


def test_percent_and_underscore_are_not_wildcards_in_session_prefixes(cfg):
    store = Store(cfg.database_url)
    only = store.create_session("talk")
    assert store.get_session(only.id[:4]).id == only.id
    for pattern in ["%", "_", only.id[:2] + "%", "_" * len(only.id)]:
        with pytest.raises(TingshuoError, match="no session"):
            store.get_session(pattern)


def test_a_killed_servers_live_sessions_and_uploads_are_cleaned_at_start(worker, cfg):
    store = Store(cfg.database_url)
    live = store.create_session("cut off", room_id="r")
    done = store.create_session("finished")
    store.finish_session(done.id, "done", 12.0)
    folder = upload_dir(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    left = folder / f"upload-{int(dead.stdout)}-abc.wav"
    left.write_bytes(b"RIFF")
    mine = folder / f"upload-{os.getpid()}-in-use.wav"  # a living server's upload
    mine.write_bytes(b"RIFF")
    try:
        with TestClient(create_app(cfg, worker=worker)):
            pass
        assert store.get_session(live.id).status == "interrupted"
        assert store.get_session(done.id).status == "done"
        assert not left.exists() and mine.exists()
    finally:
        left.unlink(missing_ok=True)
        mine.unlink(missing_ok=True)
