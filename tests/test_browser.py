"""The pages in headless Chromium (Debian's chromium + chromium-driver, driven by Selenium).

Skipped only where Chromium is not installed; CI installs it (.ci/run).
"""

from __future__ import annotations

import numpy as np

from tingshuo.asr.scoring import cer
from tingshuo.audio.decode import load_audio

from .helpers import (
    AISHELL,
    by_id,
    chromium,
    create_room,
    needs_chromium,
    talk_wav,
    wait_for,
    write_wav,
)

pytestmark = needs_chromium


def test_console_plays_a_file_and_screen_and_phone_show_the_captions(
    server, aishell_rows, tmp_path
):
    from selenium.webdriver.common.by import By

    two = ["BAC009S0252W0171", "BAC009S0252W0252"]
    rows = [by_id(aishell_rows)[u] for u in two]
    talk = talk_wav(tmp_path / "talk.wav", two, aishell_rows)

    driver = chromium(tmp_path)
    try:
        room = create_room(driver, server, "Hall A 主会场")
        console = driver.current_window_handle
        # fetched with the token in a header, shown from a blob: no token in any URL
        assert (
            driver.find_element(By.CSS_SELECTOR, "#qr img").get_attribute("src").startswith("blob:")
        )
        driver.switch_to.new_window("tab")
        driver.get(room["links"]["screen"] + "&transparent=1")
        screen = driver.current_window_handle
        wait_for(
            driver, "document.getElementById('status').dataset.link === 'online'", 20, "screen"
        )
        assert "transparent" in driver.find_element(By.TAG_NAME, "body").get_attribute("class")
        driver.switch_to.new_window("tab")
        driver.set_window_size(390, 844)  # a phone's viewport
        driver.get(room["links"]["phone"])
        phone = driver.current_window_handle
        wait_for(driver, "document.getElementById('status').dataset.link === 'online'", 20, "phone")

        driver.switch_to.window(console)
        driver.find_element(By.ID, "file-input").send_keys(str(talk))
        driver.find_element(By.ID, "btn-file").click()
        wait_for(driver, "document.getElementById('room-state').textContent === 'live'", 20)

        # the phone loses its connection after the first caption and must catch up
        driver.switch_to.window(phone)
        wait_for(driver, "window.tsCaptions.finals().length >= 1", 60, "a first caption")
        driver.execute_script("window.tsEvents.drop()")

        driver.switch_to.window(console)
        wait_for(driver, "document.getElementById('room-state').textContent === 'idle'", 60)
        stored = server.http.get(f"/api/rooms/{room['id']}/segments").json()
        assert len(stored) == 2
        for row, seg in zip(rows, stored, strict=True):
            assert cer([row["reference_text"]], [seg["text"]]) < 0.3, (row, seg)
        texts = [s["text"] for s in stored]
        assert driver.execute_script("return window.tsConsole.view.finals()") == texts

        driver.switch_to.window(screen)
        assert wait_for(
            driver, "window.tsCaptions.finals().length === 2 && window.tsCaptions.finals()"
        )
        shown = driver.find_element(By.ID, "captions").text
        assert texts[1] in shown

        driver.switch_to.window(phone)
        wait_for(driver, "window.tsEvents.connects >= 2", 20, "the phone to reconnect")
        wait_for(driver, "window.tsCaptions.finals().length >= 2", 20, "the phone to catch up")
        assert driver.execute_script("return window.tsCaptions.finals()") == texts  # once each
        width = driver.execute_script("return document.documentElement.scrollWidth")
        assert width <= driver.execute_script("return window.innerWidth")  # no sideways scroll
    finally:
        driver.quit()


