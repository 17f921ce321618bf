"""The organizer's console in a real hall: a room list that follows rooms and their states,
progress while a room starts or stops (and a Stop that cancels a start), a warning when
captions fall behind, a stage page whose browser blocks sound, the browser microphone (kept
while the room starts, its level and its input), captions in view, icons without emoji."""

from __future__ import annotations

import os
import re
import threading
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import numpy as np

from tingshuo.asr.scoring import cer
from tingshuo.audio.decode import NOT_AUDIO, load_audio
from tingshuo.events import Lag, RoomState

from .helpers import (
    AISHELL,
    AUTH,
    EMOJI,
    ORG,
    SHOWN_ICONS,
    chromium,
    create_room,
    heard_through,
    live_server,
    needs_chromium,
    read_tsv,
    room_impulses,
    wait_for,
    write_wav,
)

BUTTONS = ["btn-mic", "btn-file", "btn-device", "btn-pause", "btn-resume", "btn-stop"]
STARTING = (
    "正在启动…（首次启动需加载模型，约 20 秒） · "
    "Starting… (the first start loads the models, about 20 s)"
)
MUTED = (
    "舞台页面没有声音：请在舞台电脑上点击页面 · "
    "The stage page has no sound: click on it at the stage PC"
)

# what the progress line shows, each time it changes, and which buttons are disabled then
WATCH_PROGRESS = """
window.seen = [];
const line = document.getElementById('room-progress');
new MutationObserver(() => window.seen.push({
  text: line.textContent,
  visible: line.checkVisibility(),
  disabled: arguments[0].map((id) => document.getElementById(id).disabled),
})).observe(line, {attributes: true, childList: true, characterData: true, subtree: true});
"""


def silence(tmp_path, seconds: float):
    path = tmp_path / f"quiet-{seconds}.wav"
    write_wav(path, np.zeros(int(seconds * 16000), dtype=np.float32), 16000)
    return path


def badge(driver, room_id: str) -> str:
    return driver.execute_script(
        "const b = document.querySelector(`#rooms li[data-id='${arguments[0]}'] .badge`);"
        "return b && b.checkVisibility() ? b.textContent : null",
        room_id,
    )


@needs_chromium
def test_the_room_list_follows_new_rooms_and_their_states(server, tmp_path):
    from selenium.webdriver.common.by import By

    driver = chromium(tmp_path)
    try:
        mine = create_room(driver, server, "Hall A")
        assert badge(driver, mine["id"]) == "空闲 idle"
        driver.execute_script("window.firstItem = document.querySelector('#rooms li')")
        typing = driver.find_element(By.ID, "room-name")
        typing.clear()
        typing.send_keys("Hall C")  # half typed while the list refreshes

        other = server.room(name="Hall B")  # through the API, not this console
        wait_for(driver, f"document.querySelector(\"#rooms li[data-id='{other['id']}']\")", 8)
        assert badge(driver, other["id"]) == "空闲 idle"
        assert "Hall B" in driver.find_element(By.ID, "rooms").text

        with silence(tmp_path, 5).open("rb") as f:
            r = server.http.post(
                f"/api/rooms/{other['id']}/start/file",
                files={"file": ("quiet.wav", f, "audio/wav")},
                data={"speed": "1"},
            )
        assert r.status_code == 200, r.text
        deadline = time.monotonic() + 8
        while badge(driver, other["id"]) != "直播中 live":
            assert time.monotonic() < deadline, "the list never showed the room live"
            time.sleep(0.2)
        deadline = time.monotonic() + 15
        while badge(driver, other["id"]) != "空闲 idle":
            assert time.monotonic() < deadline, "the list never showed the room idle again"
            time.sleep(0.2)

        # refreshed in place: the same rooms, the same selection, the typing undisturbed
        assert driver.execute_script("return document.querySelector('#rooms li') === firstItem")
        selected = driver.find_elements(By.CSS_SELECTOR, "#rooms li.selected")
        assert [li.get_attribute("data-id") for li in selected] == [mine["id"]]
        assert driver.execute_script("return document.activeElement.id") == "room-name"
        assert typing.get_attribute("value") == "Hall C"
    finally:
        driver.quit()


