"""Rooms over REST: tokens, create/read/update/delete, speakers, exports, QR, limits, pages."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tingshuo.events import Partial, Segment
from tingshuo.live.bus import LocalBus
from tingshuo.server.app import create_app
from tingshuo.settings import Settings

from .helpers import AUTH, ORG


@pytest.fixture
def client(worker, db_url):
    settings = Settings(database_url=db_url, token=ORG, max_viewers_per_room=2)
    with TestClient(create_app(settings, worker=worker)) as c:
        yield c


def make_room(client, **body) -> dict:
    r = client.post("/api/rooms", json={"name": "Keynote 主会场", **body}, headers=AUTH)
    assert r.status_code == 201, r.text
    return r.json()


def test_organizer_token_is_required_missing_401_wrong_403(client):
    body = {"name": "x"}
    missing = client.post("/api/rooms", json=body)
    assert missing.status_code == 401 and "organizer token" in missing.json()["detail"]
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong = client.post("/api/rooms", json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403
    assert client.get("/api/rooms").status_code == 401
    assert client.get("/api/rooms", params={"token": ORG}).status_code == 200  # links, downloads
    assert client.get("/health").status_code == 200  # open to monitoring


def test_room_crud_with_unguessable_ids_and_viewer_tokens(client):
    room = make_room(
        client,
        lang="zh",
        targets=["en"],
        hotwords="科大讯飞，讯飞听见\n青岛",
        glossary="万科,Vanke\n# a comment\n万达,Wanda",
    )
    assert room["hotwords"] == ["科大讯飞", "讯飞听见", "青岛"]
    assert room["glossary"] == [["万科", "Vanke"], ["万达", "Wanda"]]
    assert room["state"] == "idle" and room["targets"] == ["en"]
    other = make_room(client)
    assert len(room["id"]) >= 16 and room["id"] != other["id"]
    assert room["viewer_token"] != other["viewer_token"] and room["viewer_token"] != ORG
    assert room["links"]["phone"].endswith(f"/room/{room['id']}?token={room['viewer_token']}")

    listed = client.get("/api/rooms", headers=AUTH).json()
    assert [r["id"] for r in listed] == [room["id"], other["id"]]

    # viewers read their room with its token, and nothing else
    rid, vt = room["id"], room["viewer_token"]
    assert client.get(f"/api/rooms/{rid}", params={"token": vt}).json()["name"] == "Keynote 主会场"
    assert client.get(f"/api/rooms/{rid}").status_code == 401
    assert (
        client.get(f"/api/rooms/{rid}", params={"token": other["viewer_token"]}).status_code == 403
    )
    assert client.get(f"/api/rooms/{rid}/segments", params={"token": vt}).json() == []
    viewer = {"Authorization": f"Bearer {vt}"}
    assert client.post("/api/rooms", json={"name": "y"}, headers=viewer).status_code == 403
    assert client.post(f"/api/rooms/{rid}/stop", headers=viewer).status_code == 403

    changed = client.patch(
        f"/api/rooms/{rid}", json={"name": "Hall B", "targets": []}, headers=AUTH
    )
    assert changed.status_code == 200 and changed.json()["name"] == "Hall B"
    assert changed.json()["targets"] == [] and changed.json()["hotwords"] == room["hotwords"]

    assert client.delete(f"/api/rooms/{other['id']}", headers=AUTH).status_code == 204
    assert client.get(f"/api/rooms/{other['id']}", params={"token": ORG}).status_code == 404


def test_unknown_room_and_bad_input_get_clear_statuses(client):
    for method, path in [
        ("get", "/api/rooms/nope"),
        ("patch", "/api/rooms/nope"),
        ("delete", "/api/rooms/nope"),
        ("post", "/api/rooms/nope/pause"),
        ("get", "/api/rooms/nope/export"),
    ]:
        kwargs = {"json": {"name": "x"}} if method == "patch" else {}
        r = getattr(client, method)(path, headers=AUTH, **kwargs)
        assert r.status_code == 404 and "no room" in r.json()["detail"], (path, r.text)
    bad = client.post("/api/rooms", json={"name": "x", "targets": ["xx"]}, headers=AUTH)
    assert bad.status_code == 422 and "cannot translate into 'xx'" in bad.text
    bad = client.post("/api/rooms", json={"name": "x", "lang": "fr"}, headers=AUTH)
    assert bad.status_code == 422
    bad = client.post("/api/rooms", json={"name": "x", "glossary": "only-one-cell"}, headers=AUTH)
    assert bad.status_code == 422 and "source term,target term" in bad.text

    room = make_room(client)
    idle = client.post(f"/api/rooms/{room['id']}/pause", headers=AUTH)
    assert idle.status_code == 409 and "not listening" in idle.json()["detail"]
    notaudio = client.post(
        f"/api/rooms/{room['id']}/start/file",
        files={"file": ("slides.pdf", b"%PDF-1.4 not audio", "application/pdf")},
        headers=AUTH,
    )
    assert notaudio.status_code == 422 and "slides.pdf" in notaudio.json()["detail"]
    assert "/tmp" not in notaudio.json()["detail"]
    device = client.post(f"/api/rooms/{room['id']}/start/device", headers=AUTH)
    if device.status_code != 200:  # no sound card here: said in one line
        assert device.status_code == 400 and "sound" in device.json()["detail"]
    else:
        client.post(f"/api/rooms/{room['id']}/stop", headers=AUTH)
    assert client.get(f"/api/rooms/{room['id']}", headers=AUTH).json()["state"] == "idle"


def test_speakers_exports_and_qr_code(client):
    room = make_room(client, lang="zh", targets=["en"])
    store = client.app.state.store
    session = store.create_session("Keynote", room_id=room["id"])
    segs = [
        store.add_segment(
            Segment(session_id=session.id, start=s, end=s + 2, lang="zh", text=t, speaker="S1")
        )
        for s, t in [(0.0, "大家好。"), (3.0, "今天讲房价。")]
    ]
    store.set_translation(segs[0].id, "en", "Hello everyone.")
    rid = room["id"]

    with client.websocket_connect(f"/ws/rooms/{rid}/events?token={room['viewer_token']}") as ws:
        assert ws.receive_json()["type"] == "hello"
        replay = [ws.receive_json(), ws.receive_json()]
        assert [m["segment"]["text"] for m in replay] == ["大家好。", "今天讲房价。"]
        assert replay[0]["segment"]["translations"] == {"en": "Hello everyone."}
        assert ws.receive_json() == {"type": "caught_up", "last_segment_id": segs[1].id}

        r = client.put(
            f"/api/rooms/{rid}/segments/{segs[0].id}/speaker",
            json={"speaker": "李老师"},
            headers=AUTH,
        )
        assert r.status_code == 200 and r.json()["speaker"] == "李老师"
        event = ws.receive_json()
        assert event["type"] == "speaker" and event["segment_ids"] == [segs[0].id]
        renamed = client.post(
            f"/api/rooms/{rid}/speakers/rename", json={"old": "S1", "new": "王总"}, headers=AUTH
        )
        assert renamed.json() == {"renamed": 1}
        assert ws.receive_json()["segment_ids"] == [segs[1].id]
        # seq numbers count every event of the room
        assert event["seq"] + 1 == client.app.state.bus.last_seq(rid)

    other = make_room(client)
    r = client.put(f"/api/rooms/{other['id']}/segments/{segs[0].id}/speaker", json={}, headers=AUTH)
    assert r.status_code == 404  # not that room's caption

    srt = client.get(f"/api/rooms/{rid}/export", params={"format": "srt", "token": ORG})
    assert srt.status_code == 200 and "大家好" in srt.text and "Hello" not in srt.text
    both = client.get(f"/api/rooms/{rid}/export?format=txt&bilingual=true", headers=AUTH)
    assert "Hello everyone." in both.text and "今天讲房价" in both.text
    assert "filename*=UTF-8''Keynote" in both.headers["content-disposition"]
    docx = client.get(f"/api/rooms/{rid}/export?format=docx", headers=AUTH)
    assert docx.content[:2] == b"PK"
    assert (
        client.get(f"/api/rooms/{rid}/export", params={"format": "pdf"}, headers=AUTH).status_code
        == 422
    )

    qr = client.get(f"/api/rooms/{rid}/qr.svg", params={"token": room["viewer_token"]})
    assert qr.status_code == 200 and qr.headers["content-type"] == "image/svg+xml"
    assert qr.text.lstrip().startswith("<svg") and "<path" in qr.text
    assert client.get(f"/api/rooms/{rid}/qr.svg").status_code == 401


def test_too_many_viewers_are_refused_with_a_reason(client):
    room = make_room(client)
    url = f"/ws/rooms/{room['id']}/events?token={room['viewer_token']}"
    with client.websocket_connect(url) as a, client.websocket_connect(url) as b:
        assert a.receive_json()["type"] == "hello" and b.receive_json()["type"] == "hello"
        assert client.get("/health").json()["viewers"] == 2
        with client.websocket_connect(url) as c, pytest.raises(WebSocketDisconnect) as closed:
            c.receive_json()
        assert closed.value.code == 1013 and "limit of 2 viewers" in closed.value.reason


def test_a_slow_subscriber_is_dropped_and_the_others_get_every_event():
    async def scenario() -> tuple[list[int], bool, bool]:
        bus = LocalBus(queue_size=4)
        reader, sleeper = bus.subscribe("r"), bus.subscribe("r")
        got = []
        for i in range(10):
            bus.publish(
                "r", Partial(utterance=i, start=0, end=1, lang="zh", stable="", unstable="")
            )
            got.append((await reader.get()).seq)
        other = bus.subscribe("other")
        return got, sleeper.dropped.is_set(), bus.subscribers("r") == 1 and other.queue.empty()

    got, dropped, isolated = asyncio.run(scenario())
    assert got == list(range(1, 11)) and dropped and isolated


def test_pages_are_served_by_tingshuo_with_no_cdn(client):
    for path in ["/console", "/room/abc/screen", "/room/abc"]:
        page = client.get(path)
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        refs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert refs and all(r.startswith("/static/") for r in refs), refs
        for ref in refs:
            assert client.get(ref).status_code == 200, ref
    script = client.get("/static/console.js").text + client.get("/static/captions.js").text
    assert "http://" not in script and "https://" not in script
    assert "audioWorklet" in script and "getUserMedia" in script
    assert "registerProcessor" in client.get("/static/pcm-worklet.js").text
    assert "@font-face" not in client.get("/static/style.css").text  # system fonts only
    openapi = json.loads(client.get("/openapi.json").text)
    assert "/api/rooms/{room_id}/start/file" in openapi["paths"]
