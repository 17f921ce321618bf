"""Spoken interpretation: each caption's translation spoken once for every listener, the
room's ongoing MP3 stream, and a phone with Listen on playing the lines in caption order."""

from __future__ import annotations

import io
import logging
import threading
import time

import av
import httpx
import numpy as np

from tingshuo.events import Final, Segment, Translation
from tingshuo.mt.base import CJK

from .helpers import chromium, needs_chromium, wait_for

LINES = [
    ("各位来宾，大家好。", "Good morning, everyone."),
    ("会议现在开始。", "The meeting starts now."),
    ("请大家关闭手机。", "Please switch off your phones."),
]


def decoded(data: bytes) -> np.ndarray:
    with av.open(io.BytesIO(data)) as f:
        return np.concatenate([fr.to_ndarray().reshape(-1) for fr in f.decode(audio=0)])


def captions(server, room: dict, lines=LINES) -> list[Segment]:
    """Captions said in the room, each followed by its English translation (as the room's
    translator sends them), published live."""
    store, rooms = server.app.state.store, server.app.state.rooms
    session = store.create_session("talk", lang="zh", room_id=room["id"])
    out = []
    for i, (zh, en) in enumerate(lines):
        seg = store.add_segment(
            Segment(session_id=session.id, start=3 * i, end=3 * i + 2, lang="zh", text=zh)
        )
        rooms.publish(room["id"], Final(utterance=i, segment=seg))
        store.set_translation(seg.id, "en", en)
        rooms.publish(room["id"], Translation(segment_id=seg.id, utterance=i, lang="en", text=en))
        out.append(seg.model_copy(update={"translations": {"en": en}}))
    return out


def test_a_caption_is_spoken_once_for_every_listener_and_bad_asks_are_refused(server):
    room = server.room(name="听译 Listen", targets=["en"])
    segs = captions(server, room)
    url = f"/api/rooms/{room['id']}/speech/{segs[0].id}"
    viewer = {"token": room["viewer_token"]}
    first = server.http.get(url, params={"lang": "en", **viewer})
    assert first.status_code == 200 and first.headers["content-type"] == "audio/mpeg"
    samples = decoded(first.content)
    assert np.abs(samples).max() > 0.1  # speech, not silence (float samples)
    assert 0.8 < float(first.headers["x-duration"]) < 4
    made = server.app.state.interpreter.synthesized
    again = [server.http.get(url, params={"lang": "en", **viewer}) for _ in range(5)]
    assert all(r.content == first.content for r in again)
    assert server.app.state.interpreter.synthesized == made  # from the cache
    # its own words in the room's language
    assert server.http.get(url, params={"lang": "zh", **viewer}).status_code == 200

    # a phone that turned Listen on: the next line is made before anyone asks for it
    listening = server.http.post(f"/api/rooms/{room['id']}/listen", params={"lang": "en", **viewer})
    assert listening.status_code == 204
    interpreter = server.app.state.interpreter
    made = interpreter.synthesized
    (thanks,) = captions(server, room, [("谢谢大家。", "Thank you all.")])
    deadline = time.monotonic() + 20
    while interpreter.synthesized == made and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    made = interpreter.synthesized
    asked = server.http.get(
        f"/api/rooms/{room['id']}/speech/{thanks.id}", params={"lang": "en", **viewer}
    )
    assert asked.status_code == 200 and interpreter.synthesized == made  # made already

    other = server.room(name="别的 Other")
    bad = [
        (url, {"lang": "fr", **viewer}, 404, "not interpreted into 'fr'"),
        (url, {"lang": "en", "token": "nope"}, 403, "wrong viewer token"),
        (f"/api/rooms/{room['id']}/speech/999999", {"lang": "en", **viewer}, 404, "no caption"),
        (f"/api/rooms/{other['id']}/speech/{segs[0].id}",
         {"lang": "zh", "token": other["viewer_token"]}, 404, "no caption"),
    ]  # fmt: skip
    with httpx.Client(base_url=server.url) as plain:  # no organizer header: the viewer's view
        for path, params, status, said in bad:
            r = plain.get(path, params=params)
            assert r.status_code == status, (path, r.text)
            assert said in r.json()["detail"]


