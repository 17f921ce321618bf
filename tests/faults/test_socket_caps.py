"""Item 7: one phone (one address) or one shared viewer link cannot take every seat."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tingshuo.server.app import create_app
from tingshuo.settings import Settings

from ..helpers import AUTH, ORG


def make_client(worker, tmp_path, **limits) -> TestClient:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'db.sqlite'}", token=ORG, **limits)
    return TestClient(create_app(settings, worker=worker))


def room_of(client) -> dict:
    r = client.post("/api/rooms", json={"name": "hall", "lang": "zh"}, headers=AUTH)
    assert r.status_code == 201
    return r.json()


def refused(client, url: str) -> tuple[int, str]:
    with pytest.raises(WebSocketDisconnect) as e, client.websocket_connect(url) as ws:
        ws.receive_json()
    return e.value.code, e.value.reason


def test_one_address_gets_at_most_its_cap_and_a_seat_frees_on_close(worker, tmp_path):
    with make_client(worker, tmp_path, max_viewers_per_address=3) as client:
        room = room_of(client)
        url = f"/ws/rooms/{room['id']}/events?token={room['viewer_token']}"
        held = [client.websocket_connect(url) for _ in range(3)]
        for ws in held:
            ws.__enter__()
            assert ws.receive_json()["type"] == "hello"
        code, reason = refused(client, url)
        assert code == 1013 and reason == "too many connections from your address (limit 3)"
        # the organizer's console is not a viewer: it always gets in
        with client.websocket_connect(f"/ws/rooms/{room['id']}/events?token={ORG}") as ws:
            assert ws.receive_json()["type"] == "hello"
        held.pop().__exit__(None, None, None)
        with client.websocket_connect(url) as ws:
            assert ws.receive_json()["type"] == "hello"
        for ws in held:
            ws.__exit__(None, None, None)
        assert client.get("/health").json()["viewers"] == 0


def test_one_viewer_link_gets_at_most_its_cap(worker, tmp_path):
    with make_client(worker, tmp_path, max_viewers_per_address=0, max_viewers_per_link=2) as client:
        room, other = room_of(client), room_of(client)
        url = f"/ws/rooms/{room['id']}/events?token={room['viewer_token']}"
        with client.websocket_connect(url) as a, client.websocket_connect(url) as b:
            assert a.receive_json()["type"] == b.receive_json()["type"] == "hello"
            code, reason = refused(client, url)
            assert code == 1013 and reason == "this link has its limit of 2 viewers"
            # another room's link is another link
            with client.websocket_connect(
                f"/ws/rooms/{other['id']}/events?token={other['viewer_token']}"
            ) as c:
                assert c.receive_json()["type"] == "hello"
