"""A caption's own sound on the console (issue 27): a real talk played into a room, the
console in Chromium, a caption's play button pressed: the one <audio> plays, its time runs
through that caption's span on the session's clock and stops at its end, the caption shows
that it plays. A room that kept no sound says why in one line, and nothing plays."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from .helpers import EMOJI, ORG, chromium, needs_chromium, play, talk_wav, wait_for

CLIPS = ["BAC009S0150W0212", "BAC009S0150W0287", "BAC009S0150W0121"]
SHOTS = Path("/tmp/exp/shots")

# the shared player and the caption it plays, as a person would notice them
PLAYER = """const a = document.getElementById('caption-sound');
const row = document.querySelector('#captions .seg.playing');
const b = row && row.querySelector('.hear');
return {paused: a.paused, t: a.currentTime, src: a.currentSrc, ended: a.ended,
  row: row && Number(row.dataset.id),
  icon: !!(b && b.querySelector('svg.icon-listen') && b.querySelector('svg').checkVisibility()
    && getComputedStyle(b).opacity === '1'),
  status: document.getElementById('sound-status').textContent}"""


@pytest.fixture(scope="module")
def talk(aishell_rows, tmp_path_factory) -> Path:
    return talk_wav(tmp_path_factory.mktemp("talk") / "talk.wav", CLIPS, aishell_rows)


@pytest.fixture(scope="module")
def recorded(server, talk):
    room = server.room(name="原声 Heard")
    finals = [m["segment"] for m in play(server, room, talk) if m["type"] == "final"]
    assert len(finals) >= 3
    return room, finals


def open_room(driver, server, room: dict) -> None:
    """The console, the organizer logged in, `room` selected."""
    from selenium.webdriver.common.by import By

    driver.get(f"{server.url}/console")
    driver.find_element(By.ID, "token").send_keys(ORG)
    driver.find_element(By.ID, "save-token").click()
    item = f"#rooms li[data-id='{room['id']}']"
    wait_for(driver, f'document.querySelector("{item}")', 20, "the room in the list")
    driver.find_element(By.CSS_SELECTOR, item).click()
    wait_for(driver, "window.tsConsole.room && window.tsConsole.events", 20, "the room")
    wait_for(driver, "document.getElementById('room-state').textContent === 'idle'", 20)


def press_play(driver, caption_id: int) -> None:
    """The pointer on the caption (its play button shows), then a click on that button."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    row = f"#captions .seg.final[data-id='{caption_id}']"
    wait_for(driver, f'document.querySelector("{row} .hear")', 20, "the caption's play button")
    button = driver.find_element(By.CSS_SELECTOR, f"{row} .hear")
    ActionChains(driver).move_to_element(driver.find_element(By.CSS_SELECTOR, row)).perform()
    assert driver.execute_script("return getComputedStyle(arguments[0]).opacity", button) == "1"
    button.click()


def shot(driver, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / name))


def heard(driver, caption: dict) -> tuple[list[dict], dict]:
    """The player sampled while it plays `caption` (from the press until it stops), and how
    it is half a second after it stopped."""
    seen: list[dict] = []
    deadline = time.monotonic() + caption["end"] - caption["start"] + 15
    while time.monotonic() < deadline:
        now = driver.execute_script(PLAYER)
        if now["row"] is None and seen:
            break  # stopped
        if now["row"] is not None and not now["paused"]:
            seen.append(now)
            if len(seen) == 3:
                shot(driver, "console-sound-playing.png")
        time.sleep(0.15)
    time.sleep(0.5)
    return seen, driver.execute_script(PLAYER)


def played_through(caption: dict, seen: list[dict], after: dict) -> None:
    """The player's time ran through the caption's span on the session's clock, the caption
    showed that it played, and it stopped at the caption's end."""
    start, end = caption["start"], caption["end"]
    assert len(seen) >= 4, seen
    assert all(s["row"] == caption["id"] and s["icon"] for s in seen), seen
    assert f"/api/sessions/{caption['session_id']}/audio" in seen[0]["src"]
    assert all(f"playing caption {caption['id']}" in s["status"] for s in seen), seen
    times = [s["t"] for s in seen]
    assert all(start - 0.3 <= t <= end + 0.3 for t in times), (start, end, times)
    assert all(b > a for a, b in zip(times, times[1:], strict=False)), times
    assert times[-1] - times[0] > 0.5 * (end - start), (start, end, times)
    # stopped at the caption's end, not carried on into the next one
    assert after["paused"] and after["row"] is None, after
    assert end - 0.3 <= after["t"] <= end + 0.3, (end, after)