@needs_chromium
def test_starting_and_stopping_say_so_and_hold_the_buttons(server, tmp_path):
    from selenium.webdriver.common.by import By

    notes = tmp_path / "notes.txt"
    notes.write_text("agenda: 9:00 opening\n" * 20)
    driver = chromium(tmp_path)
    try:
        create_room(driver, server, "Hall D")
        progress = driver.find_element(By.ID, "room-progress")
        driver.execute_script(WATCH_PROGRESS, BUTTONS)
        driver.find_element(By.ID, "file-input").send_keys(str(silence(tmp_path, 30)))
        driver.find_element(By.ID, "btn-file").click()
        wait_for(driver, "document.getElementById('room-state').textContent === 'live'", 20)
        wait_for(driver, "document.getElementById('room-progress').hidden", 10, "progress gone")
        seen = driver.execute_script("return window.seen")
        # everything waits but Stop, which cancels the start
        assert {"text": STARTING, "visible": True, "disabled": [True] * 5 + [False]} in seen, seen
        assert not progress.is_displayed()
        enabled = {b: driver.find_element(By.ID, b).is_enabled() for b in BUTTONS}
        assert enabled == {
            "btn-mic": False,
            "btn-file": False,
            "btn-device": False,
            "btn-pause": True,
            "btn-resume": False,
            "btn-stop": True,
        }

        driver.execute_script("window.seen = []")
        driver.find_element(By.ID, "btn-stop").click()
        wait_for(driver, "document.getElementById('room-state').textContent === 'idle'", 20)
        wait_for(driver, "document.getElementById('room-progress').hidden", 10, "progress gone")
        seen = driver.execute_script("return window.seen")
        assert {"text": "正在停止… · Stopping…", "visible": True, "disabled": [True] * 6} in seen
        assert driver.find_element(By.ID, "btn-file").is_enabled()
        assert not driver.find_element(By.ID, "btn-stop").is_enabled()

        # refused: the server's words, and the buttons come back
        driver.execute_script("window.seen = []")
        driver.find_element(By.ID, "file-input").send_keys(str(notes))
        driver.find_element(By.ID, "btn-file").click()
        shown = wait_for(driver, "document.getElementById('error').textContent", 20)
        assert shown == f"notes.txt: {NOT_AUDIO}"
        assert STARTING in [s["text"] for s in driver.execute_script("return window.seen")]
        assert not progress.is_displayed()
        assert driver.find_element(By.ID, "btn-file").is_enabled()
        assert driver.find_element(By.ID, "btn-mic").is_enabled()
    finally:
        driver.quit()