def test_a_line_s_first_words_are_spoken_while_its_translation_is_written(server):
    room = server.room(name="边译边说 Pieces", targets=["en"])
    params = {"lang": "en", "token": room["viewer_token"]}
    assert server.http.post(f"/api/rooms/{room['id']}/listen", params=params).status_code == 204
    time.sleep(0.3)
    store, rooms = server.app.state.store, server.app.state.rooms
    session = store.create_session("talk", lang="zh", room_id=room["id"])
    seg = store.add_segment(
        Segment(
            session_id=session.id,
            start=0,
            end=4,
            lang="zh",
            text="各位来宾，大家好，会议现在开始。",
        )
    )
    rooms.publish(room["id"], Final(utterance=0, segment=seg))
    url = f"/api/rooms/{room['id']}/speech/{seg.id}"

    def draft(text: str, partial: bool = True) -> None:
        event = Translation(segment_id=seg.id, utterance=0, lang="en", text=text, partial=partial)
        rooms.publish(room["id"], event)

    began = time.monotonic()
    assert server.http.get(url, params={**params, "part": 0, "wait": 0.5}).status_code == 204
    assert time.monotonic() - began >= 0.4  # waited for a first piece that did not come
    for text in ["Ladies and", "Ladies and gentlemen, good", "Ladies and gentlemen, good morning"]:
        draft(text)
    first = server.http.get(url, params={**params, "part": 0, "wait": 5})
    assert first.status_code == 200 and first.headers["x-part"] == "0"
    # the rest is asked for before the translation is complete, and comes when it is
    got: list[httpx.Response] = []
    asking = threading.Thread(
        target=lambda: got.append(server.http.get(url, params={**params, "part": 1, "wait": 8}))
    )
    asking.start()
    time.sleep(0.5)
    whole = "Ladies and gentlemen, good morning. The meeting starts now."
    store.set_translation(seg.id, "en", whole)
    draft(whole, partial=False)
    asking.join(15)
    assert got and got[0].status_code == 200
    assert server.http.get(url, params={**params, "part": 2, "wait": 3}).status_code == 204
    heard = [decoded(r.content) for r in (first, got[0])]
    assert all(np.abs(x).max() > 0.05 for x in heard)
    # the two pieces say what the whole line says: about as long
    line = server.http.get(url, params=params)
    assert line.status_code == 200
    pieces_s = sum(float(r.headers["x-duration"]) for r in (first, got[0]))
    assert 0.7 < pieces_s / float(line.headers["x-duration"]) < 1.4


def _line(server, room: dict, utterance: int, zh: str) -> Segment:
    store, rooms = server.app.state.store, server.app.state.rooms
    session = store.create_session("talk", lang="zh", room_id=room["id"])
    seg = store.add_segment(Segment(session_id=session.id, start=0, end=4, lang="zh", text=zh))
    rooms.publish(room["id"], Final(utterance=utterance, segment=seg))
    return seg


def _pieces(server, room: dict, seg: Segment) -> list[httpx.Response]:
    """What a phone gets of the line, piece by piece, until it has no more."""
    params = {"lang": "en", "token": room["viewer_token"], "wait": 5}
    url = f"/api/rooms/{room['id']}/speech/{seg.id}"
    got = []
    for part in range(10):
        r = server.http.get(url, params={**params, "part": part})
        if r.status_code == 204:
            return got
        got.append(r)
    raise AssertionError("a line without end")


def test_a_piece_holding_chinese_is_never_sent_to_the_english_voice(server):
    room = server.room(name="混写 Mixed script", targets=["en"])
    params = {"lang": "en", "token": room["viewer_token"]}
    assert server.http.post(f"/api/rooms/{room['id']}/listen", params=params).status_code == 204
    time.sleep(0.3)
    rooms = server.app.state.rooms
    seg = _line(server, room, 0, "马斯克说，全自动驾驶机器明年来到青岛。")
    # the drafts of a translation that left a stretch in Chinese (as seen in a browser)
    for text in [
        "Musk said",
        "Musk said that the full自动驾驶",
        "Musk said that the full自动驾驶 machine will come to",
        "Musk said that the full自动驾驶 machine will come to Qingdao next",
    ]:
        rooms.publish(
            room["id"],
            Translation(segment_id=seg.id, utterance=0, lang="en", text=text, partial=True),
        )
    # the complete translation, repaired; and a line whose repair failed (the last resort)
    whole = "Musk said that the fully autonomous machine will come to Qingdao next year."
    rooms.publish(room["id"], Translation(segment_id=seg.id, utterance=0, lang="en", text=whole))
    failed = _line(server, room, 1, "展览在青岛会展中心举行。")
    kept = "The exhibition is held at the 青岛会展中心."
    rooms.publish(room["id"], Translation(segment_id=failed.id, utterance=1, lang="en", text=kept))

    heard = _pieces(server, room, seg) + _pieces(server, room, failed)
    assert [r.status_code for r in heard] == [200] * len(heard) and len(heard) >= 3
    assert all(np.abs(decoded(r.content)).max() > 0.05 for r in heard)  # speech
    script = server.app.state.interpreter.script(room["id"], "en", server.app.state.bus)
    said = [p.text for s in (seg, failed) for p in script.lines[s.id].pieces]
    # the first words went before the translation was complete, none in Chinese
    assert said[0] == "Musk said"
    assert " ".join(said) == f"{whole} The exhibition is held at the."
    assert not any(CJK.search(text) for text in said)
    assert server.app.state.interpreter.unspoken(room["id"]) == {}


