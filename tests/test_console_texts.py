"""The console's prepared texts (文稿) in headless Chromium: adding a text (pasted, chosen,
dropped), its passages, its terms as chips, a refused file's one line, removing a text; then
a live room that follows one: the line being said is highlighted beside the captions, a
caption in the text's writing is marked, and a click on a line re-anchors the room."""

from __future__ import annotations

import time

import numpy as np

from tingshuo.audio.decode import load_audio

from .helpers import AISHELL, by_id, chromium, create_room, needs_chromium, wait_for, write_wav

pytestmark = needs_chromium

SHOT = "/tmp/console_texts.png"
SAID = "BAC009S0150W0121"  # 其中有两个是内因的指标 (4 s)
# the speech's passages in reading order: an introduction, then the one said, then others
INTRO = "下面请北京大学的刘庆峰教授发言。"
SPEECH = ["BAC009S0150W0123", SAID, "BAC009S0150W0124", "BAC009S0150W0122"]
AGENDA = (
    "欢迎来到芜湖。\nWelcome to Wuhu.\n刘庆峰先生将在2025年发言。\nMr Liu Qingfeng speaks in 2025."
)

LIST = (
    "return [...document.querySelectorAll('#texts-list li[data-id] .name')].map(e => e.textContent)"
)
CHIPS = "return [...document.querySelectorAll('#texts-terms .chip')].map(c => c.dataset.term)"
HERE = "document.querySelector('#texts-lines li.here')"

# a file dropped on the panel, as a person's drag from the desktop delivers it
DROP = """
const dt = new DataTransfer();
dt.items.add(new File([arguments[1]], arguments[0], {type: 'text/markdown'}));
const target = document.getElementById('texts-drop');
for (const type of ['dragenter', 'dragover', 'drop']) {
  target.dispatchEvent(new DragEvent(type, {dataTransfer: dt, bubbles: true, cancelable: true}));
}
"""


def item(driver, name: str) -> dict:
    return driver.execute_script(
        "const li = [...document.querySelectorAll('#texts-list li[data-id]')]"
        "  .find(li => li.querySelector('.name').textContent === arguments[0]);"
        "return li && {id: Number(li.dataset.id), text: li.innerText, shown: li.checkVisibility()}",
        name,
    )


def talk(path, audio: np.ndarray):
    """Half a second of quiet, the sentence, then quiet enough to re-anchor while live."""
    quiet = np.zeros(16000, dtype=np.float32)
    return write_wav(path, np.concatenate([quiet[:8000], audio, *[quiet] * 8]))


