"""The AI anchor in a live room, over REST and the events socket: rundown, stepping, tokens,
and the anchor's lines in the room's transcript (real voices, real store)."""

from __future__ import annotations

import base64
import io
import re
import time
import wave

import pytest
from fastapi.testclient import TestClient

from tingshuo.server.app import create_app
from tingshuo.settings import Settings

from .helpers import AUTH, ORG, LiveServer, chromium, needs_chromium, wait_for

RUNDOWN = """\
title: 开幕式 Opening
languages: [zh, en]
segments:
  - say:
      zh: 各位来宾，大家好！
      en: Good morning, everyone!
  - cue: play video
    seconds: 2
  - speaker: 李明教授
    title: 主旨演讲 Keynote
    say: {zh: 下面有请李明教授。}
"""

MARKDOWN = """\
---
title: Short
languages: [zh]
---
zh: 欢迎大家。

[pause 1]
"""


@pytest.fixture(scope="module")
def client(worker, tmp_path_factory):
    folder = tmp_path_factory.mktemp("anchor-room")
    settings = Settings(database_url=f"sqlite:///{folder / 'tingshuo.db'}", token=ORG)
    with TestClient(create_app(settings, worker=worker)) as c:
        yield c


def make_room(client, **body) -> dict:
    r = client.post("/api/rooms", json={"name": "主会场", "lang": "zh", **body}, headers=AUTH)
    assert r.status_code == 201, r.text
    return r.json()


def load(client, room: dict, text: str = RUNDOWN, fmt: str = "yaml"):
    return client.put(
        f"/api/rooms/{room['id']}/anchor/rundown",
        json={"text": text, "format": fmt},
        headers=AUTH,
    )


def test_rundown_upload_good_and_malformed(client):
    room = make_room(client)
    base = f"/api/rooms/{room['id']}/anchor"
    assert client.get(base, headers=AUTH).json() == {
        "loaded": False,
        "title": "",
        "languages": [],
        "segments": [],
        "index": -1,
        "cue": 0,
        "skipped": [],
    }
    ok = load(client, room)
    assert ok.status_code == 200, ok.text
    state = ok.json()
    assert state["title"] == "开幕式 Opening" and state["index"] == -1
    assert [s["kind"] for s in state["segments"]] == ["say", "cue", "speaker"]
    assert state["segments"][2]["lines"] == {"zh": "下面有请李明教授。"}
    bad = load(client, room, "segments:\n  - say: {zh: 好}\n  - sing: la\n")
    assert bad.status_code == 400
    assert "line 3: unknown key 'sing'" in bad.json()["detail"]
    bad_md = load(client, room, "---\ntitle: x\n---\nzh: 好\nhello there\n", "markdown")
    assert (
        bad_md.status_code == 400 and "line 5: cannot read 'hello there'" in bad_md.json()["detail"]
    )
    # a refused rundown leaves the loaded one in place
    assert client.get(base, headers=AUTH).json()["title"] == "开幕式 Opening"
    md = load(client, room, MARKDOWN, "markdown")
    assert [s["kind"] for s in md.json()["segments"]] == ["say", "pause"]
    assert client.delete(f"{base}/rundown", headers=AUTH).status_code == 204
    assert client.get(base, headers=AUTH).json()["loaded"] is False
    assert client.post(f"{base}/next", headers=AUTH).status_code == 409  # nothing to step


def test_tokens_organizer_steps_viewer_watches(client):
    room = make_room(client)
    base = f"/api/rooms/{room['id']}/anchor"
    viewer = {"Authorization": f"Bearer {room['viewer_token']}"}
    body = {"text": RUNDOWN, "format": "yaml"}
    assert client.put(f"{base}/rundown", json=body).status_code == 401
    assert client.put(f"{base}/rundown", json=body, headers=viewer).status_code == 403
    assert load(client, room).status_code == 200
    for action in ("next", "previous", "repeat", "skip"):
        assert client.post(f"{base}/{action}").status_code == 401
        assert client.post(f"{base}/{action}", headers=viewer).status_code == 403
    assert client.delete(f"{base}/rundown", headers=viewer).status_code == 403
    assert client.get(base).status_code == 401
    assert client.get(base, headers={"Authorization": "Bearer nope"}).status_code == 403
    assert client.get(base, params={"token": room["viewer_token"]}).json()["loaded"] is True
    other = make_room(client)  # a viewer token opens its own room only
    assert client.get(base, params={"token": other["viewer_token"]}).status_code == 403
    assert client.get("/api/rooms/nosuchroom00000/anchor", headers=AUTH).status_code == 404
    # synthesizing free text is the organizer's; the page shell and drawing are open
    say = {"text": "你好", "lang": "zh"}
    assert client.post("/api/anchor/say", json=say).status_code == 401
    assert client.post("/api/anchor/say", json=say, headers=viewer).status_code == 403
    assert client.get(f"/room/{room['id']}/stage").status_code == 200
    assert client.get("/api/anchor/presenter").status_code == 200
    assert client.get("/learn").status_code == 200  # the learner's page is public
    stage_link = f"/room/{room['id']}/stage?token={room['viewer_token']}&stage="
    assert stage_link in room["links"]["stage"]


