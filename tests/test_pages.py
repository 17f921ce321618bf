"""The viewer pages as a hall sees them: the screen's caption band and the phone, in headless
Chromium with a real translated room. Each check is about what a person sees: which text
is shown or hidden, and where each line sits in the window."""

from __future__ import annotations

from .helpers import EMOJI, SHOWN_ICONS, chromium, needs_chromium, talk_wav, wait_for

pytestmark = needs_chromium

# Every text line of the band (a Range over each caption's text gives one box per line),
# the band's own box and the QR code's, in CSS pixels of the window.
LINE_BOXES = """
const band = document.getElementById('captions').getBoundingClientRect();
const qr = document.getElementById('qr');
const boxes = [];
const parts = [...document.getElementById('captions').children];
parts.forEach((part, seg) => {
  for (const line of part.matches('.partial') ? [part] : part.querySelectorAll('.line')) {
    if (!line.offsetParent) continue;  // not shown in this language
    const hidden = getComputedStyle(line).visibility !== 'visible';
    const range = document.createRange();
    range.selectNodeContents(line);
    for (const r of range.getClientRects()) {
      if (r.width > 1) boxes.push({top: r.top, bottom: r.bottom, left: r.left, right: r.right,
                                   text: line.textContent, seg, hidden});
    }
  }
});
return {band: {top: band.top, bottom: band.bottom, height: band.height},
        qr: qr.hidden ? null : qr.getBoundingClientRect().toJSON(),
        lines: Number(document.getElementById('captions').dataset.lines),
        boxes, height: window.innerHeight, width: window.innerWidth};
"""


def assert_whole_lines(geometry: dict) -> list[dict]:
    """No line cut by the band's edge, none under the QR code, all inside the window;
    no caption begun above the band with its tail in it (but the newest, longer than the
    band); returns the lines a viewer sees."""
    band = geometry["band"]
    assert 0 <= band["top"] and band["bottom"] <= geometry["height"] + 0.5
    seen = []
    boxes = [b for b in geometry["boxes"] if not b["hidden"]]
    newest = max((b["seg"] for b in boxes), default=-1)
    for box in boxes:
        if box["bottom"] <= band["top"] + 0.5:
            continue  # scrolled away above the band: clipped whole
        began_above = [
            b for b in boxes if b["seg"] == box["seg"] and b["bottom"] <= band["top"] + 0.5
        ]
        assert not began_above or box["seg"] == newest, f"a caption's tail alone: {box}"
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

        # a screen sized for three lines: the newest caption whole at the bottom, and above
        # it an older one only where it fits whole
        big.get(f"{viewer}/screen?token={token}&lines=3&lang=src,en")
        wait_for(big, "window.tsCaptions && window.tsCaptions.rows.size === 2", 20)
        geometry = big.execute_script(LINE_BOXES)
        assert geometry["lines"] == 3
        seen = assert_whole_lines(geometry)
        assert 2 <= len(seen) <= 3 and seen[-1]["text"].isascii()  # the last translation
    finally:
        big.quit()
        phone.quit()


def _final(server, room: dict, utterance: int, text: str) -> None:
    from tingshuo.events import Final, Segment

    store = server.app.state.store
    session = store.create_session("band", lang="zh", room_id=room["id"])
    seg = store.add_segment(Segment(session_id=session.id, start=0, end=4, lang="zh", text=text))
    server.app.state.rooms.publish(room["id"], Final(utterance=utterance, segment=seg))