def test_prepared_texts_in_the_console(server, aishell_rows, tmp_path):
    import docx
    from selenium.webdriver.common.by import By

    rows = by_id(aishell_rows)
    sentences = [INTRO] + [rows[u]["reference_text"] + "。" for u in SPEECH]
    speech = tmp_path / "keynote.docx"
    document = docx.Document()
    for s in sentences:
        document.add_paragraph(s)
    document.save(str(speech))
    old_word = tmp_path / "minutes.doc"
    old_word.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")

    driver = chromium(tmp_path)
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 1400, "height": 957, "deviceScaleFactor": 1, "mobile": False},
    )
    t0 = time.monotonic()
    try:
        room = create_room(driver, server, "Hall T 文稿")
        texts = f"/api/rooms/{room['id']}/texts"
        panel = driver.find_element(By.ID, "texts-panel")
        wait_for(driver, "!document.getElementById('texts-panel').hidden", 10, "the panel")
        assert "文稿 Prepared texts" in panel.text
        # beside the room, not above the captions: they stay where they were
        left = driver.find_element(By.ID, "captions-panel").rect["x"]
        assert panel.rect["x"] + panel.rect["width"] < left

        # -- pasted: a bilingual agenda, its translations and terms
        driver.find_element(By.ID, "texts-paste-open").click()
        driver.find_element(By.ID, "texts-paste-name").send_keys("议程 Agenda")
        driver.find_element(By.ID, "texts-paste-text").send_keys(AGENDA)
        driver.find_element(By.ID, "texts-paste-add").click()
        wait_for(driver, "document.querySelector('#texts-list li.selected')", 20, "the agenda")
        agenda = item(driver, "议程 Agenda")
        assert agenda["shown"] and "2 段 passages" in agenda["text"], agenda
        assert "English 2/2" in agenda["text"], agenda  # its own translations
        assert not driver.find_element(By.ID, "texts-paste").is_displayed()
        assert driver.execute_script(CHIPS) == ["芜湖", "刘庆峰", "2025"]
        shown = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#texts-lines li .src")]
        assert shown == ["欢迎来到芜湖。", "刘庆峰先生将在2025年发言。"]

        # a chip's × drops the term: the chips and the server agree
        driver.find_element(By.CSS_SELECTOR, "#texts-terms .chip[data-term='芜湖'] .x").click()
        wait_for(driver, "document.querySelectorAll('#texts-terms .chip').length === 2", 10)
        assert driver.execute_script(CHIPS) == ["刘庆峰", "2025"]
        stored = {t["name"]: t for t in server.http.get(texts).json()}
        assert stored["议程 Agenda"]["terms"] == ["刘庆峰", "2025"]

        # -- refused files: the server's one line, and the list as it was
        chooser = driver.find_element(By.ID, "texts-file")  # behind "Add a file…"
        for refused, words in [(old_word, "Word 97-2003 (.doc)"), (empty, "has no text")]:
            driver.execute_script("document.getElementById('texts-error').textContent = ''")
            chooser.send_keys(str(refused))
            line = wait_for(driver, "document.getElementById('texts-error').textContent", 20)
            assert refused.name in line and words in line and "\n" not in line, line
            assert driver.find_element(By.ID, "texts-error").is_displayed()
            assert driver.execute_script(LIST) == ["议程 Agenda"]

        # -- a chosen file: the speech (DOCX)
        chooser.send_keys(str(speech))
        wait_for(driver, "document.querySelectorAll('#texts-list li[data-id]').length === 2", 30)
        assert driver.find_element(By.ID, "texts-error").text == ""
        keynote = item(driver, "keynote.docx")
        assert "DOCX" in keynote["text"] and "5 段 passages" in keynote["text"], keynote
        assert "已添加" in driver.find_element(By.ID, "texts-status").text
        shown = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#texts-lines li .src")]
        assert shown == sentences  # the chosen one: the text added last
        stored = {t["name"]: t for t in server.http.get(texts).json()}
        assert driver.execute_script(CHIPS) == stored["keynote.docx"]["terms"]
        assert driver.execute_script(CHIPS)[:2] == ["北京大学", "刘庆峰"]

        # -- dropped on the panel, then removed (after a confirmation)
        driver.execute_script(DROP, "notes.md", "# 备注\n\n会后合影。\n")
        wait_for(driver, "document.querySelectorAll('#texts-list li[data-id]').length === 3", 30)
        assert driver.execute_script(LIST) == ["议程 Agenda", "keynote.docx", "notes.md"]
        notes = item(driver, "notes.md")
        driver.find_element(
            By.CSS_SELECTOR, f"#texts-list li[data-id='{notes['id']}'] .remove"
        ).click()
        alert = driver.switch_to.alert
        assert "notes.md" in alert.text
        alert.accept()
        wait_for(driver, "document.querySelectorAll('#texts-list li[data-id]').length === 2", 10)
        assert driver.execute_script(LIST) == ["议程 Agenda", "keynote.docx"]
        assert [t["name"] for t in server.http.get(texts).json()] == ["议程 Agenda", "keynote.docx"]
        print(f"texts added and removed in {time.monotonic() - t0:.1f} s")

        # -- live: the speech's second sentence is said
        driver.find_element(By.CSS_SELECTOR, f"#texts-list li[data-id='{keynote['id']}']").click()
        wait_for(driver, "document.querySelectorAll('#texts-lines li').length === 5", 10)
        audio = talk(tmp_path / "talk.wav", load_audio(AISHELL / rows[SAID]["path"]))
        with audio.open("rb") as f:
            r = server.http.post(
                f"/api/rooms/{room['id']}/start/file",
                files={"file": ("talk.wav", f, "audio/wav")},
                data={"speed": "1"},
            )
        assert r.status_code == 200, r.text
        said = rows[SAID]["reference_text"] + "。"
        wait_for(driver, HERE, 40, "the line being said")
        here = driver.find_element(By.CSS_SELECTOR, "#texts-lines li.here")
        assert here.find_element(By.CSS_SELECTOR, ".src").text == said
        assert here.get_attribute("aria-current") == "location"
        assert "3/5" in driver.find_element(By.ID, "texts-where").text
        # the caption is the text's writing, and marked as such
        row = wait_for(
            driver, "document.querySelector('#captions .seg.final.script')", 10, "the mark"
        )
        assert row.find_element(By.CSS_SELECTOR, ".src").text == said
        badge = driver.execute_script(
            "return getComputedStyle(arguments[0], '::after').content", row
        )
        assert "文稿" in badge
        segment = server.http.get(f"/api/rooms/{room['id']}/segments").json()[0]
        assert segment["source"] == "script" and segment["text"] == said

        # the captions and the line being said, side by side in the window
        driver.execute_script("document.getElementById('captions-panel').scrollIntoView()")
        view = driver.execute_script("return [window.innerWidth, window.innerHeight]")
        for element in [row, here, driver.find_element(By.ID, "captions")]:
            box = driver.execute_script("return arguments[0].getBoundingClientRect()", element)
            assert 0 <= box["top"] and box["top"] + min(box["height"], 100) <= view[1], box
            assert 0 <= box["left"] and box["right"] <= view[0], box
        driver.save_screenshot(SHOT)

        # a click on a line re-anchors the live room there
        lines = driver.find_elements(By.CSS_SELECTOR, "#texts-lines li")
        lines[4].click()
        wait_for(driver, "document.querySelector('#texts-lines li.here')?.dataset.index === '4'")
        place = server.http.get(f"{texts}/place").json()
        assert place == {"zh": {"text_id": keynote["id"], "index": 4}}
        assert driver.find_element(By.ID, "texts-error").text == ""

        # idle: a click is refused in the server's words
        wait_for(driver, "document.getElementById('room-state').textContent === 'idle'", 30)
        lines[0].click()
        line = wait_for(driver, "document.getElementById('texts-error').textContent", 10)
        assert "start it first" in line, line
        print(f"the whole test in {time.monotonic() - t0:.1f} s")
    finally:
        driver.quit()
