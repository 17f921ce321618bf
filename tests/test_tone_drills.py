"""Tone drills (one to four syllables): found and judged in the audio itself, on real native
recordings of isolated syllables (gcin) and tingshuo's own voice; bad input refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tingshuo.audio.decode import load_audio
from tingshuo.errors import TingshuoError
from tingshuo.learn import report
from tingshuo.learn.assess import assess_audio
from tingshuo.live.models import Models
from tingshuo.server.api_learn import router
from tingshuo.settings import Settings

from .helpers import AISHELL, DATA, LiveServer, chromium, needs_chromium, wait_for, write_wav

pytestmark = pytest.mark.slow

GCIN = DATA / "gcin-syllables-male" / "audio"
PAD = np.zeros(4000, dtype=np.float32)  # 0.25 s of room either side, as a recording has


def clip(*pinyin: str, gap_s: float = 0.08) -> np.ndarray:
    """Native isolated syllables, joined with short gaps into a word."""
    gap = np.zeros(int(gap_s * 16000), dtype=np.float32)
    parts = []
    for p in pinyin:
        audio = load_audio(GCIN / f"{p}.ogg")
        loud = np.flatnonzero(np.abs(audio) > 0.02 * np.abs(audio).max())
        parts += [audio[loud[0] : loud[-1] + 1], gap]
    return np.concatenate([PAD, *parts[:-1], PAD])


def test_the_four_tones_of_ten_syllables_pass_their_own_prompt_and_fail_the_others(settings):
    # the tone only (no recognizer): the ten syllables of the page's four-tone drills
    right = flagged = told = drawn = 0
    for base in ("ma", "ba", "shi", "yi", "tang", "fei", "wen", "qi", "tu", "guo"):
        for said in (1, 2, 3, 4):
            audio = clip(f"{base}{said}")
            pictures = set()
            for prompt in (1, 2, 3, 4):
                a = assess_audio(None, audio, f"{base}{prompt}", settings)
                assert a.mode == "drill" and len(a.syllables) == 1
                s = a.syllables[0]
                ok = s.tone_ok
                if prompt == said:
                    right += bool(ok)
                else:
                    flagged += ok is False
                # the drawing and the verdict tell one story: the dashed line the pitch is
                # drawn nearest is the tone the card says was heard
                pictures.add(tuple(s.contour))
                if s.contour and s.tone_heard is not None:
                    drawn += 1
                    told += nearest_shape(s.contour, report.tone_shapes(a)) == s.tone_heard
            assert len(pictures) == 1  # one recording, one drawing, whatever the prompt
    # the floors of the benchmark are measured on voices the model never heard; this voice
    # is one it was fitted on, so this only checks that the path works end to end
    assert right >= 30 and flagged >= 0.85 * 120, (right, flagged)
    # drawn around each reading's own median, the pitch sat nearest the heard tone's line
    # in 44 % of gcin's syllables; against the judged register, with the model's shapes, 80 %
    assert told >= 0.75 * drawn, (told, drawn)


def nearest_shape(contour: list[float], shapes: dict[int, list[tuple[float, float]]]) -> int:
    xs = np.linspace(0.0, 1.0, len(contour))
    far = {
        t: float(
            np.mean(np.abs(np.asarray(contour) - [report._template_at(t, x, shapes) for x in xs]))
        )
        for t in (1, 2, 3, 4)
    }
    return min(far, key=far.get)


def test_a_low_fall_is_drawn_where_the_verdict_heard_it(settings):
    """gcin's ma3 is a steady low fall (21): judged a third tone, and drawn on the third
    tone's line under 马 and under 骂 alike, never on the falling tone's."""
    audio = clip("ma3")
    for prompt, ok in (("马", True), ("骂", False)):
        a = assess_audio(None, audio, prompt, settings)
        s = a.syllables[0]
        assert s.tone_ok is ok and s.tone_heard == 3 and s.shape == "dipping"
        assert nearest_shape(s.contour, report.tone_shapes(a)) == 3
        svg = report.contour_svg(s, int(s.expected[-1]), shapes=report.tone_shapes(a))
        assert svg.count("<polyline") == 2


def test_a_wrong_tone_is_reported_with_what_was_heard_and_both_contours(recognizer, settings):
    a = assess_audio(recognizer, clip("ma3"), "妈", settings)
    s = a.syllables[0]
    assert s.tone_ok is False and s.tone_heard == 3 and s.shape == "dipping"
    assert "tone 3" in s.advice and "第1声" in s.advice_zh
    assert len(s.contour) >= 10
    # the picture: the learner's contour over the expected one, in the terminal and the page
    lines = report.contour_lines(a.syllables)
    assert any("●" in line for line in lines) and any("·" in line for line in lines)
    assert "1→3 ✗" in lines[-1]
    assert "stroke-dasharray" in report.cards_html(a)


def test_two_syllable_word_is_split_and_each_tone_judged(recognizer, settings):
    a = assess_audio(recognizer, clip("lao3", "shi1"), "老师", settings)
    assert [s.expected for s in a.syllables] == ["lao3", "shi1"]
    first, second = a.syllables
    assert first.end <= second.start + 0.01 and second.start - first.start > 0.2
    assert first.tone_ok and second.tone_ok
    data = json.loads(report.to_json(a))
    assert data["mode"] == "drill" and data["syllables"][1]["tone_heard"] == 1


def test_initial_and_final_are_judged_against_their_neighbours(recognizer, settings):
    audio = clip("ma1")
    own = assess_audio(recognizer, audio, "ma1", settings).syllables[0]
    assert own.initial_ok and own.final_ok
    other_initial = assess_audio(recognizer, audio, "ba1", settings).syllables[0]
    assert other_initial.initial_ok is False and other_initial.final_ok
    other_final = assess_audio(recognizer, audio, "mao1", settings).syllables[0]
    assert other_final.final_ok is False and other_final.initial_ok


def test_silence_and_a_reading_much_longer_than_the_prompt_are_refused(recognizer, settings):
    with pytest.raises(TingshuoError, match="no speech heard"):
        assess_audio(recognizer, np.zeros(32000, dtype=np.float32), "ma1", settings)
    sentence = load_audio(AISHELL / "audio" / "BAC009S0150W0121.flac")
    with pytest.raises(TingshuoError, match=r"read only the prompt") as caught:
        assess_audio(recognizer, sentence, "ma1", settings)
    # the durations are given: the speech heard and the most a one-syllable prompt takes
    assert "s of speech" in str(caught.value) and "at most" in str(caught.value)


def test_a_syllable_tracked_an_octave_off_is_put_back_before_its_tone_is_judged():
    from tingshuo.learn import drill
    from tingshuo.learn.pitch import PitchTrack

    # a 0.3 s fall of 6 semitones whose creaky last 60 ms Praat doubled, and a lone syllable
    # tracked an octave high as a whole (a middle 12 semitones over the register)
    times = 0.005 + 0.01 * np.arange(40)
    fall = np.full(40, np.nan)
    fall[5:35] = np.linspace(3.0, -3.0, 30)
    doubled = fall.copy()
    doubled[29:35] += 12.0
    track = PitchTrack(times, doubled, 120.0, np.zeros(40))
    spans = [(0.0, 0.4)]
    cleaned = drill.clean_pitch(track, spans).semitones
    assert np.allclose(cleaned[5:35], fall[5:35])
    c = drill.contours_for(track, spans)
    assert c[0] is not None and c[0].points[-1] < c[0].points[0] - 4
    high = drill.drill_features(track, spans, c, 0, register_hz=60.0)  # 12 st below the track
    assert high is not None and abs(high[6]) < 1.0


def test_a_voice_is_judged_against_a_mans_and_a_womans_register_by_how_it_sounds(settings):
    from tingshuo.learn import drill
    from tingshuo.learn.assess import analyse_drill

    man = analyse_drill(clip("ma1"), 1, settings)
    registers = drill.reading_registers(man.audio, man.pitch, man.spans)
    (low, p_low), (guess, p_guess), (high, p_high) = registers
    assert low < 150 < 200 < high and low <= guess < 150 and p_low > 0.6 > p_high
    assert abs(p_low + p_guess + p_high - 1) < 1e-9
    # the learner's own register, when known (what earlier readings told), stands alone
    assert drill.reading_registers(man.audio, man.pitch, man.spans, 133.0) == [(133.0, 1.0)]


def test_one_feature_far_from_every_tone_does_not_outvote_the_others():
    from tingshuo.learn import drill

    model = drill.load_drill_model()
    scale = np.sqrt(model.var)
    # a fourth tone (heights well above the register, falling) that falls fast and then stays
    # low: its middle point lies 10 scales below the mean, where a Gaussian hears a third tone
    x = model.means[3].copy()
    x[2] -= 10 * scale[2]
    assert int(np.argmax(model.probabilities(x)[0])) + 1 == 4
    assert drill.tone_passes(model.probabilities(x)[0], 4)


def test_three_readings_tell_a_voices_register_whatever_their_tones(settings):
    # a lone syllable's median is its tone's height (a third tone low, a first high); less
    # the prompted tone's usual height, three readings give the voice's register: gcin's
    # man (his syllables' median pitch about 133 Hz) and the woman Praat makes of him
    from tingshuo.learn.train_drill import CHANGES

    woman = CHANGES["gcin"]["woman"]
    for voice, register, make in (("man", 133.0, None), ("woman", 254.0, woman)):
        told = []
        for said in ("ma3", "shi4", "tang1"):
            audio = clip(said) if make is None else np.concatenate([PAD, make(clip(said)), PAD])
            a = assess_audio(None, audio, said, settings)
            assert a.register_hz is not None
            told.append(a.register_hz)
        settled = float(np.median(told))
        # within 2 semitones of the voice's register, where one syllable's median may be 4 off
        assert abs(12 * np.log2(settled / register)) < 2.0, (voice, told)


def test_a_high_mans_tones_are_judged_against_the_register_his_readings_told(settings):
    # tingshuo's woman's voice made a man with a wide range (176 Hz): against a man's and a
    # woman's register his high third tones pass for fourths and his first tones for
    # seconds (12 of these 20 were judged right); against the register his first three
    # readings told, alone, 18 are
    from tingshuo.learn.train_drill import CHANGES
    from tingshuo.learn.voice import read_pinyin
    from tingshuo.tts import load_voice
    from tingshuo.tts.audio_out import resample

    voice = load_voice("zh", settings)
    make = CHANGES["tts"]["man-high"]

    def say(pinyin: str) -> np.ndarray:
        speech = read_pinyin(voice, [pinyin])
        return np.concatenate([PAD, make(resample(speech.audio, speech.sample_rate, 16000)), PAD])

    told = [assess_audio(None, say(p), p, settings).register_hz for p in ("ma3", "shi4", "tang1")]
    register = float(np.median(told))
    assert 150 < register < 200, told
    said = [f"{base}{tone}" for base in ("ma", "yi", "bao", "shi", "hua") for tone in (1, 2, 3, 4)]
    right = 0
    for p in said:
        s = assess_audio(None, say(p), p, settings, register_hz=register).syllables[0]
        right += bool(s.tone_ok and s.tone_sure)
    assert right >= 17, right


def test_tingshuos_voice_reads_the_tones_asked_for(settings):
    from tingshuo.learn.voice import read_pinyin
    from tingshuo.tts import load_voice
    from tingshuo.tts.audio_out import resample

    voice = load_voice("zh", settings)
    right = 0
    for tone in (1, 2, 3, 4):
        speech = read_pinyin(voice, [f"ma{tone}"])
        audio = np.concatenate([PAD, resample(speech.audio, speech.sample_rate, 16000), PAD])
        # judged against the voice's own register, as /learn does once it knows the learner's,
        # and against a man's and a woman's weighted by the sound of the voice
        for register in (270.0, None):
            a = assess_audio(None, audio, f"ma{tone}", settings, register_hz=register)
            s = a.syllables[0]
            assert s.tone_ok is not None and s.initial_ok is None and "only the tone" in s.advice
            right += s.tone_ok
    # the voice's lone mà barely falls (FastSpeech reads a syllable alone flatly): 6 of 8
    assert right >= 6


@pytest.fixture(scope="module")
def client(worker):
    app = FastAPI()
    app.state.models = Models(Settings(), worker)
    app.include_router(router)
    return TestClient(app)


def test_learn_api_lists_drills_reads_pinyin_and_scores_a_drill(client):
    sets = client.get("/api/learn/drills").json()
    pairs = next(d for d in sets if d["kind"] == "pairs")
    assert len(pairs["items"]) == 20
    combos = {tuple(i["citation"]) for i in pairs["items"]}
    assert len(combos) == 20 and {(3, 3), (4, 5)} <= combos
    hello = next(i for i in pairs["items"] if i["text"] == "你好")
    assert hello["tones"] == [2, 3] and hello["pinyin"] == "ní hǎo"  # as it is said
    assert sum(d["kind"] == "four" for d in sets) >= 8
    minimal = [d for d in sets if d["kind"] == "minimal"]
    assert minimal and all(len(d["items"]) == 2 for d in minimal)
    r = client.get("/api/learn/speak", params={"text": "ma3"})
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
    r = client.post(
        "/api/learn/assess",
        files={"file": ("shi4.ogg", (GCIN / "shi4.ogg").read_bytes())},
        data={"text": "是", "register_hz": "130"},
    )
    assert r.status_code == 200, r.text
    a = r.json()["assessment"]
    assert a["mode"] == "drill" and a["syllables"][0]["tone_ok"] is True


def test_cli_answers_a_single_syllable_with_its_tone_and_contour(cli):
    done = cli("assess", str(GCIN / "ba2.ogg"), "--text", "ba2")
    assert done.returncode == 0, done.stderr
    assert "no speech heard" not in done.stdout + done.stderr
    assert "●" in done.stdout and "rising" in done.stdout


@needs_chromium
def test_learn_page_drills_read_first_and_keep_tone_accuracy(worker, tmp_path):
    """The page's drills: pick a tone pair, it is read aloud and becomes the prompt; a drill's
    verdicts count into the per-tone table, which is still there after a reload."""
    from selenium.webdriver.common.by import By

    app = FastAPI()
    app.state.models = Models(Settings(), worker)
    app.include_router(router)
    with LiveServer(app, Settings()) as live:
        r = live.http.post(
            "/api/learn/assess",
            files={"file": ("ma3.ogg", (GCIN / "ma3.ogg").read_bytes())},
            data={"text": "ma3"},
        )
        assert r.status_code == 200, r.text
        driver = chromium(tmp_path)
        try:
            driver.get(f"{live.url}/learn")
            wait_for(driver, "document.querySelectorAll('#drillItems button').length === 4", 20)
            driver.execute_script(
                "const k = document.getElementById('drillKind'); k.value = 'pairs'; k.onchange()"
            )
            items = driver.find_elements(By.CSS_SELECTOR, "#drillItems button")
            assert len(items) == 20
            teacher = next(b for b in items if b.text.startswith("老师"))
            teacher.click()
            assert driver.find_element(By.ID, "text").get_attribute("value") == "老师"
            assert driver.find_element(By.ID, "pinyin").text == "lǎo shī"
            # tingshuo's voice reads the item first
            wait_for(
                driver,
                "performance.getEntriesByType('resource').some(e => e.name.includes('speak'))",
                30,
                "the item read aloud",
            )
            driver.execute_script("countTones(arguments[0])", r.json()["assessment"])
            driver.refresh()
            wait_for(driver, "document.querySelector('#toneStats tr[data-tone=\"3\"]') !== null")
            cells = driver.find_elements(By.CSS_SELECTOR, '#toneStats tr[data-tone="3"] td')
            right, tried, accuracy = (c.text for c in cells[1:])
            verdict = r.json()["assessment"]["syllables"][0]["tone_ok"]
            assert (right, tried) == (str(int(verdict)), "1"), accuracy
        finally:
            driver.quit()


def _polyline_mean_y(svg) -> dict[str, float]:
    """The mean height (px from the top) of a card's two lines: dashed (expected), solid."""
    out = {}
    for line in svg.find_elements("css selector", "polyline"):
        ys = [float(p.split(",")[1]) for p in line.get_attribute("points").split()]
        out["dashed" if line.get_attribute("stroke-dasharray") else "solid"] = sum(ys) / len(ys)
    return out


