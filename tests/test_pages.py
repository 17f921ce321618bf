"""The viewer pages as a hall sees them: the screen's caption band and the phone, in headless
Chromium with a real translated room. Each check is about what a person sees: which text
is shown or hidden, and where each line sits in the window."""

from __future__ import annotations

from .helpers import chromium, needs_chromium, talk_wav, wait_for

pytestmark = needs_chromium

# Every text line of the band (a Range over each caption's text gives one box per line),
# the band's own box and the QR code's, in CSS pixels of the window.
LINE_BOXES = """
const band = document.getElementById('captions').getBoundingClientRect();
const qr = document.getElementById('qr');
const boxes = [];
for (const line of document.querySelectorAll('#captions .line, #captions .partial')) {
  if (!line.offsetParent) continue;  // hidden
  const range = document.createRange();
  range.selectNodeContents(line);
  for (const r of range.getClientRects()) {
    if (r.width > 1) boxes.push({top: r.top, bottom: r.bottom, left: r.left, right: r.right,
                                 text: line.textContent});
  }
}
return {band: {top: band.top, bottom: band.bottom, height: band.height},
        qr: qr.hidden ? null : qr.getBoundingClientRect().toJSON(),
        lines: Number(document.getElementById('captions').dataset.lines),
        boxes, height: window.innerHeight, width: window.innerWidth};
"""


def assert_whole_lines(geometry: dict) -> list[dict]:
    """No line cut by the band's edge, none under the QR code, all inside the window;
    returns the lines a viewer sees."""
    band = geometry["band"]
    assert 0 <= band["top"] and band["bottom"] <= geometry["height"] + 0.5
    seen = []
    for box in geometry["boxes"]:
        if box["bottom"] <= band["top"] + 0.5:
            continue  # scrolled away above the band: clipped whole
        assert box["top"] >= band["top"] - 0.5, f"line cut at the band's top: {box}"
        assert box["bottom"] <= band["bottom"] + 0.5, f"line cut at the bottom: {box}"
        assert 0 <= box["left"] and box["right"] <= geometry["width"] + 0.5, box
        qr = geometry["qr"]
        if qr is not None:
            apart = (
                box["bottom"] <= qr["top"]
                or box["top"] >= qr["bottom"]
                or box["right"] <= qr["left"]
                or box["left"] >= qr["right"]
            )
            assert apart, f"a caption runs under the QR code: {box} {qr}"
        seen.append(box)
    return seen


