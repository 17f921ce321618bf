"""Captions people correct: the route, its history and refusals, the `correction` event and a
viewer's catch-up, translation again, rules on live captions, exports, and the console."""

from __future__ import annotations

import json
import random
import threading
import time

import pytest
from websockets.sync.client import connect

from tingshuo.events import Final, Segment
from tingshuo.live.captions import CaptionPath
from tingshuo.store.db import Store

from .helpers import ORG, LiveServer, chromium, create_room, events_url, needs_chromium, wait_for


@pytest.fixture(scope="module")
def server_overrides() -> dict:
    """A corrected caption is translated again: this module's server has a translator."""
    return {"mt_model": "qwen2.5-0.5b"}


def said(store: Store, room_id: str, texts: list[str]) -> list[Segment]:
    """Captions of a session held in the room, as the recognizer would have stored them."""
    session = store.create_session("talk", lang="zh", room_id=room_id)
    return [
        store.add_segment(
            Segment(session_id=session.id, start=3.0 * i, end=3.0 * i + 2, lang="zh", text=t)
        )
        for i, t in enumerate(texts)
    ]


def read_until(ws, wanted, timeout: float = 10) -> list[dict]:
    """Messages until one for which `wanted` is true (that one last)."""
    got = []
    deadline = time.monotonic() + timeout
    while True:
        m = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
        got.append(m)
        if wanted(m):
            return got


