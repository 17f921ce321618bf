"""The anchor's stage page and endpoints, through HTTP and in headless Chromium."""

from __future__ import annotations

import base64
import io
import time
import wave

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tingshuo.anchor.presenter import VISEMES
from tingshuo.live.models import Models
from tingshuo.server import api_anchor, pages

from .helpers import EMOJI, ORG, SHOWN_ICONS, LiveServer, chromium, needs_chromium, wait_for

STAGE_RUNDOWN = """\
title: Stage test
languages: [zh, en]
segments:
  - say:
      zh: 各位来宾，欢迎来到2026年的开幕式。
      en: Welcome to the opening ceremony.
  - cue: play video
    seconds: 1
"""


@pytest.fixture(scope="module")
def app(settings) -> FastAPI:
    app = FastAPI()
    app.state.settings = settings
    app.state.token = ORG  # synthesis is the organizer's (tingshuo.server.auth)
    app.state.models = Models(settings)  # the server's voices
    app.include_router(api_anchor.router)
    pages.mount_static(app)  # the shared scripts the stage loads (icons, captions)
    return app


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app, headers={"Authorization": f"Bearer {ORG}"}) as c:
        yield c


def test_say_returns_playable_audio_with_unit_and_mouth_timings(client):
    r = client.post("/api/anchor/say", json={"text": "欢迎来到2026年的大会。", "lang": "zh"})
    assert r.status_code == 200, r.text
    body = r.json()
    wav = base64.b64decode(body["audio"].split(",", 1)[1])
    with wave.open(io.BytesIO(wav)) as w:
        assert w.getnframes() / w.getframerate() == pytest.approx(body["duration"], abs=0.01)
    starts = [u["start"] for u in body["units"]]
    assert starts == sorted(starts) and body["units"][-1]["end"] <= body["duration"] + 1e-3
    assert "".join(u["text"] for u in body["units"]).startswith("欢迎来到二零二六年")
    assert {m[2] for m in body["mouth"]} <= set(VISEMES) and len({m[2] for m in body["mouth"]}) > 2


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"text": "", "lang": "zh"}, "the text is empty"),
        ({"text": "hi", "lang": "x1"}, "unknown language"),
        ({"text": "你好😀", "lang": "zh"}, "cannot say"),
    ],
)
def test_say_refuses_bad_lines_with_a_reason(client, payload, message):
    r = client.post("/api/anchor/say", json=payload)
    assert r.status_code == 400 and message in r.json()["detail"]


def test_rundown_endpoint_parses_and_names_the_bad_line(client):
    ok = client.post("/api/anchor/rundown", json={"text": STAGE_RUNDOWN})
    assert ok.status_code == 200
    assert [s["kind"] for s in ok.json()["segments"]] == ["say", "cue"]
    bad = client.post("/api/anchor/rundown", json={"text": "segments:\n  - sing: la\n"})
    assert bad.status_code == 400 and "line 2: unknown key 'sing'" in bad.json()["detail"]


def test_stage_page_and_presenter_drawing_are_served(client):
    page = client.get("/room/abc/stage")
    assert page.status_code == 200 and '<svg id="presenter"' in page.text
    assert client.get("/anchor-static/stage.js").status_code == 200
    drawing = client.get("/api/anchor/presenter").json()
    assert set(drawing["mouths"]) == set(VISEMES) and drawing["body"]


@needs_chromium
def test_stage_page_advances_subtitles_as_the_audio_plays(app, settings, tmp_path):
    with LiveServer(app, settings) as server:
        driver = chromium(tmp_path)
        try:
            # rehearsal: the page's own buttons and rundown, synthesis with the organizer token
            driver.get(f"{server.url}/room/r1/stage?rehearse=1&token={ORG}")
            wait_for(driver, "document.querySelector('#presenter ellipse')", 20, "the presenter")
            # its buttons are drawn icons, no emoji font needed
            assert not EMOJI.search(driver.find_element("tag name", "header").text)
            icons = driver.execute_script(SHOWN_ICONS)
            assert len(icons) == 4 and all(w > 8 and h > 8 for _, w, h in icons), icons
            loaded = driver.execute_async_script(
                "const done = arguments[arguments.length - 1];"
                "window.tingshuoStage.loadRundown(arguments[0], 'yaml').then(done);",
                STAGE_RUNDOWN,
            )
            assert loaded
            driver.execute_script("window.tingshuoStage.perform(0)")
            said, mouths = [], set()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                value = driver.execute_script(
                    "const s = document.getElementById('subtitles');"
                    "const l = s.querySelector('.line.speaking');"
                    "return [s.dataset.said, l && l.lang, "
                    "document.getElementById('presenter').dataset.mouth]"
                )
                if value[0] is not None and value[1]:
                    said.append((value[1], float(value[0])))
                mouths.add(value[2])
                if said and said[-1] == ("en", 1.0):
                    break
                time.sleep(0.05)
            zh = [v for lang, v in said if lang == "zh"]
            assert zh and zh == sorted(zh) and 0 < zh[len(zh) // 2] < 1, said
            assert ("en", 1.0) in said  # then the English line, to its end
            assert len(mouths - {"rest", None}) >= 2  # the mouth moved with the speech
            driver.execute_script("window.tingshuoStage.perform(1)")  # the cue: a card
            wait_for(driver, "document.getElementById('card').style.visibility === 'visible'", 10)
            heading = driver.find_element("id", "card-heading").text
            assert "play video" in heading
        finally:
            driver.quit()