def test_screen_band_and_phone_follow_the_language_choice(server, aishell_rows, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    two = ["BAC009S0252W0171", "BAC009S0252W0252"]
    talk = talk_wav(tmp_path / "talk.wav", two, aishell_rows)

    room = server.room(name="主会场 Main hall", targets=["en"])
    viewer = f"{server.url}/room/{room['id']}"
    token = room["viewer_token"]
    big = chromium(tmp_path / "big", "--window-size=1920,1080")
    big.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 1920, "height": 1080, "deviceScaleFactor": 1, "mobile": False},
    )
    phone = chromium(tmp_path / "phone", "--lang=en-US")
    phone.set_window_size(390, 844)
    phone.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True},
    )
    try:
        big.get(f"{viewer}/screen?token={token}&lang=en")
        wait_for(big, "document.getElementById('status').dataset.link === 'online'", 20)
        # before the first words: the room's title and what is awaited, in the window
        waiting = big.find_element(By.ID, "waiting")
        assert waiting.is_displayed() and "主会场 Main hall" in waiting.text
        assert "Waiting for speech" in waiting.text
        assert waiting.find_element(By.CLASS_NAME, "title").rect["y"] > 0

        phone.get(f"{viewer}?token={token}")
        wait_for(phone, "document.getElementById('status').dataset.link === 'online'", 20)
        # an English browser starts on the English translation, and the page speaks English
        assert Select(phone.find_element(By.ID, "langs")).first_selected_option.text == "English"
        assert phone.find_element(By.ID, "status").text == "not started"
        assert phone.find_element(By.ID, "empty").text == "Waiting for speech…"

        with talk.open("rb") as f:
            r = server.http.post(
                f"/api/rooms/{room['id']}/start/file",
                files={"file": ("talk.wav", f, "audio/wav")},
                data={"speed": "2"},
                timeout=120,
            )
        assert r.status_code == 200, r.text
        wait_for(phone, "document.getElementById('status').dataset.state === 'live'", 30)
        assert phone.find_element(By.ID, "status").text == "live"

        # both captions translated on the screen
        done = (
            "document.querySelectorAll('#captions .line.tr:not(.pending):not(:empty)').length === 2"
        )
        wait_for(big, done, 120, "two translations on the screen")
        assert not big.find_element(By.ID, "waiting").is_displayed()
        for row in big.find_elements(By.CSS_SELECTOR, "#captions .seg.final"):
            src = row.find_element(By.CSS_SELECTOR, ".line.src")
            tr = row.find_element(By.CSS_SELECTOR, ".line.tr")
            assert not src.is_displayed()  # &lang=en: the translation only
            assert tr.is_displayed() and tr.text and tr.text.isascii()
        seen = assert_whole_lines(big.execute_script(LINE_BOXES))
        assert seen and all(box["text"].isascii() for box in seen)
        big.save_screenshot(str(tmp_path / "screen-1920x1080.png"))
        # the same screen on a phone-sized window: still whole lines, still clear of the code
        big.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True},
        )
        wait_for(big, "window.innerWidth === 390")
        big.execute_script("window.dispatchEvent(new Event('resize'))")
        small = big.execute_script(LINE_BOXES)
        assert small["qr"] is not None and small["width"] == 390
        assert assert_whole_lines(small), "no caption line visible on a small screen"
        big.save_screenshot(str(tmp_path / "screen-390x844.png"))
        big.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1920, "height": 1080, "deviceScaleFactor": 1, "mobile": False},
        )

        # the phone: English only; then the original only
        wait_for(phone, done, 60, "two translations on the phone")
        shown = phone.find_element(By.ID, "captions").text
        assert shown and shown.replace("\n", " ").isascii()
        for src in phone.find_elements(By.CSS_SELECTOR, "#captions .line.src"):
            assert not src.is_displayed()
        Select(phone.find_element(By.ID, "langs")).select_by_value("src")
        for row in phone.find_elements(By.CSS_SELECTOR, "#captions .seg.final"):
            assert row.find_element(By.CSS_SELECTOR, ".line.src").is_displayed()
            assert not row.find_element(By.CSS_SELECTOR, ".line.tr").is_displayed()
        # the page follows the reader's choice: Chinese now
        assert phone.find_element(By.ID, "status").text in ("直播中", "已结束")
        assert phone.execute_script("return window.innerWidth") == 390
        width = phone.execute_script("return document.documentElement.scrollWidth")
        assert width <= 390  # no sideways scroll
        # a voice's name only where the speaker changes
        labels = phone.execute_script(
            "return [...document.querySelectorAll('#captions .seg.final')].map(r => "
            "[r.dataset.spk || '', r.querySelector('.spk').offsetParent !== null])"
        )
        for (before, _), (name, visible) in zip(labels, labels[1:], strict=False):
            assert visible == bool(name and name != before), labels
        phone.save_screenshot(str(tmp_path / "phone-390x844.png"))

        wait_for(phone, "document.getElementById('status').dataset.state === 'idle'", 60)
        assert phone.find_element(By.ID, "status").text == "已结束"

        # OBS: a band of two whole lines at the bottom of a transparent frame
        big.get(f"{viewer}/screen?token={token}&transparent=1&lang=src,en")
        wait_for(big, "window.tsCaptions && window.tsCaptions.rows.size === 2", 20)
        geometry = big.execute_script(LINE_BOXES)
        assert geometry["lines"] == 2 and geometry["qr"] is None
        seen = assert_whole_lines(geometry)
        assert 1 <= len(seen) <= 2
        assert geometry["band"]["bottom"] > 0.9 * geometry["height"]
        assert geometry["band"]["height"] < 0.25 * geometry["height"]
        assert big.execute_script("return getComputedStyle(document.body).backgroundColor") in (
            "rgba(0, 0, 0, 0)",
            "transparent",
        )
        big.save_screenshot(str(tmp_path / "screen-obs.png"))

        # a screen sized for three lines holds three, the newest at the bottom
        big.get(f"{viewer}/screen?token={token}&lines=3&lang=src,en")
        wait_for(big, "window.tsCaptions && window.tsCaptions.rows.size === 2", 20)
        geometry = big.execute_script(LINE_BOXES)
        assert geometry["lines"] == 3
        seen = assert_whole_lines(geometry)
        assert len(seen) == 3 and seen[-1]["text"].isascii()  # the last translation
    finally:
        big.quit()
        phone.quit()


def test_a_wrong_link_and_an_unknown_room_say_what_to_do(server, tmp_path):
    from selenium.webdriver.common.by import By

    room = server.room(name="Hall C")
    phone = chromium(tmp_path / "phone", "--window-size=390,844")
    try:
        phone.get(f"{server.url}/room/{room['id']}?token=wrong")
        wait_for(phone, "document.getElementById('status').dataset.link === 'refused'", 20)
        told = phone.find_element(By.ID, "empty")
        assert told.is_displayed() and "二维码" in told.text
        phone.get(f"{server.url}/room/no-such-room?token=wrong")
        wait_for(phone, "document.getElementById('status').dataset.link === 'refused'", 20)
        text = phone.find_element(By.ID, "empty").text
        assert text, "nothing said"
        assert "403" not in text and "closed" not in text
    finally:
        phone.quit()