def _next_events(ws, n: int) -> list[dict]:
    return [ws.receive_json() for _ in range(n)]


def test_stepping_is_broadcast_and_the_anchor_is_captioned(client):
    room = make_room(client, targets=["en"])
    base = f"/api/rooms/{room['id']}/anchor"
    events = f"/ws/rooms/{room['id']}/events?token={room['viewer_token']}"
    with client.websocket_connect(events) as ws:
        assert ws.receive_json()["type"] == "hello"
        assert ws.receive_json()["type"] == "caught_up"
        assert load(client, room).status_code == 200
        loaded = ws.receive_json()
        assert loaded["type"] == "anchor_rundown" and loaded["segments"] == 3

        assert client.post(f"{base}/previous", headers=AUTH).status_code == 409
        first = client.post(f"{base}/next", headers=AUTH)
        assert first.status_code == 200, first.text
        cue, final = _next_events(ws, 2)
        assert cue["type"] == "anchor_cue" and cue["action"] == "next" and cue["index"] == 0
        assert cue["segment"]["lines"]["en"] == "Good morning, everyone!"
        # the anchor's words are a caption like any speaker's: stored, then broadcast
        assert final["type"] == "final" and final["seq"] == cue["seq"] + 1
        seg = final["segment"]
        assert seg["id"] == cue["caption_id"] == first.json()["caption"]["id"]
        assert seg["speaker"] == "AI主播" and seg["lang"] == "zh"
        assert seg["text"] == "各位来宾，大家好！"
        # the rundown's own English, not machine translation (no MT model is loaded)
        assert seg["translations"] == {"en": "Good morning, everyone!"}
        # both languages are spoken: the caption lasts as long as the two voices and the gap
        zh = client.get(f"{base}/say", params={"index": 0, "lang": "zh"}, headers=AUTH).json()
        en = client.get(f"{base}/say", params={"index": 0, "lang": "en"}, headers=AUTH).json()
        assert seg["end"] - seg["start"] == pytest.approx(
            zh["duration"] + en["duration"] + 0.5, abs=0.01
        )
        stored = client.get(
            f"/api/rooms/{room['id']}/segments", params={"token": room["viewer_token"]}
        ).json()
        assert [(s["id"], s["speaker"], s["translations"]) for s in stored] == [
            (seg["id"], "AI主播", {"en": "Good morning, everyone!"})
        ]

        assert client.post(f"{base}/next", headers=AUTH).json()["caption"] is None  # a cue card
        cue = ws.receive_json()
        assert cue["type"] == "anchor_cue" and cue["index"] == 1 and cue["caption_id"] is None
        assert cue["segment"]["cue"] == "play video"

        skip = client.post(f"{base}/skip", headers=AUTH).json()
        assert skip["index"] == 2
        skipped = ws.receive_json()
        assert (skipped["type"], skipped["index"], skipped["cue"]) == (
            "anchor_skip",
            2,
            skip["cue"],
        )
        state = client.get(base, headers=AUTH).json()
        assert state["index"] == 2 and state["skipped"] == [2]
        assert client.post(f"{base}/next", headers=AUTH).status_code == 409  # the end

        back = client.post(f"{base}/previous", headers=AUTH).json()
        assert back["index"] == 1 and ws.receive_json()["action"] == "previous"
        again = client.post(f"{base}/repeat", headers=AUTH).json()
        assert again["index"] == 1 and again["cue"] == back["cue"] + 1
        assert ws.receive_json()["action"] == "repeat"

    # the anchor's captions went to a session of the room, replayed like any other
    sessions = client.get(f"/api/rooms/{room['id']}/sessions", headers=AUTH).json()
    assert [s["source"] for s in sessions] == ["AI anchor"]