def test_a_correction_is_kept_broadcast_replayed_exported_and_bad_input_refused(server):
    room = server.room(name="纠错 Corrections")
    rid = room["id"]
    store = server.app.state.store
    segs = said(store, rid, ["我们去请凉寺看看。", "今天的会议开始了。", "谢谢大家。"])
    first, second = segs[0].id, segs[1].id
    url = f"/api/rooms/{rid}/segments"

    with connect(events_url(server, room), open_timeout=10) as ws:
        read_until(ws, lambda m: m["type"] == "caught_up")
        saved = server.http.patch(
            f"{url}/{first}", json={"text": " 我们去清凉寺看看。 ", "revision": 0, "editor": "A"}
        )
        assert saved.status_code == 200, saved.text
        out = saved.json()
        assert out["segment"]["text"] == "我们去清凉寺看看。"
        assert out["segment"]["revision"] == 1
        assert out["segment"]["original"] == "我们去请凉寺看看。"
        assert out["replaced"] is None
        # it replaced one word: "always replace 请凉 with 清凉" is offered
        assert out["suggestion"] == {"wrong": "请凉", "right": "清凉"}
        event = read_until(ws, lambda m: m["type"] == "correction")[-1]
        assert (event["segment_id"], event["text"], event["revision"]) == (
            first,
            "我们去清凉寺看看。",
            1,
        )
        assert event["by"] == "operator" and event["editor"] == "A"

    # a second console started from revision 0 too: its later save wins, and it is told
    later = server.http.patch(
        f"{url}/{first}", json={"text": "我们去清凉禅寺看看。", "revision": 0, "editor": "B"}
    ).json()
    assert later["segment"]["revision"] == 2
    assert later["replaced"]["text"] == "我们去清凉寺看看。" and later["replaced"]["editor"] == "A"
    history = server.http.get(f"{url}/{first}/revisions").json()
    assert [(h["revision"], h["text"], h["by"]) for h in history] == [
        (0, "我们去请凉寺看看。", "machine"),
        (1, "我们去清凉寺看看。", "operator"),
        (2, "我们去清凉禅寺看看。", "operator"),
    ]

    # a viewer that saw the first captions before they were corrected gets the new text
    with connect(events_url(server, room, since=segs[-1].id), open_timeout=10) as ws:
        got = read_until(ws, lambda m: m["type"] == "correction")
        assert got[-1]["text"] == "我们去清凉禅寺看看。" and got[-1]["replay"] is True

    # exports and search use the corrected text; ?original=1 the machine's
    txt = server.http.get(f"/api/rooms/{rid}/export?format=txt").text
    assert "我们去清凉禅寺看看。" in txt and "请凉" not in txt
    original = server.http.get(f"/api/rooms/{rid}/export?format=json&original=1").json()
    assert original["segments"][0]["text"] == "我们去请凉寺看看。"
    hits = server.http.get("/api/search", params={"q": "清凉禅寺"}).json()
    assert [h["segment"]["id"] for h in hits] == [first]

    # bad input: one clear line each, and the caption is kept
    other = server.room(name="另一个 Other")
    theirs = said(store, other["id"], ["别的会场。"])[0]
    cases = [
        (f"{url}/999999", {"text": "x"}, ORG, 404, "no caption 999999"),
        (f"{url}/{theirs.id}", {"text": "x"}, ORG, 404, f"no caption {theirs.id}"),
        (f"{url}/{second}", {"text": "x"}, room["viewer_token"], 403, ""),
        (f"{url}/{second}", {"text": "  "}, ORG, 422, "the text is empty"),
        (f"{url}/{second}", {"text": "长" * 2001}, ORG, 422, "at most 2,000"),
    ]
    for path, body, token, status, said_ in cases:
        r = server.http.patch(path, json=body, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == status, (path, r.text)
        assert said_ in r.json()["detail"] and "\n" not in r.json()["detail"]
    assert store.get_segment(second).text == "今天的会议开始了。"


def test_rules_are_checked_and_applied_to_live_captions_and_what_is_translated(server):
    room = server.room(name="规则 Rules", targets=["en"])
    rid = room["id"]
    rules = f"/api/rooms/{rid}/rules"
    looped = server.http.put(rules, json={"rules": "甲 => 乙\n乙 => 甲"})
    assert looped.status_code == 422 and "undo each other" in looped.json()["detail"]
    ok = server.http.put(rules, json={"rules": "# 地名\n星海 => 兴海"})
    assert ok.status_code == 200 and ok.json()["rules"] == "星海 => 兴海\n"
    added = server.http.post(rules, json={"wrong": "万客", "right": "万科"}).json()
    assert added["hotwords"] == ["兴海", "万科"]
    # the server's rules apply to every room; one that clashes with a room's is refused
    clash = server.http.put("/api/rules", json={"rules": "兴海 => 星海"})
    assert clash.status_code == 422 and "规则 Rules" in clash.json()["detail"]
    assert server.http.put("/api/rules", json={"rules": "阿里 => 阿里巴巴"}).status_code == 200
    try:
        assert server.http.get(rules).json()["server"] == "阿里 => 阿里巴巴\n"

        # a final as the room's recognizer hands it over: rules applied, then stored and
        # translated; a correction is translated again
        rooms = server.app.state.rooms
        info = rooms.room(rid)
        path = rooms.captions(info)
        path.rules = lambda: rooms.rulebook.for_room(rid)
        session = server.app.state.store.create_session("live", lang="zh", room_id=rid)
        with connect(events_url(server, room), open_timeout=10) as ws:
            read_until(ws, lambda m: m["type"] == "caught_up")
            seg = Segment(session_id=session.id, start=0, end=2, lang="zh",
                          text="万客和阿里在星海开会。")  # fmt: skip
            final = path.commit(Final(utterance=0, segment=seg), lambda e: rooms.publish(rid, e))
            assert final.segment.text == "万科和阿里巴巴在兴海开会。"
            first = read_until(ws, lambda m: m["type"] == "translation" and not m["partial"], 60)
            assert "Alibaba" in first[-1]["text"]  # 阿里巴巴, as the rule wrote it
            r = server.http.patch(
                f"/api/rooms/{rid}/segments/{final.segment.id}",
                json={"text": "万科和阿里巴巴在兴海签约。"},
            )
            assert r.status_code == 200
            again = read_until(ws, lambda m: m["type"] == "translation" and not m["partial"], 60)
            kinds = [m["type"] for m in again]
            assert kinds.index("correction") < len(kinds) - 1
            assert again[-1]["segment_id"] == final.segment.id
            assert again[-1]["text"] != first[-1]["text"]
        stored = server.app.state.store.get_segment(final.segment.id)
        assert stored.translations["en"] == again[-1]["text"]
    finally:
        server.http.put("/api/rules", json={"rules": ""})


class Page(threading.Thread):
    """A viewer page in miniature: what captions.js keeps (each caption's text and revision),
    reconnecting with since = the newest caption it has, as the page does."""

    def __init__(self, server: LiveServer, room: dict) -> None:
        super().__init__(daemon=True)
        self.server, self.room = server, room
        self.texts: dict[int, tuple[int, str]] = {}
        self.reconnect = threading.Event()
        self.stop = threading.Event()
        self.seen = 0  # messages read

    def take(self, m: dict) -> None:
        if m["type"] == "final" and m["segment"]["id"]:
            s = m["segment"]
            if self.texts.get(s["id"], (-1, ""))[0] <= s["revision"]:
                self.texts[s["id"]] = (s["revision"], s["text"])
        elif m["type"] == "correction":
            if self.texts.get(m["segment_id"], (-1, ""))[0] <= m["revision"]:
                self.texts[m["segment_id"]] = (m["revision"], m["text"])

    def run(self) -> None:
        while not self.stop.is_set():
            since = max(self.texts, default=0)
            with connect(events_url(self.server, self.room, since=since), open_timeout=10) as ws:
                self.reconnect.clear()
                while not (self.stop.is_set() or self.reconnect.is_set()):
                    try:
                        self.take(json.loads(ws.recv(timeout=0.1)))
                        self.seen += 1
                    except TimeoutError:
                        pass


def test_fifty_random_corrections_rules_and_reconnects_lose_nothing(server):
    rng = random.Random(14)
    room = server.room(name="五十 Fifty")
    rid = room["id"]
    rooms = server.app.state.rooms
    store = server.app.state.store
    path = CaptionPath(store, rules=lambda: rooms.rulebook.for_room(rid))
    session = store.create_session("live", lang="zh", room_id=rid)
    words = ["会议", "开始", "万客", "星海", "发言", "阿里", "请凉", "大家", "谢谢", "今天"]
    page = Page(server, room)
    page.start()
    ids: list[int] = []
    try:
        for step in range(50):
            kind = rng.choice(["final", "final", "correct", "correct", "rule", "reconnect"])
            if kind == "final" or not ids:
                text = "".join(rng.choices(words, k=4)) + "。"
                seg = Segment(session_id=session.id, start=step, end=step + 1, lang="zh", text=text)
                ids.append(path.commit(Final(utterance=step, segment=seg),
                                       lambda e: rooms.publish(rid, e)).segment.id)  # fmt: skip
            elif kind == "correct":
                target = rng.choice(ids)
                text = "".join(rng.choices(words, k=3)) + "！"
                r = server.http.patch(f"/api/rooms/{rid}/segments/{target}", json={"text": text})
                assert r.status_code == 200, r.text
            elif kind == "rule":
                wrong = rng.choice(["万客", "星海", "请凉"])
                right = {"万客": "万科", "星海": "兴海", "请凉": "清凉"}[wrong]
                r = server.http.post(
                    f"/api/rooms/{rid}/rules", json={"wrong": wrong, "right": right}
                )
                assert r.status_code == 200, r.text
            else:
                page.reconnect.set()
            time.sleep(rng.uniform(0, 0.05))
        stored = {s.id: s.text for s in store.room_segments(rid)}
        assert sorted(stored) == sorted(ids)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and {i: t for i, (_, t) in page.texts.items()} != stored:
            time.sleep(0.1)
    finally:
        page.stop.set()
        page.join(5)
    assert {i: t for i, (_, t) in page.texts.items()} == stored
    exported = server.http.get(f"/api/rooms/{rid}/export?format=json").json()["segments"]
    assert {s["id"]: s["text"] for s in exported} == stored
    fresh = Page(server, room)
    with connect(events_url(server, room), open_timeout=10) as ws:
        for m in read_until(ws, lambda m: m["type"] == "caught_up"):
            fresh.take(m)
    assert {i: t for i, (_, t) in fresh.texts.items()} == stored
    # and at least some captions were corrected, some by rules
    assert any(s.revision for s in store.room_segments(rid))
    assert any("万科" in t or "兴海" in t or "清凉" in t for t in stored.values())


@needs_chromium
def test_the_console_corrects_a_caption_from_the_keyboard_and_the_phone_follows(server, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    texts = "[...document.querySelectorAll('#captions .seg.final .src')].map((e) => e.textContent)"
    driver = chromium(tmp_path)
    try:
        room = create_room(driver, server, "纠错 Console")
        said(server.app.state.store, room["id"], ["第一句。", "我们去请凉寺看看。", "第三句。"])
        console = driver.current_window_handle
        driver.switch_to.new_window("tab")
        driver.set_window_size(390, 844)
        driver.get(room["links"]["phone"])
        phone = driver.current_window_handle
        wait_for(driver, "window.tsCaptions.finals().length === 3", 20, "the phone's captions")
        # when the phone's caption changes, and where it sits (no reordering, no jump)
        driver.execute_script(
            "const src = document.querySelectorAll('#captions .seg.final .src')[1];"
            "window.top0 = src.getBoundingClientRect().top;"
            "new MutationObserver(() => { window.changedAt = Date.now(); })"
            ".observe(src, {childList: true, characterData: true, subtree: true});"
        )

        driver.switch_to.window(console)
        driver.find_element(By.CSS_SELECTOR, f"#rooms li[data-id='{room['id']}']").click()
        wait_for(driver, "window.tsConsole.view.finals().length === 3", 20, "the captions")
        # keyboard only: focus the first caption, ↓ to the second, Enter edits
        rows = driver.find_elements(By.CSS_SELECTOR, "#captions .seg.final")
        driver.execute_script("arguments[0].focus()", rows[0])
        ActionChains(driver).send_keys(Keys.ARROW_DOWN, Keys.ENTER).perform()
        wait_for(driver, "document.querySelector('#captions .editing') !== null", 5, "editing")
        editing = driver.find_element(By.CSS_SELECTOR, "#captions .editing")
        assert editing.get_attribute("data-id") == str(rows[1].get_attribute("data-id"))
        # Esc cancels: nothing saved
        ActionChains(driver).send_keys("x", Keys.ESCAPE).perform()
        wait_for(driver, f"{texts}[1] === '我们去请凉寺看看。'", 5, "the edit cancelled")
        assert not driver.find_elements(By.CSS_SELECTOR, "#captions .editing")
        # a click on the text edits it; Enter saves
        rows[1].find_element(By.CSS_SELECTOR, ".src").click()
        src = driver.find_element(By.CSS_SELECTOR, "#captions .editing .src")
        driver.execute_script(
            "arguments[0].textContent = '我们去清凉寺看看。';"
            "arguments[0].addEventListener('keydown', (e) => {"
            " if (e.key === 'Enter') window.savedAt = Date.now(); }, {capture: true});",
            src,
        )
        src.send_keys(Keys.END, Keys.ENTER)
        wait_for(driver, f"{texts}[1] === '我们去清凉寺看看。'", 5)
        # the one-click rule it offers
        offer = driver.find_element(By.ID, "rule-suggest")
        wait_for(driver, "!document.getElementById('rule-suggest').hidden", 5, "the rule offer")
        assert "请凉" in offer.text and "清凉" in offer.text
        offer.click()
        wait_for(driver, "document.getElementById('rules-text').value === '请凉 => 清凉\\n'", 5)
        saved_at = driver.execute_script("return window.savedAt")

        driver.switch_to.window(phone)
        wait_for(driver, "window.tsCaptions.finals()[1] === '我们去清凉寺看看。'", 5, "the phone")
        changed_at, moved = driver.execute_script(
            "const src = document.querySelectorAll('#captions .seg.final .src')[1];"
            "return [window.changedAt, src.getBoundingClientRect().top - window.top0];"
        )
        assert changed_at - saved_at <= 500, f"{changed_at - saved_at} ms from Enter to the phone"
        assert abs(moved) < 1
        assert driver.execute_script("return window.tsCaptions.finals()") == [
            "第一句。",
            "我们去清凉寺看看。",
            "第三句。",
        ]

        # an empty caption is refused with one line, and kept
        driver.switch_to.window(console)
        driver.set_window_size(1280, 900)
        driver.execute_script("document.getElementById('captions').scrollIntoView()")
        driver.save_screenshot(str(tmp_path / "console-corrected.png"))
        rows[2].find_element(By.CSS_SELECTOR, ".src").click()
        src = driver.find_element(By.CSS_SELECTOR, "#captions .editing .src")
        driver.execute_script("arguments[0].textContent = ''", src)
        src.send_keys(Keys.ENTER)
        notice = driver.find_element(By.ID, "correction-notice")
        wait_for(driver, "!document.getElementById('correction-notice').hidden", 5)
        assert "empty" in notice.text
        src.send_keys(Keys.ESCAPE)
        wait_for(driver, f"{texts}[2] === '第三句。'", 5)
        # a bad rule list: one line, and the rules kept
        box = driver.find_element(By.ID, "rules-text")
        driver.execute_script("arguments[0].open = true", driver.find_element(By.ID, "rules-panel"))
        box.clear()
        box.send_keys("甲 => 乙\n乙 => 甲")
        driver.find_element(By.ID, "rules-save").click()
        wait_for(driver, "document.getElementById('rules-error').textContent !== ''", 5)
        assert "undo each other" in driver.find_element(By.ID, "rules-error").text
        assert server.http.get(f"/api/rooms/{room['id']}/rules").json()["rules"] == "请凉 => 清凉\n"
        driver.save_screenshot(str(tmp_path / "console-corrections.png"))
    finally:
        driver.quit()
