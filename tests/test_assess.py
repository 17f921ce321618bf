"""Pronunciation assessment on real AISHELL recordings (native readings) and bad input."""

from __future__ import annotations

import dataclasses
import json
import wave

import numpy as np
import pytest

from tingshuo.audio.decode import load_audio
from tingshuo.errors import TingshuoError
from tingshuo.learn import report
from tingshuo.learn.assess import analyse, prompt_syllables, score
from tingshuo.learn.sandhi import reference_syllables

from .helpers import AISHELL, LJ, read_tsv

pytestmark = pytest.mark.slow

# three sentences from each speaker's half of the manifest, 11-16 syllables each, and the
# first two of each speaker's (113 syllables in all: on 37, one tone decided the floor)
PICKS = (
    "BAC009S0150W0121",
    "BAC009S0150W0124",
    "BAC009S0252W0125",
    "BAC009S0150W0122",
    "BAC009S0150W0123",
    "BAC009S0252W0121",
    "BAC009S0252W0122",
)


@pytest.fixture(scope="module")
def readings(recognizer, settings):
    rows = {r["utt_id"]: r for r in read_tsv(AISHELL / "manifest.tsv")}
    out = []
    for utt in PICKS:
        row = rows[utt]
        analysis = analyse(recognizer, load_audio(AISHELL / row["path"]), settings)
        out.append((row, analysis, reference_syllables(row["reference_text"])))
    return out


def _write_wav(path, audio: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())


def test_native_reading_scores_high_syllable_by_syllable(readings):
    correct = total = 0
    for row, analysis, expected in readings:
        result = score(analysis, expected, row["reference_text"])
        assert len(result.syllables) == len(expected)
        assert result.scores.overall >= 80, result.scores
        assert result.scores.completeness >= 90
        starts = [s.start for s in result.syllables]
        assert starts == sorted(starts)
        assert all(s.end > s.start for s in result.syllables)
        assert result.syllables[-1].end <= analysis.duration_s + 0.01
        for s in result.syllables:
            total += 1
            correct += bool(s.initial_ok and s.final_ok and s.tone_ok is not False)
    assert correct / total >= 0.85


def test_wrong_tone_prompt_is_caught(readings):
    flagged = changed = 0
    for _, analysis, expected in readings:
        # every full tone becomes another one: 1->2, 2->3, 3->4, 4->1
        wrong = [
            dataclasses.replace(s, tone=s.tone % 4 + 1, citation_tone=s.tone % 4 + 1)
            if s.tone != 5 and s.citation_tone == s.tone
            else s
            for s in expected
        ]
        result = score(analysis, wrong)
        for s, w, r in zip(expected, wrong, result.syllables, strict=True):
            if s.tone != w.tone:
                changed += 1
                flagged += r.tone_ok is False
        assert result.scores.accuracy < score(analysis, expected).scores.accuracy - 20
    assert flagged / changed >= 0.8