def test_room_say_serves_the_cued_lines_audio_once(client):
    room = make_room(client)
    base = f"/api/rooms/{room['id']}/anchor"
    load(client, room, MARKDOWN, "markdown")
    params = {"index": 0, "lang": "zh", "token": room["viewer_token"]}
    first = client.get(f"{base}/say", params=params)
    assert first.status_code == 200, first.text
    body = first.json()
    wav = base64.b64decode(body["audio"].split(",", 1)[1])
    with wave.open(io.BytesIO(wav)) as w:
        assert w.getnframes() / w.getframerate() == pytest.approx(body["duration"], abs=0.01)
    assert "".join(u["text"] for u in body["units"]).startswith("欢迎大家")
    assert client.get(f"{base}/say", params=params).json() == body  # cached, same speech
    assert client.get(f"{base}/say", params={**params, "lang": "en"}).status_code == 404
    assert client.get(f"{base}/say", params={**params, "index": 5}).status_code == 404


def test_a_line_the_rundown_gives_in_one_language_is_machine_translated(client):
    room = make_room(client, targets=["en"])
    base = f"/api/rooms/{room['id']}/anchor"
    rundown = "languages: [zh]\nsegments:\n  - say: 欢迎各位来宾参加今天的开幕式。\n"
    events = f"/ws/rooms/{room['id']}/events?token={room['viewer_token']}"
    with client.websocket_connect(events) as ws:
        assert [ws.receive_json()["type"] for _ in range(2)] == ["hello", "caught_up"]
        assert load(client, room, rundown).status_code == 200
        assert ws.receive_json()["type"] == "anchor_rundown"
        assert client.post(f"{base}/next", headers=AUTH).status_code == 200
        cue, final, translation = _next_events(ws, 3)
        assert (cue["type"], final["type"], translation["type"]) == (
            "anchor_cue",
            "final",
            "translation",
        )
        while translation["partial"]:  # the words so far, as the model writes them
            translation = ws.receive_json()
            assert translation["type"] == "translation"
        assert final["segment"]["translations"] == {}  # not in the rundown: the translator's
        assert translation["segment_id"] == final["segment"]["id"] and translation["lang"] == "en"
        assert "welcome" in translation["text"].lower()
        assert not any("\u4e00" <= ch <= "\u9fff" for ch in translation["text"])
    stored = client.get(f"/api/rooms/{room['id']}/segments", headers=AUTH).json()
    assert stored[-1]["translations"] == {"en": translation["text"]}  # stored before shown