def test_a_piece_the_voice_cannot_say_is_counted_and_shown_on_the_console(server, caplog):
    room = server.room(name="说不出 Unspeakable", targets=["en"])
    viewer = {"lang": "en", "token": room["viewer_token"]}
    assert server.http.post(f"/api/rooms/{room['id']}/listen", params=viewer).status_code == 204
    time.sleep(0.3)
    seg = _line(server, room, 0, "销售额增长约百分之五。")
    # a sign the English voice cannot read, as a translation may hold one
    text = "Sales grew ≈ 5 percent."
    with caplog.at_level(logging.WARNING, logger="tingshuo.live.interpretation"):
        server.app.state.rooms.publish(
            room["id"], Translation(segment_id=seg.id, utterance=0, lang="en", text=text)
        )
        url = f"/api/rooms/{room['id']}/speech/{seg.id}"
        # the phone is told so, and goes on: the line has no more pieces
        for _ in range(3):  # asked again by other phones: counted once
            r = server.http.get(url, params={**viewer, "part": 0, "wait": 5})
            assert r.status_code == 422 and r.headers["x-unspoken"] == "1"
            assert "cannot say" in r.json()["detail"]
        assert server.http.get(url, params={**viewer, "part": 1, "wait": 1}).status_code == 204
    warned = [m for m in caplog.messages if "could not speak" in m]
    assert len(warned) == 1 and text in warned[0]
    # the console reads the room (and polls the list of rooms): how many, and why
    got = server.http.get(f"/api/rooms/{room['id']}").json()
    assert got["unspoken"]["en"]["count"] == 1
    assert got["unspoken"]["en"]["text"] == text
    assert "the English voice cannot say '≈'" in got["unspoken"]["en"]["reason"]
    listed = {r["id"]: r for r in server.http.get("/api/rooms").json()}
    assert listed[room["id"]]["unspoken"] == got["unspoken"]
    # not for viewers, and not for the other rooms
    with httpx.Client(base_url=server.url) as plain:
        seen = plain.get(f"/api/rooms/{room['id']}", params={"token": room["viewer_token"]})
        assert seen.status_code == 200 and "unspoken" not in seen.json()
    assert all(r["unspoken"] == {} for i, r in listed.items() if i != room["id"])


def test_the_room_s_interpretation_streams_as_one_mp3_for_every_listener(server):
    room = server.room(name="广播 Stream", targets=["en"])
    url = f"{server.url}/api/rooms/{room['id']}/interpretation.mp3"
    got: list[bytes] = [b"", b""]

    def listen(i: int) -> None:
        with httpx.stream("GET", url, params={"lang": "en", "token": room["viewer_token"]},
                          timeout=30) as r:  # fmt: skip
            assert r.status_code == 200 and r.headers["content-type"] == "audio/mpeg"
            deadline = time.monotonic() + 12
            for chunk in r.iter_bytes():
                got[i] += chunk
                if time.monotonic() > deadline:
                    return

    listeners = [threading.Thread(target=listen, args=(i,)) for i in range(2)]
    for t in listeners:
        t.start()
    time.sleep(1.0)
    captions(server, room, LINES[:2])
    for t in listeners:
        t.join(30)
    samples = decoded(got[0])
    assert np.abs(samples).max() > 0.05  # the lines were spoken into it
    # about real time: 12 s of listening is about 12 s of stream, never minutes of it
    assert 9 < samples.size / 22_050 < 16
    stream = server.app.state.interpreter.stream(room["id"], "en", server.app.state.bus)
    assert stream.dropped == 0