@needs_chromium
def test_captions_more_than_3_s_behind_are_a_warning(server, tmp_path):
    from selenium.webdriver.common.by import By

    driver = chromium(tmp_path)
    try:
        room = create_room(driver, server, "Hall E")
        warning = driver.find_element(By.ID, "room-lag-warning")
        rooms = server.app.state.rooms  # the server's own bus, as a live room reports lag
        rooms.publish(room["id"], RoomState(state="live", source="push"))

        rooms.publish(room["id"], Lag(caption_s=2.5, translation_s=0.0, shed="none"))
        wait_for(driver, "document.getElementById('room-lag').textContent.includes('2.5 s')", 10)
        assert not warning.is_displayed()
        lag = driver.find_element(By.ID, "room-lag")
        assert "second pass" not in lag.text  # off: nothing said of it

        # the second pass says whether it keeps up
        rooms.publish(
            room["id"], Lag(caption_s=0.4, translation_s=1.0, shed="none", second_pass="behind")
        )
        wait_for(driver, "document.getElementById('room-lag').textContent.includes('0.4 s')", 10)
        assert lag.text.endswith("复核跳过 second pass skipping captions")
        rooms.publish(
            room["id"], Lag(caption_s=0.5, translation_s=1.0, shed="none", second_pass="keeping up")
        )
        wait_for(driver, "document.getElementById('room-lag').textContent.includes('0.5 s')", 10)
        assert lag.text.endswith("复核 second pass keeping up") and lag.is_displayed()

        rooms.publish(room["id"], Lag(caption_s=5.2, translation_s=0.0, shed="drafts"))
        wait_for(driver, "!document.getElementById('room-lag-warning').hidden", 10, "the warning")
        assert warning.is_displayed()
        assert warning.text == "字幕落后 5 秒 · Captions are 5 s behind"
        assert warning.find_element(By.CSS_SELECTOR, "svg.icon-warning").is_displayed()
        assert "late" in warning.get_attribute("class").split()

        rooms.publish(room["id"], Lag(caption_s=0.8, translation_s=0.0, shed="none"))
        wait_for(driver, "document.getElementById('room-lag-warning').hidden", 10, "warning gone")
        assert not warning.is_displayed()

        # stopped: an idle room has no lag, even one reported late
        rooms.publish(room["id"], RoomState(state="idle", status="stopped"))
        rooms.publish(room["id"], Lag(caption_s=0.9, translation_s=0.0, shed="none"))
        wait_for(driver, "document.getElementById('room-state').textContent === 'idle'", 10)
        time.sleep(0.5)
        assert not lag.is_displayed() and not warning.is_displayed()
    finally:
        driver.quit()


@needs_chromium
def test_a_room_microphone_is_named_and_its_echo_cleaned(server, tmp_path, aishell_rows):
    """A room played from a microphone far from the talker in a live hall: the console says
    in words that the microphone hears the room, and that the front end cleans it."""
    from selenium.webdriver.common.by import By

    talk = np.concatenate([load_audio(AISHELL / aishell_rows[i]["path"]) for i in (3, 4, 5)])
    (far,) = room_impulses((1.3,))
    path = tmp_path / "room-mic.wav"
    write_wav(path, heard_through(talk, far), 16000)
    driver = chromium(tmp_path)
    try:
        room = create_room(driver, server, "Hall R")
        with path.open("rb") as f:
            r = server.http.post(
                f"/api/rooms/{room['id']}/start/file",
                files={"file": ("room-mic.wav", f, "audio/wav")},
                data={"speed": "3"},
            )
        assert r.status_code == 200
        wait_for(
            driver,
            "document.getElementById('room-sound').textContent.includes('cleaning')",
            60,
            "the echo named and cleaned",
        )
        line = driver.find_element(By.ID, "room-sound")
        assert line.is_displayed()
        assert line.text.startswith("话筒听到房间的回声：请用调音台的信号或更近的话筒 · ")
        assert line.find_element(By.CSS_SELECTOR, "svg.icon-warning").is_displayed()
        assert "the microphone hears the room: use the desk's feed or a closer mic" in line.text
        assert "late" in line.get_attribute("class").split()
        # under the room's title and lag line, above the buttons
        title = driver.find_element(By.ID, "room-title")
        buttons = driver.find_element(By.ID, "btn-mic")
        assert title.location["y"] < line.location["y"] < buttons.location["y"]
        driver.save_screenshot(str(tmp_path / "room-sound.png"))
    finally:
        driver.quit()


@needs_chromium
def test_a_stage_page_without_sound_is_shown_on_the_console_until_clicked(server, tmp_path):
    from selenium.webdriver.common.by import By

    driver = chromium(tmp_path, autoplay=False)  # as a browser is until someone clicks
    try:
        room = create_room(driver, server, "Hall F")
        console = driver.current_window_handle
        notice = driver.find_element(By.ID, "stage-muted")
        assert not notice.is_displayed()
        driver.switch_to.new_window("tab")
        driver.get(room["links"]["stage"])
        stage = driver.current_window_handle

        driver.switch_to.window(console)
        wait_for(driver, "!document.getElementById('stage-muted').hidden", 15, "the notice")
        assert notice.is_displayed() and notice.text == MUTED
        assert notice.find_element(By.CSS_SELECTOR, "svg.icon-muted").is_displayed()

        driver.switch_to.window(stage)
        driver.find_element(By.ID, "presenter").click()
        driver.switch_to.window(console)
        wait_for(driver, "document.getElementById('stage-muted').hidden", 15, "notice gone")
        assert not notice.is_displayed()
    finally:
        driver.quit()


