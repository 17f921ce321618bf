"""Item 8: tokens in logged URLs are redacted; the console can send its token in a header
or an HttpOnly cookie instead of the URL."""

from __future__ import annotations

import logging
import logging.config
import threading
import time

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from websockets.sync.client import connect

from tingshuo.server.app import create_app
from tingshuo.server.auth import COOKIE
from tingshuo.server.limits import RedactTokens, log_config, redact
from tingshuo.settings import Settings

from ..helpers import AUTH, ORG, free_port


def test_redact_keeps_everything_but_the_token():
    assert redact("/ws/rooms/r1/audio?token=s3cret") == "/ws/rooms/r1/audio?token=[redacted]"
    assert (
        redact("/api/rooms/r1/qr.svg?lang=zh&token=s3cret&x=1")
        == "/api/rooms/r1/qr.svg?lang=zh&token=[redacted]&x=1"
    )
    assert redact("/room/r1?mytoken=a") == "/room/r1?mytoken=a"


def test_uvicorn_access_and_websocket_lines_are_redacted(worker, tmp_path):
    log = tmp_path / "access.log"
    config = log_config()
    for handler in ("default", "access"):
        config["handlers"][handler] = {
            "class": "logging.FileHandler",
            "filename": str(log),
            "formatter": handler,
            "filters": ["redact_tokens"],
        }
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'db.sqlite'}", token=ORG)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, worker=worker), port=port, log_config=config)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        room = httpx.post(
            f"http://127.0.0.1:{port}/api/rooms", json={"name": "r"}, headers=AUTH
        ).json()
        assert (
            httpx.get(
                f"http://127.0.0.1:{port}/api/rooms/{room['id']}/qr.svg", params={"token": ORG}
            ).status_code
            == 200
        )
        with connect(f"ws://127.0.0.1:{port}/ws/rooms/{room['id']}/events?token={ORG}") as ws:
            ws.recv()
    finally:
        server.should_exit = True
        thread.join(10)
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
            for handler in logging.getLogger(name).handlers[:]:
                handler.close()
                logging.getLogger(name).removeHandler(handler)
    text = log.read_text()
    assert f"/api/rooms/{room['id']}/qr.svg?token=[redacted]" in text
    assert f"/ws/rooms/{room['id']}/events?token=[redacted]" in text
    assert ORG not in text and room["viewer_token"] not in text


def test_the_filter_keeps_uvicorn_access_arguments_in_place():
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        "",
        0,
        '%s - "%s %s HTTP/%s" %d',
        ("1.2.3.4:5", "GET", "/x?token=abc", "1.1", 200),
        None,
    )
    assert RedactTokens().filter(record)
    assert record.getMessage() == '1.2.3.4:5 - "GET /x?token=[redacted] HTTP/1.1" 200'


@pytest.fixture
def client(worker, tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'db.sqlite'}", token=ORG)
    with TestClient(create_app(settings, worker=worker)) as c:
        yield c


def test_console_login_sets_an_httponly_cookie_for_reads_and_sockets_only(client):
    room = client.post("/api/rooms", json={"name": "r"}, headers=AUTH).json()
    assert client.post("/api/login").status_code == 401  # the token is needed to get one
    login = client.post("/api/login", headers=AUTH)
    assert login.status_code == 204
    cookie = login.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    # reads and sockets: the cookie alone will do (what the console's <img> and sockets send)
    assert client.get(f"/api/rooms/{room['id']}/qr.svg").status_code == 200
    with client.websocket_connect(f"/ws/rooms/{room['id']}/events") as ws:
        assert ws.receive_json()["type"] == "hello"
    # changes never: a page of another site cannot act with the cookie
    assert client.post("/api/rooms", json={"name": "forged"}).status_code == 401
    with (
        pytest.raises(WebSocketDisconnect) as e,
        client.websocket_connect(
            f"/ws/rooms/{room['id']}/audio", headers={"origin": "http://evil.example"}
        ) as ws,
    ):
        ws.receive_json()
    assert e.value.code == 4401
    assert client.delete("/api/login").status_code == 204
    assert client.get(f"/api/rooms/{room['id']}/qr.svg").status_code == 401