def test_browser_microphone_through_the_audio_worklet_gives_the_right_words(
    server, aishell_rows, tmp_path
):
    from selenium.webdriver.common.by import By

    row = by_id(aishell_rows)["BAC009S0252W0157"]  # 上海发布的新政规定
    # Chromium loops the file: speech, then enough silence for the caption to be final
    audio = load_audio(AISHELL / row["path"])
    silence = np.zeros(3 * 16000, dtype=np.float32)
    fake = tmp_path / "mic.wav"
    write_wav(fake, np.concatenate([silence[:8000], audio, silence]), 16000)
    driver = chromium(
        tmp_path,
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={fake}",
    )
    try:
        room = create_room(driver, server, "Mic room")
        driver.find_element(By.ID, "btn-mic").click()
        wait_for(driver, "document.getElementById('room-state').textContent === 'live'", 20)
        wait_for(driver, "window.tsConsole.view.finals().length >= 1", 60, "a caption")
        driver.find_element(By.ID, "btn-stop").click()
        wait_for(driver, "document.getElementById('room-state').textContent === 'idle'", 30)
        assert driver.execute_script("return window.tsConsole.mic") is None
        first = server.http.get(f"/api/rooms/{room['id']}/segments").json()[0]
        assert cer([row["reference_text"]], [first["text"]]) < 0.3, first
        assert driver.find_element(By.ID, "error").text == ""
    finally:
        driver.quit()


def test_phone_and_console_say_when_captions_are_not_being_saved(server, aishell_rows, tmp_path):
    """A database another program has locked: the phone keeps showing captions and says
    they are not being saved; the console counts those waiting; both clear once saved."""
    import sqlite3

    from selenium.webdriver.common.by import By

    two = ["BAC009S0252W0171", "BAC009S0252W0252"]
    talk = talk_wav(tmp_path / "talk.wav", two, aishell_rows)
    db = server.app.state.settings.database_url.removeprefix("sqlite:///")

    driver = chromium(tmp_path)
    try:
        room = create_room(driver, server, "Hall B")
        console = driver.current_window_handle
        driver.switch_to.new_window("tab")
        driver.set_window_size(390, 844)
        driver.get(room["links"]["phone"])
        phone = driver.current_window_handle
        wait_for(driver, "document.getElementById('status').dataset.link === 'online'", 20, "phone")
        notice = driver.find_element(By.ID, "store-notice")
        assert not notice.is_displayed()

        with talk.open("rb") as f:
            r = server.http.post(
                f"/api/rooms/{room['id']}/start/file",
                files={"file": ("talk.wav", f, "audio/wav")},
                data={"speed": "2"},
                timeout=120,
            )
        assert r.status_code == 200, r.text
        lock = sqlite3.connect(db, timeout=30)  # before the first caption is written
        lock.execute("BEGIN EXCLUSIVE")
        try:
            wait_for(driver, "window.tsCaptions.finals().length >= 1", 60, "a caption")
            wait_for(driver, "!document.getElementById('store-notice').hidden", 30, "the notice")
            assert notice.is_displayed() and "not being saved" in notice.text
            box = notice.rect
            assert box["y"] < 844 and box["width"] > 300  # on screen, across the phone
            driver.save_screenshot(str(tmp_path / "phone-not-saved.png"))
            driver.switch_to.window(console)
            wait_for(
                driver, "document.getElementById('room-store').textContent.includes('waiting')", 20
            )
            assert "not being saved" in driver.find_element(By.ID, "room-store").text
            wait_for(driver, "window.tsConsole.view.finals().length >= 1", 30)
        finally:
            lock.close()
        wait_for(
            driver,
            "document.getElementById('room-store').textContent.includes('all captions saved')",
            60,
            "the console to say all are saved",
        )
        driver.switch_to.window(phone)
        wait_for(driver, "document.getElementById('store-notice').hidden", 10, "notice gone")
        assert not notice.is_displayed()
        wait_for(driver, "window.tsCaptions.finals().length >= 2", 60, "both captions")
        stored = server.http.get(f"/api/rooms/{room['id']}/segments").json()
        assert [s["text"] for s in stored] == driver.execute_script(
            "return window.tsCaptions.finals()"
        )
    finally:
        driver.quit()
