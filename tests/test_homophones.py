"""Homophone repair of Mandarin finals, on what Whisper base really wrote for AISHELL audio."""

from __future__ import annotations

import pytest

from tingshuo.asr.homophones import homophone_fixer
from tingshuo.asr.scoring import cer


@pytest.fixture(scope="module")
def fixer(settings):
    return homophone_fixer(settings.cache_dir)


# (what the recognizer wrote for the AISHELL recording, the words its reference has)
RECOGNIZED = [
    ("其中有两个是内音的指标。", ["内因"]),
    ("用居民部门处序，上一年利息支出。", ["储蓄"]),
    ("零零后会成为购房主历。", ["主力"]),
    ("但他们的数量还足以支撑那时的访架吗？", ["房价"]),
    ("这正是3.30心正后。", ["新政"]),
    ("在局部地区小范围势点实施。", ["试点"]),
    ("什么是财政转移之父。", ["支付"]),
]


@pytest.mark.parametrize(("written", "words"), RECOGNIZED)
def test_words_written_by_sound_are_repaired(fixer, written, words):
    fixed = fixer.fix(written)
    assert all(w in fixed for w in words), fixed
    assert len(fixed) == len(written)  # a homophone per character: nothing added or lost
    assert fixed[-1] == written[-1]  # punctuation as it was


def test_digits_latin_and_punctuation_are_left_alone(fixer):
    text = "今年一季度GDP同比增长5.2%，AI和5G是重点。"
    assert fixer.fix(text) == text
    assert fixer.fix("") == ""
    assert fixer.fix("Apple Watch 3.0") == "Apple Watch 3.0"


def test_hot_words_are_found_by_sound(fixer):
    # 成宇, 成语 and 澄宇 are all cheng2 yu3: without the name, the dictionary's word wins
    assert "杨澄宇" not in fixer.fix("杨成宇表示，房价断崖式下跌。")
    assert fixer.fix("杨成宇表示，房价断崖式下跌。", ["杨澄宇"]) == "杨澄宇表示，房价断崖式下跌。"


def test_correct_sentences_are_rarely_changed(fixer, aishell_rows):
    """The references are what a perfect recognizer would write: repair may not undo it."""
    refs = [r["reference_text"] for r in aishell_rows[:200]]
    fixed = [fixer.fix(r) for r in refs]
    assert cer(refs, fixed) <= 0.02  # 1.1 % on all 400 when this was written
    assert sum(a == b for a, b in zip(refs, fixed, strict=True)) >= 0.85 * len(refs)


def test_recognizer_finals_use_it(worker, aishell_rows, settings):
    """End to end on the recording of 其中有两个是内因的指标, which Whisper writes 内音."""
    from tingshuo.asr.streaming import policy_config, transcribe_audio
    from tingshuo.audio.decode import load_audio

    from .helpers import AISHELL

    row = next(r for r in aishell_rows if r["reference_text"] == "其中有两个是内因的指标")
    audio = load_audio(AISHELL / row["path"])
    text = "".join(p.text for p in transcribe_audio(worker, audio, policy_config(settings), "zh"))
    assert "内因的指标" in text
