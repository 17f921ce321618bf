"""A room's voices: listed with their captions, renamed everywhere (past captions, exports,
and what the live diarizer calls later ones), two merged into one; the console's panel."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient
from websockets.sync.client import connect

from tingshuo.events import Segment
from tingshuo.server.app import create_app
from tingshuo.settings import Settings
from tingshuo.speakers import Voice
from tingshuo.store.db import SavedVoice, Store

from .helpers import (
    AUTH,
    ORG,
    Viewer,
    audio_url,
    by_id,
    chromium,
    create_room,
    events_url,
    needs_chromium,
    speech,
    stream,
    wait_for,
)

DIM = 4


def _unit(i: int) -> list[float]:
    v = [0.0] * DIM
    v[i] = 1.0
    return v


def said(store: Store, room_id: str, speakers: list[str | None]) -> list[Segment]:
    """Captions of a session held in the room, one per speaker given."""
    session = store.create_session("panel", lang="zh", room_id=room_id)
    return [
        store.add_segment(
            Segment(
                session_id=session.id,
                start=3.0 * i,
                end=3.0 * i + 2,
                lang="zh",
                text=f"第{i + 1}句话。",
                speaker=name,
            )
        )
        for i, name in enumerate(speakers)
    ]


@pytest.fixture(params=["sqlite", "postgres"])
def client(request, worker, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'tingshuo.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    settings = Settings(database_url=url, token=ORG)
    with TestClient(create_app(settings, worker=worker)) as c:
        yield c


def test_voices_are_listed_renamed_everywhere_and_merged(client):
    room = client.post("/api/rooms", json={"name": "圆桌 Panel", "lang": "zh"}, headers=AUTH)
    rid, vt = room.json()["id"], room.json()["viewer_token"]
    store = client.app.state.store
    for i, name in enumerate(["Speaker 1", "Speaker 2", "Speaker 3"]):
        store.save_voice(rid, SavedVoice(position=i, name=name, total=_unit(i), utterances=1))
    segs = said(store, rid, ["Speaker 1", "Speaker 2", "Speaker 1", None, "Speaker 3"])
    ids = [s.id for s in segs]
    url = f"/api/rooms/{rid}/speakers"

    listed = client.get(url, headers=AUTH)
    assert listed.status_code == 200
    assert listed.json() == [
        {"name": "Speaker 1", "captions": 2},
        {"name": "Speaker 2", "captions": 1},
        {"name": "Speaker 3", "captions": 1},
    ]
    assert client.get(url, params={"token": vt}).status_code == 403  # the organizer's
    assert client.get(url).status_code == 401

    with client.websocket_connect(f"/ws/rooms/{rid}/events?token={vt}") as ws:
        assert ws.receive_json()["type"] == "hello"
        while ws.receive_json()["type"] != "caught_up":
            pass
        r = client.post(f"{url}/rename", json={"old": "Speaker 1", "new": "李明教授"}, headers=AUTH)
        assert r.json() == {"renamed": 2}
        # one event: every open page relabels at once
        event = ws.receive_json()
        assert (event["type"], event["segment_ids"], event["speaker"]) == (
            "speaker",
            [ids[0], ids[2]],
            "李明教授",
        )

        r = client.post(
            f"{url}/merge", json={"from": "Speaker 3", "into": "Speaker 2"}, headers=AUTH
        )
        assert r.json() == {"merged": 1}
        event = ws.receive_json()
        assert (event["segment_ids"], event["speaker"]) == ([ids[4]], "Speaker 2")

    assert client.get(url, headers=AUTH).json() == [
        {"name": "李明教授", "captions": 2},
        {"name": "Speaker 2", "captions": 2},
    ]
    # the voices themselves: renamed, and the merged two one (their sums added, positions
    # closed up as the diarizer numbers them)
    voices = store.voices(rid)
    assert [(v.position, v.name, v.utterances) for v in voices] == [
        (0, "李明教授", 1),
        (1, "Speaker 2", 2),
    ]
    assert voices[1].total == [0.0, 1.0, 1.0, 0.0]

    txt = client.get(f"/api/rooms/{rid}/export", params={"format": "txt"}, headers=AUTH).text
    lines = txt.strip().splitlines()
    assert "Speaker 1" not in txt and "Speaker 3" not in txt
    assert [line.split("] ", 1)[1].split(":", 1)[0] for line in lines[:3]] == [
        "李明教授",
        "Speaker 2",
        "李明教授",
    ]

    # a name another voice has: the same person, so the two voices become one
    r = client.post(f"{url}/rename", json={"old": "Speaker 2", "new": "李明教授"}, headers=AUTH)
    assert r.json() == {"renamed": 2, "merged": True}
    assert client.get(url, headers=AUTH).json() == [{"name": "李明教授", "captions": 4}]
    [voice] = store.voices(rid)
    assert (voice.name, voice.utterances, voice.total) == ("李明教授", 3, [1.0, 1.0, 1.0, 0.0])

    bad = client.post(f"{url}/merge", json={"from": "李明教授", "into": "李明教授"}, headers=AUTH)
    assert bad.status_code == 400
    gone = client.post(f"{url}/merge", json={"from": "Speaker 9", "into": "李明教授"}, headers=AUTH)
    assert gone.status_code == 404
    blank = client.post(f"{url}/rename", json={"old": "李明教授", "new": "  "}, headers=AUTH)
    assert blank.status_code == 422


def test_the_room_s_diarizer_learns_a_rename_and_a_merge_at_once(worker, tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'tingshuo.db'}", token=ORG)
    near = [0.0, 0.9, 0.436, 0.0]  # Speaker 3: a voice much like Speaker 2's
    with TestClient(create_app(settings, worker=worker)) as client:
        rid = client.post("/api/rooms", json={"name": "Panel"}, headers=AUTH).json()["id"]
        store = client.app.state.store
        for i, (name, total) in enumerate(
            [("Speaker 1", _unit(0)), ("Speaker 2", _unit(1)), ("Speaker 3", near)]
        ):
            store.save_voice(rid, SavedVoice(position=i, name=name, total=total, utterances=1))
        said(store, rid, ["Speaker 1", "Speaker 2", "Speaker 3"])
        store.flush(5)
        diarizer = client.app.state.rooms.diarizer(rid)  # as the room's next start has it
        assert diarizer.turns.names == ["Speaker 1", "Speaker 2", "Speaker 3"]
        url = f"/api/rooms/{rid}/speakers"
        client.post(f"{url}/rename", json={"old": "Speaker 1", "new": "李明教授"}, headers=AUTH)
        client.post(f"{url}/merge", json={"from": "Speaker 2", "into": "Speaker 3"}, headers=AUTH)

        assert diarizer.turns.names == ["李明教授", "Speaker 3"]
        # a caption labelled just before is stored under the voice's name now
        assert diarizer.current("Speaker 1") == "李明教授"
        assert diarizer.current("Speaker 2") == "Speaker 3"
        store.flush(5)
        voices = [(v.position, v.name, v.utterances) for v in store.voices(rid)]
        assert voices == [(0, "李明教授", 1), (1, "Speaker 3", 2)]
        # Speaker 2's voice is Speaker 3's from now on
        assert diarizer.label(Voice(np.asarray(_unit(1), dtype=np.float32), 3.0)) == "Speaker 3"


def test_a_caption_heard_after_a_rename_carries_the_new_name(server, aishell_rows):
    first, second = (by_id(aishell_rows)[u] for u in ["BAC009S0252W0171", "BAC009S0252W0252"])
    room = server.room()
    viewer = Viewer(events_url(server, room))
    viewer.connected.wait(10)
    with connect(audio_url(server, room)) as ws:
        ws.send(json.dumps({"type": "start"}))
        ws.recv(timeout=10)
        stream(ws, speech([first], gap_s=1.5), speed=0)
        deadline = time.monotonic() + 60
        while not viewer.finals() and time.monotonic() < deadline:
            time.sleep(0.05)
        [heard] = viewer.finals()
        assert heard["speaker"] == "Speaker 1"
        # named while the room listens: the next sentence of that voice is not heard yet
        r = server.http.post(
            f"/api/rooms/{room['id']}/speakers/rename", json={"old": "Speaker 1", "new": "李明教授"}
        )
        assert r.json() == {"renamed": 1}
        stream(ws, speech([second], gap_s=1.5), speed=0)
        ws.send(json.dumps({"type": "stop"}))
        ws.recv(timeout=60)
    viewer.join(60)
    finals = viewer.finals()
    assert [f["speaker"] for f in finals] == ["Speaker 1", "李明教授"]
    named = [m for m in viewer.events if m["type"] == "speaker"]
    assert [(m["segment_ids"], m["speaker"]) for m in named] == [([heard["id"]], "李明教授")]
    stored = server.http.get(f"/api/rooms/{room['id']}/segments").json()
    assert [s["speaker"] for s in stored] == ["李明教授", "李明教授"]
    listed = server.http.get(f"/api/rooms/{room['id']}/speakers").json()
    assert listed == [{"name": "李明教授", "captions": 2}]
    server.app.state.store.flush(5)
    assert [v.name for v in server.app.state.store.voices(room["id"])] == ["李明教授"]


@needs_chromium
def test_the_console_s_speakers_panel_renames_a_voice_on_every_page(server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    speakers = "[...document.querySelectorAll('#captions .seg.final')].map((r) => r.dataset.spk)"
    listed = (
        "[...document.querySelectorAll('#speakers-list li')]"
        ".map((li) => li.dataset.name + ' ' + li.querySelector('.count').textContent).join('|')"
    )
    driver = chromium(tmp_path)
    try:
        room = create_room(driver, server, "发言人 Panel")
        said(server.app.state.store, room["id"], ["Speaker 1", "Speaker 2", "Speaker 1"])
        console = driver.current_window_handle
        driver.switch_to.new_window("tab")
        driver.set_window_size(390, 844)
        driver.get(room["links"]["phone"])
        phone = driver.current_window_handle
        wait_for(driver, "window.tsCaptions.finals().length === 3", 20, "the phone's captions")

        driver.switch_to.window(console)
        driver.find_element(By.CSS_SELECTOR, f"#rooms li[data-id='{room['id']}']").click()
        wait_for(driver, "window.tsConsole.view.finals().length === 3", 20, "the captions")
        assert driver.find_element(By.ID, "speakers-panel").is_displayed()
        wait_for(driver, f"{listed} === 'Speaker 1 2 条字幕 captions|Speaker 2 1 条字幕 captions'")

        box = driver.find_element(By.CSS_SELECTOR, "#speakers-list li[data-name='Speaker 1'] input")
        box.clear()
        box.send_keys("李明教授", Keys.ENTER)
        relabelled = "['李明教授', 'Speaker 2', '李明教授']"
        wait_for(driver, f"JSON.stringify({speakers}) === JSON.stringify({relabelled})", 10)
        wait_for(driver, f"{listed}.startsWith('李明教授 2')", 10, "the list renamed")
        driver.switch_to.window(phone)
        wait_for(driver, f"JSON.stringify({speakers}) === JSON.stringify({relabelled})", 10)

        # a clicked caption offers its voice's rename; the merge joins two voices
        driver.switch_to.window(console)
        driver.find_elements(By.CSS_SELECTOR, "#captions .seg.final .who")[1].click()
        offered = driver.find_element(By.ID, "offer-name")
        assert offered.is_displayed() and offered.get_attribute("value") == "Speaker 2"
        offered.send_keys(Keys.CONTROL, "a")
        offered.send_keys("王总", Keys.ENTER)
        wait_for(driver, f"{speakers}[1] === '王总'", 10, "the clicked caption's voice renamed")
        wait_for(driver, f"{listed}.includes('王总 1')", 10, "the list renamed")

        def choose(select_id: str, value: str) -> None:
            # the list is drawn again when any of the room's captions changes: choose again
            # if the options were replaced under the click
            from selenium.common.exceptions import StaleElementReferenceException

            for _ in range(5):
                try:
                    Select(driver.find_element(By.ID, select_id)).select_by_value(value)
                    return
                except StaleElementReferenceException:
                    time.sleep(0.2)
            raise AssertionError(f"could not choose {value} in #{select_id}")

        choose("merge-from", "王总")
        choose("merge-into", "李明教授")
        driver.find_element(By.ID, "btn-merge").click()
        wait_for(driver, f"{listed} === '李明教授 3 条字幕 captions'", 10, "one voice left")
        assert set(driver.execute_script(f"return {speakers}")) == {"李明教授"}
        driver.switch_to.window(phone)
        wait_for(driver, f"{speakers}.every((s) => s === '李明教授')", 10)
        driver.switch_to.window(console)
        assert driver.find_element(By.ID, "speakers-error").text == ""
    finally:
        driver.quit()