def test_the_band_begins_with_a_captions_first_line(server, tmp_path):
    room = server.room(name="Band")
    driver = chromium(tmp_path)
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 1280, "height": 720, "deviceScaleFactor": 1, "mobile": False},
    )
    first = "今天我们讨论城市交通的未来，电动车只是解决方案中的一种，公共交通同样重要，也要做。"
    second = "下一位发言人将介绍地铁线路的规划，以及明年开工的三个项目，请大家关注会议材料。"
    try:
        driver.get(f"{server.url}/room/{room['id']}/screen?token={room['viewer_token']}"
                   "&lines=3&qr=0")  # fmt: skip
        wait_for(driver, "document.getElementById('status').dataset.link === 'online'", 20)
        _final(server, room, 1, first)
        _final(server, room, 2, second)
        wait_for(driver, "window.tsCaptions.rows.size === 2", 10)
        geometry = driver.execute_script(LINE_BOXES)
        assert geometry["lines"] == 3
        seen = assert_whole_lines(geometry)
        # the older caption would leave only its tail on the top line: it is hidden whole
        assert seen and {box["text"] for box in seen} == {second}
        assert all(box["hidden"] for box in geometry["boxes"] if box["text"] == first)
        driver.save_screenshot(str(tmp_path / "band.png"))
    finally:
        driver.quit()


def test_a_phone_names_its_two_choices_apart_and_a_wrong_link_says_so(server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    room = server.room(name="Phone", targets=["en"])
    page = f"{server.url}/room/{room['id']}"
    # the chosen option's text, and the drop-down's arrow, inside the drop-down and the window
    fits = """
    const s = arguments[0];
    const ctx = document.createElement('canvas').getContext('2d');
    ctx.font = getComputedStyle(s).font;
    const r = s.getBoundingClientRect();
    return [ctx.measureText(s.selectedOptions[0].text).width + 16 <= r.width,
            r.left >= 0 && r.right <= window.innerWidth];
    """
    english = chromium(tmp_path / "en", "--lang=en-US")
    english.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True},
    )
    chinese = chromium(tmp_path / "zh", "--lang=zh-CN", "--accept-lang=zh-CN")
    try:
        english.get(f"{page}?token={room['viewer_token']}&lang=src,en")
        wait_for(english, "document.getElementById('status').dataset.link === 'online'", 20)
        captions = english.find_element(By.ID, "langs-pick")
        voice = english.find_element(By.CSS_SELECTOR, "#listen-bar .pick")
        assert captions.text.startswith("Captions") and voice.text.startswith("Voice")
        shown = Select(english.find_element(By.ID, "langs"))
        assert [o.text for o in shown.options] == ["Original", "Original + English", "English"]
        assert shown.first_selected_option.text == "Original + English"
        heard = Select(english.find_element(By.ID, "listen-lang"))
        assert [o.text for o in heard.options] == ["English", "Original sound"]
        for select in (shown, heard):  # the chosen text whole, inside the window
            assert english.execute_script(fits, select._el) == [True, True]
        assert not EMOJI.search(english.find_element(By.TAG_NAME, "header").text)
        icons = english.execute_script(SHOWN_ICONS)
        assert [c for c, _, _ in icons] == ["icon icon-play"] and icons[0][1] > 8, icons
        english.save_screenshot(str(tmp_path / "phone-header.png"))

        # a wrong token: an English page about the link, nothing to choose
        english.get(f"{page}?token=wrong")
        wait_for(english, "document.getElementById('status').dataset.link === 'refused'", 20)
        assert english.find_element(By.ID, "name").text == "Link not valid"
        assert english.title.startswith("Link not valid")
        assert english.find_element(By.ID, "status").text == "no access"
        told = english.find_element(By.ID, "empty").text
        assert "ask the organizer for the QR code again" in told
        assert not english.find_element(By.ID, "langs").is_displayed()
        english.save_screenshot(str(tmp_path / "phone-refused.png"))
        # no such room, to a Chinese browser: Chinese
        chinese.get(f"{server.url}/room/nosuchroom?token=wrong")
        wait_for(chinese, "document.getElementById('status').dataset.link === 'refused'", 20)
        assert chinese.find_element(By.ID, "name").text == "没有这个会场"
        text = chinese.find_element(By.ID, "empty").text
        assert "请检查链接" in text and "403" not in text and "closed" not in text
    finally:
        english.quit()
        chinese.quit()
