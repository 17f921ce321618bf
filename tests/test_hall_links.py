"""Pages that work in a real hall: API pages offline, viewer links phones can open, upload
errors people can read."""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import segno
from fastapi.testclient import TestClient

from tingshuo.audio.decode import NOT_AUDIO
from tingshuo.server.api_rooms import is_loopback, lan_address
from tingshuo.server.app import create_app
from tingshuo.settings import Settings

from .helpers import AUTH, ORG, chromium, create_room, live_server, needs_chromium, wait_for


@contextlib.contextmanager
def client(worker, tmp_path: Path, base_url: str, **overrides) -> Iterator[TestClient]:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'db.sqlite'}", token=ORG, **overrides)
    with TestClient(create_app(settings, worker=worker), base_url=base_url) as c:
        yield c


def new_room(c: TestClient) -> dict:
    r = c.post("/api/rooms", json={"name": "Hall A", "lang": "zh"}, headers=AUTH)
    assert r.status_code == 201, r.text
    return r.json()


def qr_link(c: TestClient, room: dict) -> str:
    """The link in the room's QR code: the SVG made for the phone link, byte for byte."""
    svg = c.get(f"/api/rooms/{room['id']}/qr.svg", headers=AUTH).content
    out = io.BytesIO()
    segno.make(room["links"]["phone"], error="m").save(
        out, kind="svg", scale=8, border=2, xmldecl=False
    )
    assert svg == out.getvalue()
    return room["links"]["phone"]


# -- viewer links


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_console_on_loopback_gives_phones_the_lan_address(worker, tmp_path, host):
    with client(worker, tmp_path, f"http://{host}:8000", host="0.0.0.0") as c:
        room = new_room(c)
        link = urlsplit(qr_link(c, room))
    lan = lan_address()
    if lan is None:
        pytest.skip("this machine has no LAN address")
    assert (link.hostname, link.port) == (lan, 8000)
    assert not is_loopback(room["links"]["phone"]) and room["links"]["loopback"] is False
    assert room["links"]["events"].startswith(f"ws://{lan}:8000/ws/rooms/{room['id']}/events")


def test_public_url_wins(worker, tmp_path):
    public = "https://captions.example.org/"
    with client(worker, tmp_path, "http://127.0.0.1:8000", public_url=public) as c:
        room = new_room(c)
        link = qr_link(c, room)
        viewer = c.get(f"/api/rooms/{room['id']}", params={"token": room["viewer_token"]}).json()
    assert link == f"https://captions.example.org/room/{room['id']}?token={room['viewer_token']}"
    assert room["links"]["events"].startswith("wss://captions.example.org/ws/rooms/")
    assert room["links"]["loopback"] is False
    # a viewer sees the same links, but the stage's without its own key
    stage = room["links"]["stage"]
    assert viewer["links"] == {**room["links"], "stage": stage.split("&stage=")[0]}
    assert stage.startswith("https://captions.example.org/room/") and "&stage=" in stage


def test_a_server_listening_only_on_loopback_says_its_links_are_loopback(worker, tmp_path):
    with client(worker, tmp_path, "http://127.0.0.1:8000") as c:  # the default --host
        room = new_room(c)
        assert qr_link(c, room).startswith("http://127.0.0.1:8000/room/")
    assert room["links"]["loopback"] is True


def test_a_console_opened_by_lan_address_keeps_it(worker, tmp_path):
    with client(worker, tmp_path, "http://192.168.7.20:8000", host="0.0.0.0") as c:
        room = new_room(c)
    assert room["links"]["phone"].startswith("http://192.168.7.20:8000/room/")
    assert room["links"]["loopback"] is False