@needs_chromium
def test_learn_page_draws_a_low_fall_where_its_verdict_heard_it(worker, tmp_path):
    """gcin's ma3, a low fall (21), read into /learn's microphone under 骂 and under 马: the
    card says what was heard, and the drawing agrees (low under 骂's high falling line;
    on 马's line when it passes)."""
    from selenium.webdriver.common.by import By

    from tingshuo.server import pages

    from .helpers import fake_microphone, learn_reading

    reading = clip("ma3")
    quiet = np.zeros(8000, dtype=np.float32)
    wav = write_wav(tmp_path / "ma3.wav", np.concatenate([quiet, reading, quiet]))
    seconds = (reading.size + 2 * quiet.size) / 16000
    app = FastAPI()
    app.state.models = Models(Settings(), worker)
    app.include_router(router)
    pages.mount_static(app)  # the page's icons
    with LiveServer(app, Settings()) as live:
        driver = chromium(tmp_path, *fake_microphone(wav))
        try:
            driver.get(f"{live.url}/learn")
            for prompt in ("骂", "马"):
                card = learn_reading(driver, prompt, seconds)
                lines = _polyline_mean_y(card.find_element(By.TAG_NAME, "svg"))
                if prompt == "骂":
                    assert "heard dipping (3), expected falling (4)" in card.text, card.text
                    # the pitch drawn well below the falling tone's line (3.9 px a semitone)
                    assert lines["solid"] > lines["dashed"] + 8, lines
                else:
                    assert "dipping" in card.text and "expected" not in card.text, card.text
                    assert abs(lines["solid"] - lines["dashed"]) < 8, lines
                driver.save_screenshot(str(tmp_path / f"drill-{prompt}.png"))
                driver.execute_script("document.getElementById('result').innerHTML = ''")
        finally:
            driver.quit()