@needs_chromium
def test_a_kiosk_stage_that_may_play_sound_says_so(server, tmp_path):
    driver = chromium(tmp_path)  # --autoplay-policy=no-user-gesture-required
    room = server.room(name="Hall G")
    anchors = server.app.state.anchors
    anchors.stage_muted[room["id"]] = True  # what a stage reported before it was set up
    try:
        driver.get(room["links"]["stage"])
        deadline = time.monotonic() + 15
        while anchors.stage_muted.get(room["id"]) is not False:
            assert time.monotonic() < deadline, "the stage never reported its sound"
            time.sleep(0.2)
    finally:
        driver.quit()


def test_sound_reports_take_the_rooms_token_and_a_modest_rate(server):
    room = server.room(name="Hall H")
    url = f"/api/rooms/{room['id']}/stage/sound"
    viewer = {"Authorization": f"Bearer {room['viewer_token']}"}
    stage_link = server.http.get(f"/api/rooms/{room['id']}").json()["links"]["stage"]
    key = parse_qs(urlsplit(stage_link).query)["stage"][0]
    with httpx.Client(base_url=server.url) as phone:
        assert phone.post(url, json={"muted": True}).status_code == 401
        wrong = {"Authorization": "Bearer not-the-token"}
        assert phone.post(url, json={"muted": True}, headers=wrong).status_code == 403
        # a phone with the viewer link: it has not the stage's key, and cannot see it
        refused = phone.post(url, json={"muted": True}, headers=viewer)
        assert refused.status_code == 403 and "stage page" in refused.json()["detail"]
        seen = phone.get(f"/api/rooms/{room['id']}", headers=viewer).json()["links"]["stage"]
        assert "stage=" not in seen
        wrong_key = phone.post(
            url, params={"stage": "0" * 32}, json={"muted": True}, headers=viewer
        )
        assert wrong_key.status_code == 403
        url += f"?stage={key}"
        assert phone.post(url, json={"muted": "loud"}, headers=viewer).status_code == 422
        assert phone.get(url, headers=viewer).json() == {"muted": False}  # nothing reported
        assert phone.post(url, json={"muted": True}, headers=viewer).status_code == 204
        assert phone.get(url, headers=viewer).json() == {"muted": True}  # for a console opened now
        answers = [phone.post(url, json={"muted": False}, headers=viewer) for _ in range(12)]
        codes = [r.status_code for r in answers]
        assert codes[0] == 204 and codes[-1] == 429, codes
        assert int(answers[-1].headers["Retry-After"]) >= 1


# -- the browser microphone, the layout and the icons

LONGFORM = AISHELL / "longform"
CUES = "title: Cues\nsegments:\n  - pause: 1\n  - cue: lights down\n    seconds: 2\n  - pause: 2\n"
FAKE_MIC = ("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream")
CONSOLE_TEXT = "return document.querySelector('.console').innerText"


def viewport(driver, width: int, height: int) -> None:
    """The page's own area (not the window's) is width × height."""
    driver.set_window_size(width, height)
    chrome = driver.execute_script("return [outerWidth - innerWidth, outerHeight - innerHeight]")
    driver.set_window_size(width + chrome[0], height + chrome[1])
    assert driver.execute_script("return [innerWidth, innerHeight]") == [width, height]