@needs_chromium
@pytest.mark.parametrize(
    "public_url,warned", [("http://127.0.0.1:8000", True), ("http://192.0.2.10:8000", False)]
)
def test_the_console_warns_only_when_phones_get_a_loopback_link(
    worker, tmp_path, public_url, warned
):
    from selenium.webdriver.common.by import By

    with live_server(worker, tmp_path, public_url=public_url) as server:
        driver = chromium(tmp_path)
        try:
            room = create_room(driver, server, "Hall B")
            assert room["links"]["phone"].startswith(public_url)
            warning = driver.find_element(By.ID, "link-warning")
            assert warning.is_displayed() is warned
            if warned:
                assert "TINGSHUO_PUBLIC_URL" in warning.text and "手机无法打开" in warning.text
        finally:
            driver.quit()


# -- upload errors


def test_a_text_upload_is_one_line_for_people(worker, tmp_path):
    with client(worker, tmp_path, "http://127.0.0.1:8000") as c:
        room = new_room(c)
        for url in ["/api/transcribe", f"/api/rooms/{room['id']}/start/file"]:
            for name in ["notes.txt", "notes.wav"]:
                files = {"file": (name, b"not audio at all\n" * 50, "text/plain")}
                r = c.post(url, files=files, headers=AUTH)
                assert r.status_code == 422, (url, r.text)
                assert r.json()["detail"] == f"{name}: {NOT_AUDIO}"
                for word in ["422", "Errno", "PyAV", "FFmpeg", "\n"]:
                    assert word not in r.text


@needs_chromium
def test_the_console_shows_an_upload_error_without_codes(worker, tmp_path):
    from selenium.webdriver.common.by import By

    notes = tmp_path / "notes.txt"
    notes.write_text("agenda: 9:00 opening\n" * 20)
    with live_server(worker, tmp_path) as server:
        driver = chromium(tmp_path)
        try:
            create_room(driver, server, "Hall C")
            driver.find_element(By.ID, "file-input").send_keys(str(notes))
            driver.find_element(By.ID, "btn-file").click()
            shown = wait_for(driver, "document.getElementById('error').textContent", 20)
            assert shown == f"notes.txt: {NOT_AUDIO}"
            page = driver.find_element(By.TAG_NAME, "body").text
            # no status code as a word (a clock or an id may hold the digits)
            assert not re.search(r"\b422\b", page) and "Errno" not in page
            assert driver.find_element(By.ID, "room-state").text == "idle"
        finally:
            driver.quit()


# -- /docs and /redoc without a network


@needs_chromium
def test_api_pages_work_offline(worker, tmp_path):
    from selenium.webdriver.common.by import By

    with live_server(worker, tmp_path) as server:
        for page in ["/docs", "/redoc"]:
            html = server.http.get(page).text
            scripts = re.findall(r"""<(?:script|link)[^>]*(?:src|href)=["']([^"']+)""", html)
            assert scripts and all(re.match(r"/[^/]", s) for s in scripts), scripts
            assert "cdn" not in html.lower() and "http" not in "".join(scripts)
            for asset in scripts:
                got = server.http.get(asset)
                assert got.status_code == 200, asset
                # nor anything the scripts fetch by themselves (ReDoc's footer logo did)
                assert "cdn.redoc.ly" not in got.text, asset
        # Chromium reaches nothing but loopback (anything else goes to a closed proxy port)
        driver = chromium(tmp_path, "--proxy-server=http://127.0.0.1:9")
        try:
            driver.get(f"{server.url}/docs")
            wait_for(driver, "document.querySelector('.opblock-summary-path')", 60, "operations")
            paths = driver.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")
            shown = {p.text.replace("\u200b", "") for p in paths if p.is_displayed()}
            assert "/api/rooms" in shown and "/api/transcribe" in shown

            driver.get(f"{server.url}/redoc")
            wait_for(driver, "document.querySelector('.api-info h1')", 60, "ReDoc's title")
            title = driver.find_element(By.CSS_SELECTOR, ".api-info h1")
            assert title.is_displayed() and title.text.startswith("tingshuo")
            images = driver.execute_script(
                "return [...document.images].map(i => [i.src, i.naturalWidth])"
            )
            assert images and all(src.startswith(server.url) and w > 0 for src, w in images), images
        finally:
            driver.quit()