@needs_chromium
def test_a_click_on_a_caption_s_play_button_plays_its_own_sound(server, recorded, tmp_path):
    from selenium.webdriver.common.by import By

    room, finals = recorded
    caption = finals[1]  # one in the middle: the player must seek to it
    assert caption["end"] - caption["start"] > 1.0
    driver = chromium(tmp_path)
    try:
        open_room(driver, server, room)
        wait_for(driver, f"document.querySelectorAll('#captions .hear').length >= {len(finals)}")
        # hidden until the pointer or the focus is on a caption: the captions stay readable
        idle = driver.execute_script(
            "return getComputedStyle(document.querySelector('#captions .hear')).opacity"
        )
        assert idle == "0"
        press_play(driver, caption["id"])
        played_through(caption, *heard(driver, caption))
        assert not driver.find_elements(By.CSS_SELECTOR, "#captions .seg.playing")
        assert EMOJI.search(driver.find_element(By.ID, "captions-panel").text) is None
    finally:
        driver.quit()


@needs_chromium
def test_alt_p_while_correcting_plays_the_caption_being_corrected(server, recorded, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    room, finals = recorded
    caption = finals[2]
    driver = chromium(tmp_path)
    try:
        open_room(driver, server, room)
        row = f"#captions .seg.final[data-id='{caption['id']}']"
        wait_for(driver, f'document.querySelector("{row} .hear")', 20)
        text = driver.find_element(By.CSS_SELECTOR, f"{row} .line.src")
        before = text.text
        text.click()  # the editor opens, as before
        wait_for(driver, f"document.querySelector(\"{row}\").classList.contains('editing')", 5)
        title = driver.find_element(By.CSS_SELECTOR, f"{row} .hear").get_attribute("title")
        assert "Alt+P" in title
        text.send_keys(Keys.ALT, "p")
        played_through(caption, *heard(driver, caption))
        # the editor is still open on it, its text untouched, the caret still in it
        assert driver.execute_script(
            f"return document.querySelector(\"{row}\").classList.contains('editing')"
            f' && document.activeElement === document.querySelector("{row} .line.src")'
        )
        assert text.text == before
        text.send_keys(Keys.ESCAPE)
    finally:
        driver.quit()


# every text the sound line shows, in order
WATCH_STATUS = """window.said = [];
const line = document.getElementById('sound-status');
new MutationObserver(() => window.said.push([line.textContent, line.classList.contains('warn')]))
  .observe(line, {childList: true, characterData: true, subtree: true});"""


@needs_chromium
def test_a_caption_heard_while_the_room_is_live_waits_for_its_sound(
    server, aishell_rows, tmp_path_factory, tmp_path
):
    """A live room's sound is stored every 2 s: the newest caption's may not be there yet. It
    is then waited for (and said so), and plays; never an error. The player loads the grown
    sound again for it."""
    talk = talk_wav(tmp_path_factory.mktemp("live") / "live.wav", CLIPS[:2], aishell_rows)
    room = server.room(name="直播 Live")
    driver = chromium(tmp_path)
    try:
        open_room(driver, server, room)
        driver.execute_script(WATCH_STATUS)
        with talk.open("rb") as f:
            r = server.http.post(
                f"/api/rooms/{room['id']}/start/file",
                files={"file": ("live.wav", f, "audio/wav")},
                data={"speed": "1"},
            )
        assert r.status_code == 200, r.text
        wait_for(driver, "document.querySelector('#captions .hear')", 30, "the first caption")
        assert driver.execute_script("return window.tsConsole.roomState") == "live"
        caption_id = driver.execute_script(
            "return Number(document.querySelector('#captions .seg.final').dataset.id)"
        )
        span = driver.execute_script(f"return window.tsSound.spans.get({caption_id})")
        caption = {"id": caption_id, "session_id": span["session"], **span}
        press_play(driver, caption_id)
        played_through(caption, *heard(driver, caption))
        said = driver.execute_script("return window.said")
        assert not any(warn for _, warn in said), said
        expected = ("loading caption", "waiting for this caption", "playing caption")
        assert all(not text or any(e in text for e in expected) for text, _ in said), said
        assert driver.execute_script("return document.getElementById('error').textContent") == ""
    finally:
        driver.quit()
    deadline = time.monotonic() + 30
    while server.http.get(f"/api/rooms/{room['id']}").json()["state"] != "idle":
        assert time.monotonic() < deadline
        time.sleep(0.2)


@needs_chromium
def test_a_room_that_kept_no_sound_says_why_and_plays_nothing(
    server, aishell_rows, tmp_path_factory, tmp_path
):
    from selenium.webdriver.common.by import By

    talk = talk_wav(tmp_path_factory.mktemp("short") / "short.wav", CLIPS[:1], aishell_rows)
    room = server.room(name="不录音 Off the record", record=False)
    finals = [m["segment"] for m in play(server, room, talk) if m["type"] == "final"]
    assert finals
    driver = chromium(tmp_path)
    try:
        open_room(driver, server, room)
        press_play(driver, finals[0]["id"])
        line = wait_for(
            driver, "document.getElementById('sound-status').textContent.includes('no sound')", 20
        )
        assert line
        status = driver.execute_script(
            "const s = document.getElementById('sound-status');"
            "return {text: s.textContent, height: s.getBoundingClientRect().height,"
            "  font: parseFloat(getComputedStyle(s).fontSize),"
            "  warn: s.classList.contains('warn'), icon: !!s.querySelector('svg.icon-warning')}"
        )
        assert "recording was off" in status["text"], status
        assert status["warn"] and status["icon"]
        assert status["height"] < 2 * status["font"], status  # one line
        player = driver.execute_script(PLAYER)
        assert player["paused"] and player["t"] == 0 and player["row"] is None, player
        assert driver.execute_script("return document.getElementById('error').textContent") == ""
        # nothing to read again either: said before any click
        wait_for(driver, "!document.getElementById('reread').hidden", 10, "the Read again bar")
        assert not driver.find_element(By.ID, "reread-start").is_enabled()
        assert "no sound kept" in driver.find_element(By.ID, "reread-note").text
        shot(driver, "console-sound-no-sound.png")
    finally:
        driver.quit()


SHOWN = "return window.tsConsole.view.finals()"  # the console's captions' texts

# the bar's progress, each time it changes
WATCH_BAR = """window.bar = [];
const bar = document.getElementById('reread-progress');
new MutationObserver(() => window.bar.push(bar.value))
  .observe(bar, {attributes: true, attributeFilter: ['value']});"""


@needs_chromium
def test_read_again_shows_its_progress_and_what_changed(server, recorded, tmp_path):
    """Once the room's session has ended, "Read again" runs the full-quality pass over its
    sound: a bar to 100 %, then how many captions changed and how many an operator's
    correction kept; the console's captions are the stored ones afterwards."""
    from selenium.webdriver.common.by import By

    room, finals = recorded
    sid = finals[0]["session_id"]
    mine = finals[0]
    fixed = server.http.patch(
        f"/api/rooms/{room['id']}/segments/{mine['id']}",
        json={"text": "国家扶持的产业。", "revision": mine.get("revision", 0)},
    )
    assert fixed.status_code == 200, fixed.text
    assert "内因" in finals[2]["text"], finals[2]
    # a rule the organizer adds after the event: reading it again applies it (a new text)
    rules = server.http.put(f"/api/rooms/{room['id']}/rules", json={"rules": "内因 => 内部原因"})
    assert rules.status_code == 200, rules.text
    driver = chromium(tmp_path)
    try:
        open_room(driver, server, room)
        wait_for(driver, "!document.getElementById('reread').hidden", 10, "the Read again bar")
        start = driver.find_element(By.ID, "reread-start")
        assert start.is_enabled() and "Read again" in start.text
        driver.execute_script(WATCH_BAR)
        start.click()
        note = driver.find_element(By.ID, "reread-note")
        deadline = time.monotonic() + 120
        while not note.text.startswith(("完成", "失败")):
            assert time.monotonic() < deadline, f"not done in 120 s: {note.text}"
            time.sleep(0.5)
        shot(driver, "console-sound-read-again.png")
        assert "done:" in note.text, note.text
        run = server.http.get(f"/api/sessions/{sid}").json()["session"]["retranscribe"]
        assert run["state"] == "done"
        summary = f"done: {run['changed']} captions changed, {run['kept']} kept as corrected"
        assert summary in note.text and run["kept"] == 1 and run["changed"] >= 1, (note.text, run)
        bar = driver.execute_script("return window.bar")
        assert bar and bar[0] < 1 and bar[-1] == 1 and bar == sorted(bar), bar
        assert driver.find_element(By.ID, "reread-pct").text == "100 %"
        assert driver.find_element(By.ID, "reread-start").is_enabled()  # may run again
        # the changed captions came as corrections; the operator's stays as it was
        stored = [s["text"] for s in server.http.get(f"/api/sessions/{sid}").json()["segments"]]
        deadline = time.monotonic() + 10
        while (shown := driver.execute_script(SHOWN)) != stored:
            assert time.monotonic() < deadline, (shown, stored)
            time.sleep(0.2)
        assert stored[0] == "国家扶持的产业。"
        assert "内部原因" in stored[2], stored
    finally:
        driver.quit()
