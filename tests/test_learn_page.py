"""/learn never contradicts itself: each syllable's tone shape agrees with its verdict (scores,
the API's JSON, the cards, the CLI table), and typed practice text is shown with its pinyin."""

from __future__ import annotations

import dataclasses
import html
import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tingshuo.audio.decode import load_audio
from tingshuo.learn import drill, report
from tingshuo.learn.assess import Assessment, SyllableResult, analyse, score
from tingshuo.learn.sandhi import SHAPES, Syllable, reference_syllables
from tingshuo.live.models import Models
from tingshuo.server.api_learn import router
from tingshuo.settings import Settings

from .helpers import AISHELL, DATA, EMOJI, SHOWN_ICONS, chromium, needs_chromium, wait_for

pytestmark = pytest.mark.slow

W0121 = AISHELL / "audio" / "BAC009S0150W0121.flac"  # 其中有两个是内因的指标
W0124 = AISHELL / "audio" / "BAC009S0150W0124.flac"  # 用居民部门储蓄上一年利息支出
MA1 = DATA / "gcin-syllables-male" / "audio" / "ma1.ogg"  # 妈, read in isolation
# beng said with the rising tone, in isolation: near the level tone without being sure of it
# (the verdict's margin stays inside the near band wherever the recording starts)
BENG2 = DATA / "gcin-syllables-male" / "audio" / "beng2.ogg"
# W0121's prompt with five tones changed: zhong1→4, ge4→1, shi4→1, yin1→3, biao1→2
WRONG_TONES = "qi2 zhong4 you3 liang3 ge1 shi1 nei4 yin3 de5 zhi3 biao2"
_SHOWN = re.compile(r"heard (\w+) \((\d)\), expected (\w+) \((\d)\)")


def check_agrees(s: SyllableResult) -> None:
    """The tone heard, the shape and the text shown say what the verdict says."""
    e = int(s.expected[-1])
    shown = report.tone_text(s)
    if s.tone_sure is False:  # a near thing: neither ✓ nor ✗
        assert shown.startswith("cannot tell 听不准") and report.tone_mark(s) == "?", s
        assert "cannot tell" in s.advice and "听不准" in s.advice_zh
        return
    if s.tone_ok:
        assert (s.tone_heard, s.shape, shown) == (e, SHAPES[e], SHAPES[e]), s
    elif s.tone_ok is False:
        assert s.tone_heard is not None and s.tone_heard != e, s
        assert s.shape == SHAPES[s.tone_heard]
        assert shown == f"heard {s.shape} ({s.tone_heard}), expected {SHAPES[e]} ({e})"
        assert f"heard {s.shape} (tone {s.tone_heard})" in s.advice
        assert f"第{e}声" in s.advice_zh and f"第{s.tone_heard}声" in s.advice_zh
    else:
        assert s.tone_heard is None and s.shape == "unclear", s


def check_cards(a: Assessment, cards: str) -> None:
    shown = re.findall(r'<span class="shape">(.*?)</span>', cards)
    assert shown == [html.escape(report.tone_text(s)) for s in a.syllables]


def _other_tones(expected: list[Syllable]) -> list[Syllable]:
    # every full tone becomes another one: 1->2, 2->3, 3->4, 4->1
    return [
        dataclasses.replace(s, tone=s.tone % 4 + 1, citation_tone=s.tone % 4 + 1)
        if s.tone != 5 and s.citation_tone == s.tone
        else s
        for s in expected
    ]


def test_tone_shape_agrees_with_the_verdict_on_real_readings(recognizer, settings):
    results = []
    for path, text in ((W0121, "其中有两个是内因的指标"), (W0124, "用居民部门储蓄上一年利息支出")):
        analysis = analyse(recognizer, load_audio(path), settings)
        expected = reference_syllables(text)
        results += [score(analysis, expected, text), score(analysis, _other_tones(expected))]
    drill = analyse(recognizer, load_audio(MA1), settings)
    results += [score(drill, reference_syllables(f"ma{t}")) for t in (1, 2, 3, 4)]

    syllables = [s for a in results for s in a.syllables]
    for a in results:
        for s in a.syllables:
            check_agrees(s)
        check_cards(a, report.cards_html(a))
    # the issue's own case: 其 qí passes, and is shown rising, not the network's best guess
    qi = results[0].syllables[0]
    assert qi.text == "其" and qi.tone_ok and qi.shape == "rising" and qi.pitch_tone != 2
    # the sample holds both conflicts the verdict now settles: passed though the pitch
    # network liked another tone best, and failed though it liked the expected one best
    tone = [(s, int(s.expected[-1])) for s in syllables]
    assert sum(bool(s.tone_ok) and s.pitch_tone != e for s, e in tone) >= 5
    assert any(s.tone_ok is False and s.pitch_tone == e for s, e in tone)
    assert sum(s.tone_ok is False for s in syllables) >= 10