def open_room(driver, server, room: dict, token: bool = True) -> None:
    """The console with `room` selected (the token typed, or the one it remembers)."""
    from selenium.webdriver.common.by import By

    if token:
        driver.get(f"{server.url}/console")
        field = driver.find_element(By.ID, "token")
        field.clear()  # of a token remembered from before
        field.send_keys(ORG)
        driver.find_element(By.ID, "save-token").click()
    item = f"#rooms li[data-id='{room['id']}']"
    wait_for(driver, f'document.querySelector("{item}")', 20, "the room in the list")
    driver.find_element(By.CSS_SELECTOR, item).click()
    wait_for(driver, "window.tsConsole.room && window.tsConsole.events", 20, "the room")
    wait_for(driver, "document.getElementById('room-state').textContent === 'idle'", 20)


@needs_chromium
def test_without_a_token_the_console_asks_for_one_and_hides_the_organizer_forms(server, tmp_path):
    from selenium.webdriver.common.by import By

    room = server.room(name="Hall T")
    loaded = server.http.put(
        f"/api/rooms/{room['id']}/anchor/rundown", json={"text": CUES, "format": "yaml"}
    )
    assert loaded.status_code == 200, loaded.text
    driver = chromium(tmp_path)
    try:
        driver.get(f"{server.url}/console")
        prompt = driver.find_element(By.ID, "token-prompt")
        assert prompt.is_displayed() and "Enter the organizer token" in prompt.text
        for hidden in ("new-room", "rooms-panel", "create-room", "room-panel"):
            assert not driver.find_element(By.ID, hidden).is_displayed(), hidden
        driver.find_element(By.ID, "token").send_keys("not-the-token")
        driver.find_element(By.ID, "save-token").click()
        assert wait_for(driver, "document.getElementById('error').textContent", 10)
        assert not driver.find_element(By.ID, "new-room").is_displayed() and prompt.is_displayed()

        open_room(driver, server, room)
        assert driver.find_element(By.ID, "new-room").is_displayed()
        assert driver.find_element(By.ID, "rooms-panel").is_displayed()
        assert not driver.find_element(By.ID, "token-prompt").is_displayed()

        # the rundown counts from 1, as the stage does (1/3, 2/3…)
        wait_for(driver, "document.querySelectorAll('#rundown-segments li').length === 3", 20)
        rows = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#rundown-segments li")]
        assert [r.split()[0] for r in rows] == ["1/3", "2/3", "3/3"], rows
        assert "lights down" in rows[1]

        # icons, not emoji: each drawn, at the text's size
        assert EMOJI.search(driver.execute_script(CONSOLE_TEXT)) is None
        shown = driver.execute_script(SHOWN_ICONS)
        kinds = {c.split()[1] for c, _, _ in shown}
        assert {"icon-mic", "icon-stop", "icon-previous", "icon-next", "icon-skip"} <= kinds
        assert all(w >= 10 and h >= 10 for _, w, h in shown), shown
        mic = driver.find_element(By.ID, "btn-mic")
        assert mic.text == "开始话筒 Start microphone"
    finally:
        driver.quit()


def test_the_pages_carry_no_emoji():
    """What every browser draws: the pages' files hold icons, not emoji (the console, the
    phone and the screen, the stage, the learner's page)."""
    from tingshuo.server.pages import STATIC

    anchor = STATIC.parents[1] / "anchor" / "static"
    learn = STATIC.parents[1] / "learn" / "data" / "learn.html"
    files = [*STATIC.glob("*.html"), *STATIC.glob("*.js"), *STATIC.glob("*.css")]
    files += [*anchor.glob("*.html"), *anchor.glob("*.js"), learn]
    assert len(files) > 15
    found = {f.name: EMOJI.findall(f.read_text(encoding="utf-8")) for f in files}
    assert {name: chars for name, chars in found.items() if chars} == {}