@needs_chromium
def test_a_phone_with_listen_on_plays_the_translations_in_caption_order(server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    room = server.room(name="耳机 Earphones", targets=["en"])
    driver = chromium(tmp_path)
    try:
        driver.set_window_size(390, 844)
        driver.get(f"{server.url}/room/{room['id']}?token={room['viewer_token']}")
        wait_for(driver, "document.getElementById('status').dataset.link === 'online'", 20)
        listen = driver.find_element(By.ID, "listen")
        assert listen.is_displayed()
        assert Select(driver.find_element(By.ID, "listen-lang")).first_selected_option.text == (
            "English"
        )
        listen.click()
        assert driver.find_element(By.ID, "listen-state").is_displayed()
        segs = captions(server, room)
        # a line whose first piece the voice cannot say: the phone goes on with its next one
        odd = _line(server, room, 7, "销售额增长约百分之五，利润也增长了。")
        for text, partial in [
            ("Sales grew ≈ 5 percent, and", True),
            ("Sales grew ≈ 5 percent, and profits rose too.", False),
        ]:
            event = Translation(segment_id=odd.id, utterance=7, lang="en", text=text,
                                partial=partial)  # fmt: skip
            server.app.state.rooms.publish(room["id"], event)
        ids = [s.id for s in segs] + [odd.id]
        wait_for(driver, f"window.tsListen.played.length === {len(ids)}", 30, "every line played")
        assert driver.execute_script("return window.tsListen.played") == ids
        unspoken = server.app.state.interpreter.unspoken(room["id"])
        assert unspoken["en"].count == 1 and unspoken["en"].text == "Sales grew ≈ 5 percent,"
        # what it played is speech, not silence
        peak = driver.execute_async_script(
            """const done = arguments[arguments.length - 1];
            const [room, id, token] = arguments;
            fetch(`/api/rooms/${room}/speech/${id}?lang=en&token=${token}`)
              .then((r) => r.arrayBuffer())
              .then((b) => new AudioContext().decodeAudioData(b))
              .then((a) => done(Math.max(...a.getChannelData(0).map(Math.abs))))
              .catch((e) => done(String(e)));""",
            room["id"],
            ids[0],
            room["viewer_token"],
        )
        assert isinstance(peak, float) and peak > 0.05, peak
        assert driver.execute_script("return window.tsListen.skipped") == 0
        # every line heard: the phone says it waits, not that it plays
        state = "document.getElementById('listen-state').textContent"
        wait_for(driver, f"{state}.startsWith('waiting')", 10, "the phone waiting")
        driver.save_screenshot(str(tmp_path / "phone-listen.png"))
    finally:
        driver.quit()


def test_the_room_s_own_sound_is_relayed_live(server, aishell_rows):
    import json

    from websockets.sync.client import connect

    from tingshuo.audio.decode import load_audio

    from .helpers import AISHELL, audio_url, stream

    room = server.room(name="原声 Original")
    said = load_audio(AISHELL / aishell_rows[0]["path"])[: 4 * 16000]
    got = [b""]

    def listen() -> None:
        params = {"token": room["viewer_token"]}
        url = f"{server.url}/api/rooms/{room['id']}/original.mp3"
        with httpx.stream("GET", url, params=params, timeout=30) as r:
            assert r.status_code == 200 and r.headers["content-type"] == "audio/mpeg"
            for chunk in r.iter_bytes():
                got[0] += chunk
                if done.is_set():
                    return

    done = threading.Event()
    listener = threading.Thread(target=listen)
    listener.start()
    time.sleep(1.0)
    with connect(audio_url(server, room)) as ws:
        ws.send(json.dumps({"type": "start", "sample_rate": 16000}))
        assert json.loads(ws.recv(timeout=30))["type"] == "ready"
        began = time.monotonic()
        stream(ws, said, speed=1.0)
        time.sleep(1.0)
        done.set()
        lasted = time.monotonic() - began
        ws.send(json.dumps({"type": "stop"}))
        json.loads(ws.recv(timeout=30))
    listener.join(30)
    heard = decoded(got[0])
    # the speech came through, about as loud as it was said, and live: the stream is as long
    # as the time it ran, not the sound all at once
    assert np.abs(heard).max() > 0.5 * np.abs(said).max()
    assert lasted < heard.size / 16_000 < lasted + 30