@needs_chromium
def test_console_steps_the_rundown_stage_speaks_and_screen_captions(worker, tmp_path):
    from selenium.webdriver.common.by import By

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'tingshuo.db'}", token=ORG)
    with LiveServer(create_app(settings, worker=worker), settings) as server:
        room = server.http.post(
            "/api/rooms", json={"name": "开幕式", "lang": "zh", "targets": ["en"]}
        ).json()
        hall = chromium(tmp_path / "hall")  # the screen, then the console, in one browser
        stage = chromium(tmp_path / "stage")  # the stage in its own: a hidden tab would not animate
        try:
            hall.get(room["links"]["screen"])
            screen = hall.current_window_handle
            wait_for(
                hall, "document.getElementById('status').dataset.link === 'online'", 20, "screen"
            )
            stage.get(room["links"]["stage"])
            wait_for(stage, "document.querySelector('#presenter ellipse')", 20, "the presenter")
            wait_for(stage, "document.body.dataset.connection === 'online'", 20, "stage online")
            assert not stage.find_element(By.ID, "next").is_displayed()  # the console steps

            hall.switch_to.new_window("tab")
            hall.get(f"{server.url}/console")
            hall.find_element(By.ID, "token").send_keys(ORG)
            hall.find_element(By.ID, "save-token").click()
            wait_for(hall, f"document.querySelector('#rooms li[data-id=\"{room['id']}\"]')", 20)
            hall.find_element(By.CSS_SELECTOR, f"#rooms li[data-id='{room['id']}']").click()
            wait_for(hall, "!document.getElementById('anchor-panel').hidden", 20, "the panel")
            assert (
                hall.find_element(By.ID, "link-stage").get_attribute("href")
                == (room["links"]["stage"])
            )
            text = hall.find_element(By.ID, "rundown-text")
            text.send_keys("segments:\n- sing: la\n")  # malformed: the line and why are shown
            hall.find_element(By.ID, "rundown-load").click()
            error = wait_for(hall, "document.getElementById('rundown-error').textContent", 20)
            assert "line 2: unknown key 'sing'" in error
            hall.execute_script("arguments[0].value = arguments[1]", text, RUNDOWN)
            hall.find_element(By.ID, "rundown-load").click()
            wait_for(hall, "document.querySelectorAll('#rundown-segments li').length === 3", 20)
            assert hall.find_element(By.ID, "rundown-error").text == ""
            wait_for(stage, "document.getElementById('title').textContent === '开幕式 Opening'", 20)

            hall.find_element(By.ID, "anchor-next").click()
            wait_for(hall, "document.querySelector('#rundown-segments li.current')", 20)
            assert (
                hall.execute_script(
                    "return document.querySelector('#rundown-segments li.current').dataset.index"
                )
                == "0"
            )

            # the stage speaks the cued line, highlighting it as it goes, then the English
            said, mouths = [], set()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                value = stage.execute_script(
                    "const s = document.getElementById('subtitles');"
                    "const l = s.querySelector('.line.speaking');"
                    "return [s.dataset.said, l && l.lang, l && l.textContent, "
                    "document.getElementById('presenter').dataset.mouth]"
                )
                if value[0] is not None and value[1]:
                    said.append((value[1], float(value[0]), value[2]))
                mouths.add(value[3])
                if said and said[-1][:2] == ("en", 1.0):
                    break
                time.sleep(0.05)
            zh = [(v, t) for lang, v, t in said if lang == "zh"]
            assert zh and zh[0][1] == "各位来宾，大家好！", said
            assert [v for v, _ in zh] == sorted(v for v, _ in zh) and 0 < zh[len(zh) // 2][0] < 1
            assert said[-1] == ("en", 1.0, "Good morning, everyone!")
            assert len(mouths - {"rest", None}) >= 2  # the mouth moved with the voice

            # the console's caption list and the hall's screen show the anchor like a speaker
            wait_for(hall, "document.querySelector('#captions .seg.final .spk')", 20)
            assert hall.find_element(By.CSS_SELECTOR, "#captions .seg.final .spk").text == (
                "AI主播:"
            )
            hall.switch_to.window(screen)
            wait_for(hall, "window.tsCaptions.finals().length === 1", 20, "the anchor caption")
            row = hall.find_element(By.CSS_SELECTOR, "#captions .seg.final")
            assert "各位来宾，大家好！" in row.text and "Good morning, everyone!" in row.text
            assert row.find_element(By.CSS_SELECTOR, ".spk").text == "AI主播:"

            # the next step is a cue for the crew: on the console, never on the audience's stage
            hall.switch_to.window(hall.window_handles[-1])
            hall.find_element(By.ID, "anchor-next").click()
            wait_for(
                hall,
                "document.querySelector('#rundown-segments li.current')?.dataset.index === '1'",
                20,
            )
            # found after the list settled: the list is drawn again as the cue comes
            current = hall.find_element(By.CSS_SELECTOR, "#rundown-segments li.current")
            assert "play video" in current.text
            time.sleep(1)  # the stage has had the cue
            assert (
                stage.find_element(By.ID, "card").value_of_css_property("visibility") != "visible"
            )
            assert "play video" not in stage.find_element(By.TAG_NAME, "body").text
            # then the keynote speaker: a name card while the anchor introduces them
            hall.find_element(By.ID, "anchor-next").click()
            wait_for(stage, "document.getElementById('card').style.visibility === 'visible'", 20)
            assert stage.find_element(By.ID, "card-heading").text == "李明教授"
            assert "Keynote" in stage.find_element(By.ID, "card-text").text
            box = stage.find_element(By.ID, "card").rect
            size = stage.get_window_size()
            assert box["width"] > 0 and box["y"] >= 0 and box["y"] + box["height"] <= size["height"]
            # the audience sees no crew's bookkeeping: no "3/3", no rundown line number
            shown = stage.find_element(By.TAG_NAME, "header").text
            assert not re.search(r"\d+\s*/\s*\d+|line \d", shown), shown
        finally:
            hall.quit()
            stage.quit()


def test_a_restarted_server_goes_on_from_the_segment_cued_last(worker, tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'tingshuo.db'}", token=ORG)
    with TestClient(create_app(settings, worker=worker)) as first:
        room = make_room(first)
        base = f"/api/rooms/{room['id']}/anchor"
        assert load(first, room).status_code == 200
        assert first.post(f"{base}/next", headers=AUTH).json()["index"] == 0
        assert first.post(f"{base}/skip", headers=AUTH).json()["index"] == 1
    with TestClient(create_app(settings, worker=worker)) as second:  # the same database
        state = second.get(base, headers=AUTH).json()
        assert state["loaded"] and state["title"] == "开幕式 Opening"
        assert (state["index"], state["skipped"], state["cue"]) == (1, [1], 2)
        cued = second.post(f"{base}/next", headers=AUTH).json()
        assert (cued["index"], cued["cue"]) == (2, 3)
        assert cued["caption"]["text"] == "下面有请李明教授。"
        assert second.delete(f"{base}/rundown", headers=AUTH).status_code == 204
    with TestClient(create_app(settings, worker=worker)) as third:
        assert third.get(base, headers=AUTH).json()["loaded"] is False