def test_a_syllable_said_in_another_tones_textbook_contour_is_flagged(
    readings, recognizer, settings
):
    # the recognizer still writes the intended character (running speech), so the pitch alone
    # must contradict it; the sentences are not among those the network was fitted on
    import random

    from tingshuo.learn.train_tones import repitched, textbook

    rng = random.Random(3)
    flagged = changed = passed = others = 0
    for row, analysis, expected in readings:
        before = score(analysis, expected, row["reference_text"])
        right = [s for s in before.syllables[1:-1] if s.tone_ok and s.expected[-1] in "1234"]
        for target in right[len(right) // 3 :: max(1, len(right) // 3)][:2]:
            tone = rng.choice([t for t in (1, 2, 3, 4) if t != int(target.expected[-1])])
            moved = repitched(
                analysis.audio,
                analysis.pitch.median_hz,
                [((target.start, target.end), textbook(tone, rng))],
            )
            after = score(analyse(recognizer, moved, settings), expected, row["reference_text"])
            for s0, s1 in zip(before.syllables, after.syllables, strict=True):
                # a sure ✗ is a flag, a sure ✓ a pass; "cannot tell" is neither, and says so
                sure = s1.tone_sure is not False
                assert sure or "cannot tell" in s1.advice, s1
                if s0.index == target.index:
                    changed += 1
                    flagged += s1.tone_ok is False and sure
                elif s0.tone_ok:
                    others += 1
                    passed += s1.tone_ok is not False and sure
    assert changed >= 12
    assert flagged / changed >= 0.55, (flagged, changed)
    assert passed / others >= 0.95, (passed, others)


def test_a_sentence_tone_near_the_veto_level_is_shown_as_cannot_tell(readings):
    # the shipped network with its veto level moved to where one syllable's pitch lies: the
    # recognizer heard that syllable's character, and the pitch neither clearly agrees nor
    # clearly contradicts it, so the page says it cannot tell rather than ✓ or ✗
    import copy

    from tingshuo.learn import report
    from tingshuo.learn.tones import load_tone_model

    row, analysis, expected = readings[0]
    before = score(analysis, expected, row["reference_text"])
    model = copy.copy(load_tone_model())
    target = next(
        s
        for s in before.syllables
        if s.tone_ok and s.heard == s.expected and s.expected[-1] in "1234"
        and s.tone_probability >= 2 * model.veto
    )  # fmt: skip
    assert target.tone_sure is None  # clearly passed at the shipped level
    model.veto = target.tone_probability
    s = score(analysis, expected, row["reference_text"], model=model).syllables[target.index]
    assert s.tone_sure is False and report.tone_mark(s) == "?", s
    assert "cannot tell whether it was" in s.advice and "听不准" in s.advice_zh
    assert report.tone_text(s).startswith("cannot tell 听不准")


def test_wrong_syllable_in_the_prompt_is_flagged_as_initial_or_final(readings):
    row, analysis, expected = readings[0]
    # 其中有两个 -> 其中有两哥: ge4 (个) becomes ke4: the initial differs
    wrong = [dataclasses.replace(s, pinyin="ke") if s.text == "个" else s for s in expected]
    result = score(analysis, wrong)
    ge = next(r for r in result.syllables if r.text == "个")
    assert ge.initial_ok is False and ge.final_ok is True
    assert "initial" in ge.advice and "声母" in ge.advice_zh


def test_pinyin_prompt_scores_like_the_hanzi_prompt(readings):
    row, analysis, expected = readings[0]
    pinyin = " ".join(f"{s.pinyin}{s.citation_tone}" for s in expected)
    by_pinyin = score(analysis, reference_syllables(pinyin))
    by_hanzi = score(analysis, expected)
    assert [s.expected for s in by_pinyin.syllables] == [s.expected for s in by_hanzi.syllables]
    assert abs(by_pinyin.scores.overall - by_hanzi.scores.overall) < 5


def test_another_sentence_is_refused(readings):
    (_, analysis, _), (_, _, other) = readings[0], readings[2]
    with pytest.raises(TingshuoError, match="different sentence"):
        score(analysis, other)


def test_silence_and_faint_noise_are_refused(recognizer, settings):
    silence = np.zeros(3 * 16000, dtype=np.float32)
    with pytest.raises(TingshuoError, match="no speech heard"):
        analyse(recognizer, silence, settings)
    noise = (0.003 * np.random.default_rng(0).standard_normal(3 * 16000)).astype(np.float32)
    with pytest.raises(TingshuoError, match="no speech heard"):
        analyse(recognizer, noise, settings)


def test_english_speech_is_refused(recognizer, settings):
    row = read_tsv(LJ / "manifest.tsv")[0]
    audio = load_audio(LJ / row["path"])
    with pytest.raises(TingshuoError, match="English|different sentence|no Mandarin"):
        expected = reference_syllables("今天天气很好，我们去公园散步吧。")
        score(analyse(recognizer, audio, settings), expected, recognizer=recognizer)


def test_very_long_prompt_is_refused_before_any_work(settings):
    with pytest.raises(TingshuoError, match="split it into sentences"):
        prompt_syllables("我们" * 100, settings)


def test_html_report_draws_every_syllable_contour(readings):
    row, analysis, expected = readings[1]
    page = report.to_html(score(analysis, expected, row["reference_text"]))
    assert page.count("<svg") == len(expected)
    assert "stroke-dasharray" in page and row["reference_text"] in page


def test_cli_json_and_batch_rows_in_order(cli, tmp_path):
    rows = {r["utt_id"]: r for r in read_tsv(AISHELL / "manifest.tsv")}
    good = rows[PICKS[1]]
    audio = str(AISHELL / good["path"])
    html = tmp_path / "report.html"
    done = cli("assess", audio, "--text", good["reference_text"], "--json", "--html", str(html))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result["scores"]) >= {"accuracy", "fluency", "completeness", "overall"}
    first = result["syllables"][0]
    assert set(first) >= {"expected", "heard", "initial_ok", "final_ok", "tone_ok", "score"}
    assert first["expected"] == "yong4" and html.read_text().count("<svg") == 14

    silence = tmp_path / "silence.wav"
    _write_wav(silence, np.zeros(32000, dtype=np.float32))
    batch = tmp_path / "class.tsv"
    batch.write_text(
        "path\ttext\n"
        f"{silence}\t你好\n"
        f"{audio}\t{good['reference_text']}\n"
        f"{tmp_path / 'missing.wav'}\tni3 hao3\n"
        f"{audio}\thello\n",
        encoding="utf-8",
    )
    done = cli("assess", "--batch", str(batch))
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["text"] for line in lines] == ["你好", good["reference_text"], "ni3 hao3", "hello"]
    assert "no speech heard" in lines[0]["error"]
    assert lines[1]["scores"]["overall"] >= 80 and "error" not in lines[1]
    assert "error" in lines[2] and "no Chinese" in lines[3]["error"]


def test_cli_refuses_a_prompt_without_chinese_in_one_line(cli):
    done = cli("assess", str(AISHELL / "audio" / "BAC009S0150W0121.flac"), "--text", "hello")
    assert done.returncode == 1
    assert "no Chinese" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_drill_the_recognizer_cannot_make_out_is_judged_by_pitch_alone(readings):
    row, analysis, expected = readings[0]
    # the same analysis with nothing recognized: a one-syllable drill is still scored
    deaf = dataclasses.replace(
        analysis, recognition=dataclasses.replace(analysis.recognition, syllables=[])
    )
    results = {t: score(deaf, reference_syllables(f"ma{t}")).syllables[0] for t in (1, 2, 3, 4)}
    assert all(r.initial_ok is None and r.final_ok is None for r in results.values())
    # exactly one tone (the likeliest shape) passes
    assert sum(bool(r.tone_ok) for r in results.values()) == 1
    with pytest.raises(TingshuoError, match="no Mandarin speech heard"):
        score(deaf, expected)