@needs_chromium
def test_a_cold_start_loses_nothing_said_after_the_microphone_opened(worker, tmp_path):
    """A fresh server (speaker and translation models not loaded yet): the speech before the
    room says `ready` is kept in the page and captioned whole; the meter moves, the chosen
    input is used and remembered, the captions are in view at 1400×957, and after Stop the
    room shows no lag."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    said = read_tsv(LONGFORM / "segments.tsv")[:3]
    end = float(said[-1]["end_s"]) + 0.4
    talk = load_audio(LONGFORM / "longform_2spk.flac")[: int(end * 16000)]
    fake = write_wav(tmp_path / "talk.wav", np.concatenate([talk, np.zeros(3 * 16000, np.float32)]))
    with live_server(worker, tmp_path / "fresh") as server:
        room = server.room(name="Hall M", targets=["en"])
        server.http.put(
            f"/api/rooms/{room['id']}/anchor/rundown", json={"text": CUES, "format": "yaml"}
        )
        driver = chromium(tmp_path, *FAKE_MIC, f"--use-file-for-fake-audio-capture={fake}")
        try:
            viewport(driver, 1400, 957)
            open_room(driver, server, room)
            # the inputs by name; the one chosen is the one used, after a reload too
            has = "[...document.getElementById('mic-device').options].some((o) => o.text === "
            wait_for(driver, has + "'Fake Audio Input 2')", 10, "the inputs")
            Select(driver.find_element(By.ID, "mic-device")).select_by_visible_text(
                "Fake Audio Input 2"
            )
            chosen = driver.find_element(By.ID, "mic-device").get_attribute("value")
            driver.refresh()
            open_room(driver, server, room, token=False)
            picked = Select(driver.find_element(By.ID, "mic-device")).first_selected_option
            assert picked.text == "Fake Audio Input 2"

            driver.find_element(By.ID, "btn-mic").click()
            wait_for(driver, "document.getElementById('room-state').textContent === 'live'", 90)
            mic = driver.execute_script(
                "const m = window.tsConsole.mic;"
                "return {device: m.device, heldAtReady: m.heldAtReady}"
            )
            assert mic["device"] == chosen
            assert mic["heldAtReady"] >= 1.0, mic["heldAtReady"]  # the start was slow
            meter = driver.find_element(By.ID, "mic-meter")
            levels = []
            deadline = time.monotonic() + 120
            while driver.execute_script("return window.tsConsole.view.finals().length") < 3:
                assert time.monotonic() < deadline, "three captions never came"
                levels.append(float(meter.get_attribute("aria-valuenow")))
                time.sleep(0.1)
            assert meter.is_displayed() and max(levels) - min(levels) >= 8, levels
            sent = driver.find_element(By.ID, "mic-level").text
            assert re.search(r"\d+ s sent, \d+ s with sound · level −(\d+|∞) dB", sent), sent

            # the newest caption in view, below the room's controls, above the rundown
            box = driver.execute_script(
                "const r = [...document.querySelectorAll('#captions .seg.final')].pop()"
                ".getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]"
            )
            driver.save_screenshot(str(tmp_path / "console-1400x957.png"))
            assert 0 <= box[0] < box[2] <= 1400 and 0 <= box[1] < box[3] <= 957, box
            # and so will the next ones: the box they scroll in ends inside the window
            bottom = driver.execute_script(
                "return document.getElementById('captions').getBoundingClientRect().bottom"
            )
            assert bottom <= 957, bottom
            assert EMOJI.search(driver.execute_script(CONSOLE_TEXT)) is None
            assert all(w >= 10 and h >= 10 for _, w, h in driver.execute_script(SHOWN_ICONS))

            driver.find_element(By.ID, "btn-stop").click()
            wait_for(driver, "document.getElementById('room-state').textContent === 'idle'", 60)
            assert not meter.is_displayed()
            time.sleep(1.5)  # a lag report of the ended run would have come by now
            assert not driver.find_element(By.ID, "room-lag").is_displayed()
            assert driver.find_element(By.ID, "error").text == ""
            assert driver.execute_script("return window.tsConsole.lastMic.dropped") == 0

            stored = server.http.get(f"/api/rooms/{room['id']}/segments").json()
            first = stored[0]["text"]  # whole: "看中的一种。" when the start threw speech away
            assert first.startswith("电动车"), first
            assert cer([said[0]["reference_text"]], [first]) <= 0.3, first
            heard = "".join(s["text"] for s in stored if s["start"] < end)
            assert cer(["".join(r["reference_text"] for r in said)], [heard]) <= 0.3, heard
            sessions = server.http.get(f"/api/rooms/{room['id']}/sessions").json()
            assert [s["segments"] for s in sessions] == [len(stored)]
        finally:
            driver.quit()


@needs_chromium
def test_stop_cancels_a_room_that_is_still_starting(worker, tmp_path):
    """Stop while a fresh server loads a translated room's models: the start is called off,
    the room stays idle, no session is opened and nothing is left running."""
    from selenium.webdriver.common.by import By

    fake = write_wav(tmp_path / "quiet.wav", np.zeros(2 * 16000, np.float32))
    with live_server(worker, tmp_path / "fresh") as server:
        room = server.room(name="Hall S", targets=["en"])
        rooms = server.app.state.rooms
        driver = chromium(tmp_path, *FAKE_MIC, f"--use-file-for-fake-audio-capture={fake}")
        try:
            open_room(driver, server, room)
            driver.find_element(By.ID, "btn-mic").click()
            deadline = time.monotonic() + 20
            while room["id"] not in rooms._starting:  # the server is loading the models
                assert time.monotonic() < deadline, "the start never reached the server"
                time.sleep(0.02)
            stop = driver.find_element(By.ID, "btn-stop")
            assert stop.is_enabled() and driver.find_element(By.ID, "room-progress").is_displayed()
            stop.click()
            wait_for(driver, "document.getElementById('room-progress').hidden", 30, "no progress")
            deadline = time.monotonic() + 30
            while rooms._starting:
                assert time.monotonic() < deadline, "the start never ended"
                time.sleep(0.1)
            assert rooms.runs == {} and not rooms._cancelled
            assert server.http.get(f"/api/rooms/{room['id']}").json()["state"] == "idle"
            assert server.http.get(f"/api/rooms/{room['id']}/sessions").json() == []
            assert driver.execute_script("return window.tsConsole.mic") is None
            assert driver.find_element(By.ID, "room-state").text == "idle"
            assert driver.find_element(By.ID, "error").text == ""
            assert driver.find_element(By.ID, "btn-mic").is_enabled()
            assert not driver.find_element(By.ID, "btn-stop").is_enabled()
        finally:
            driver.quit()


def test_stop_cancels_a_file_start_and_keeps_no_upload(worker, tmp_path):
    """The same through REST: the start answers 409, its upload is removed, the room idle."""
    from tingshuo.server.uploads import upload_dir

    quiet = silence(tmp_path, 3)
    with live_server(worker, tmp_path / "fresh") as server:
        room = server.room(name="Hall U", targets=["en"])
        rooms = server.app.state.rooms
        folder = upload_dir(server.app.state.settings)
        ours = f"upload-{os.getpid()}-*"
        before = set(folder.glob(ours))
        answers: list[httpx.Response] = []

        def start() -> None:
            with quiet.open("rb") as f:
                answers.append(
                    httpx.post(
                        f"{server.url}/api/rooms/{room['id']}/start/file",
                        files={"file": ("quiet.wav", f, "audio/wav")},
                        data={"speed": "1"},
                        headers=AUTH,
                        timeout=60,
                    )
                )

        starting = threading.Thread(target=start)
        starting.start()
        deadline = time.monotonic() + 20
        while room["id"] not in rooms._starting:
            assert time.monotonic() < deadline, "the start never reached the server"
            time.sleep(0.02)
        stopped = server.http.post(f"/api/rooms/{room['id']}/stop")
        assert stopped.status_code == 200 and stopped.json()["state"] == "idle", stopped.text
        starting.join(60)
        [answer] = answers
        assert answer.status_code == 409 and "cancelled (Stop)" in answer.json()["detail"]
        assert rooms.runs == {} and not rooms._starting and not rooms._cancelled
        assert server.http.get(f"/api/rooms/{room['id']}/sessions").json() == []
        assert set(folder.glob(ours)) == before  # the upload is gone with the start