@pytest.fixture(scope="module")
def client(worker):
    app = FastAPI()
    app.state.models = Models(Settings(), worker)
    app.include_router(router)
    return TestClient(app)


def test_api_json_and_cards_agree_with_the_verdict(client):
    r = client.post(
        "/api/learn/assess",
        files={"file": ("reading.flac", W0121.read_bytes())},
        data={"text": WRONG_TONES},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert all("pitch_tone" not in s for s in body["assessment"]["syllables"])
    a = Assessment.model_validate(body["assessment"])
    for s in a.syllables:
        check_agrees(s)
    check_cards(a, body["cards_html"])
    verdicts = {s.tone_ok for s in a.syllables}
    assert True in verdicts and False in verdicts


def test_a_near_tone_is_shown_as_cannot_tell_not_as_right_or_wrong(client):
    # gcin's beng2 against the prompt beng1: the pitch is likelier rising than level, by a
    # margin within the band where the verdict is a near thing (`drill.SURE_FAIL` ..
    # `SURE_PASS`), and the card says it cannot tell (with both tones named), not ✓ or ✗
    r = client.post(
        "/api/learn/assess",
        files={"file": ("beng2.ogg", BENG2.read_bytes())},
        data={"text": "beng1"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    s = SyllableResult.model_validate(body["assessment"]["syllables"][0])
    assert s.tone_sure is False, s
    assert drill.SURE_FAIL / 2 < s.tone_probability < drill.SURE_PASS, s.tone_probability
    check_agrees(s)
    assert "level (tone 1) or rising (tone 2)" in s.advice and "第2声" in s.advice_zh
    cards = body["cards_html"]
    assert "tone 声调 ?" in cards and "cannot tell 听不准" in cards
    assert "tone 声调 ✗" not in cards and "tone 声调 ✓" not in cards
    # the same recording against its own prompt: a sure pass
    r = client.post(
        "/api/learn/assess",
        files={"file": ("beng2.ogg", BENG2.read_bytes())},
        data={"text": "beng2"},
    )
    s = SyllableResult.model_validate(r.json()["assessment"]["syllables"][0])
    assert s.tone_ok is True and s.tone_sure is True and "tone 声调 ✓" in r.json()["cards_html"]


def test_cli_table_shape_agrees_with_the_verdict(cli):
    done = cli("assess", str(W0121), "--text", WRONG_TONES)
    assert done.returncode == 0, done.stderr
    rows = [
        [c.strip() for c in line.split("│")[1:-1]]
        for line in done.stdout.splitlines()
        if re.match(r"│\s+\d+ │", line)
    ]
    assert len(rows) == 11
    marks = set()
    for row in rows:
        expected, tone_mark, shown = row[2], row[6], row[7]
        e = int(re.search(r"\((\w+)\)", expected).group(1)[-1])
        marks.add(tone_mark)
        if tone_mark == "✓":
            assert shown == SHAPES[e], row
        else:
            m = _SHOWN.fullmatch(shown)
            assert tone_mark == "✗" and m, row
            assert m[1] == SHAPES[int(m[2])] and int(m[2]) != e, row
            assert (m[3], int(m[4])) == (SHAPES[e], e), row
    assert marks == {"✓", "✗"}


def test_typed_text_gets_its_pinyin_from_the_api_under_the_rate_limit():
    assert client_for(Settings()).get("/api/learn/pinyin", params={"text": "你好"}).json() == {
        "text": "你好",
        "pinyin": "ní hǎo",
    }
    limited = client_for(Settings(public_rate_per_minute=1, public_burst=2))
    assert limited.get("/api/learn/pinyin", params={"text": "ni3 hao3"}).json()["pinyin"] == (
        "ní hǎo"
    )
    r = limited.get("/api/learn/pinyin", params={"text": "hello"})
    assert r.status_code == 422 and "no Chinese" in r.json()["detail"]
    assert limited.get("/api/learn/pinyin", params={"text": "你好"}).status_code == 429


def client_for(settings: Settings) -> TestClient:
    app = FastAPI()
    app.state.settings = settings
    app.state.models = Models(settings)  # the server's; nothing loads until a route asks
    app.include_router(router)
    return TestClient(app)


@needs_chromium
def test_typed_practice_text_is_shown_with_its_pinyin(server, tmp_path):
    from selenium.webdriver.common.by import By

    driver = chromium(tmp_path)
    try:
        driver.get(f"{server.url}/learn")
        wait_for(driver, "document.getElementById('pick').options.length > 1", 20, "sentences")
        # icons drawn, no emoji font needed
        assert not EMOJI.search(driver.find_element(By.TAG_NAME, "body").text)
        icons = driver.execute_script(SHOWN_ICONS)
        assert {c for c, _, _ in icons} == {"icon icon-play", "icon icon-record"}
        assert all(w > 8 and h > 8 for _, w, h in icons), icons
        pinyin = driver.find_element(By.ID, "pinyin")
        typed = driver.find_element(By.ID, "text")
        typed.send_keys("你好")
        shows = "document.getElementById('pinyin').textContent === "
        wait_for(driver, shows + "'ní hǎo'", 20, "the pinyin of 你好")
        assert pinyin.text == "ní hǎo" and pinyin.is_displayed()
        # a listed sentence, then edited into the learner's own: its pinyin follows
        driver.execute_script(
            "const p = document.getElementById('pick'); p.value = '1'; p.onchange()"
        )
        assert pinyin.text and driver.find_element(By.ID, "english").text
        typed.clear()
        typed.send_keys("我们一起学习中文")
        wait_for(driver, shows + "'wǒ men yì qǐ xué xí zhōng wén'", 20, "its pinyin")
        assert pinyin.text == "wǒ men yì qǐ xué xí zhōng wén"
        assert driver.find_element(By.ID, "pick").get_attribute("value") == ""
        assert driver.find_element(By.ID, "english").text == ""
        typed.clear()
        typed.send_keys("hello")
        wait_for(driver, "document.getElementById('pinyin').className === 'error'", 20)
        assert "no Chinese" in pinyin.text
    finally:
        driver.quit()


@needs_chromium
def test_the_page_says_it_cannot_tell_a_near_tone_and_leaves_it_out_of_the_counts(server, tmp_path):
    """gcin's beng2 sent by /learn under the prompt beng1: its pitch lies near the level tone
    without being sure of it, and the card a learner sees says so, with neither ✓ nor ✗ for
    the tone, and the per-tone table does not count it.

    The page sends the recording file itself, as it sends what its microphone recorded: the
    near band is narrow (`drill.SURE_FAIL` .. `SURE_PASS`), and through the fake microphone
    (Opus, the browser's gain control, where the recording starts) the margin moves across
    it from run to run. The microphone's path is tested in `test_tone_drills`."""
    import base64

    from selenium.webdriver.common.by import By

    driver = chromium(tmp_path)
    try:
        driver.get(f"{server.url}/learn")
        driver.find_element(By.ID, "text").send_keys("beng1")
        wait_for(driver, "document.getElementById('pinyin').textContent !== ''", 20)
        driver.execute_script(
            "const bytes = Uint8Array.from(atob(arguments[0]), (c) => c.charCodeAt(0));"
            "chunks = [new Blob([bytes])]; recorder = {mimeType: 'audio/ogg'}; send();",
            base64.b64encode(BENG2.read_bytes()).decode(),
        )
        wait_for(driver, "document.querySelector('#result .syl')", 60, "the card")
        card = driver.find_element(By.CSS_SELECTOR, "#result .syl")
        driver.save_screenshot(str(tmp_path / "cannot-tell.png"))
        assert card.is_displayed() and "cannot tell 听不准" in card.text, card.text
        assert "tone 声调 ?" in card.text, card.text
        assert "tone 声调 ✓" not in card.text and "tone 声调 ✗" not in card.text
        assert "cannot tell whether it was level (tone 1)" in card.text, card.text
        # the per-tone table: the level tone was not tried, as far as it counts
        rows = driver.find_elements(By.CSS_SELECTOR, '#toneStats tr[data-tone="1"] td')
        assert not rows or rows[2].text == "0", [r.text for r in rows]
    finally:
        driver.quit()
