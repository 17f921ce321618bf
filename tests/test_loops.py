"""Whisper's loops: a phrase said over and over never reaches a caption, and the same audio
always gives the same text (issue 32)."""

from __future__ import annotations

import numpy as np
import pytest

from tingshuo.asr.base import Request
from tingshuo.asr.loops import cut_to, loops, unloop
from tingshuo.asr.streaming import policy_config, transcribe_audio
from tingshuo.audio.decode import SAMPLE_RATE, load_audio

from .helpers import AISHELL, DATA, read_tsv

LONG = AISHELL / "longform" / "longform_2spk.flac"
# 20 s of the long-form file played backwards (what a competing talker sounds like to the
# recognizer), from where Whisper looped before: "我说了，我说了，我说了，我说了。" and
# "啊，你死了，我死了，我死了，我死了，我死了，我死了。"
BACKWARDS_AT_S = (261.869, 210.140)


def test_the_loops_seen_in_halls_are_said_once():
    assert unloop("周杰伦和一种好友在健身方面强和。" * 12) == "周杰伦和一种好友在健身方面强和。"
    assert unloop("《《《《《《《《《《《《《《《《《《。") == ""
    assert unloop("啊，你死了，我死了，我死了，我死了，我死了，我死了。") == "啊，你死了，我死了。"
    assert unloop("好的，好的，好的。然后我们开始。") == "好的。然后我们开始。"
    assert unloop("谢谢谢谢谢谢大家。") == "谢谢大家。"
    assert unloop("对对对对对对对。") == "对对。"
    assert unloop("thank you thank you thank you thank you.") == "thank you."
    # a last saying cut short goes with the loop
    assert unloop("我们开始吧我们开始吧我们开始吧我们开") == "我们开始吧"
    assert all(loops(t) for t in ("我说了，我说了，我说了。", "。。。。", "他他他他他"))
    # a reading with no word (the second pass once chose "。" over a sentence) is never kept
    assert loops("。") and unloop("。") == ""


def test_speech_as_written_is_left_alone():
    """Every reference sentence of the Mandarin and English sets passes untouched."""
    zh = [r["reference_text"] for r in read_tsv(AISHELL / "manifest.tsv")]
    en_dir = DATA / "english-l2-speechocean762-adults"
    en = [r["reference_text"] for r in read_tsv(en_dir / "manifest.tsv")]
    kept = ["对对对。", "哈哈哈，好的。", "No, no, no.", "So... we go on.", "研究研究再说。"]
    for text in [*zh, *en, *kept]:
        assert not loops(text), text
        assert unloop(text) == text.strip()


def test_a_caption_holds_no_more_than_its_speech_had_time_for():
    text = "今天我们讨论经济发展的问题，以及未来的方向和目标。还有更多的话要说。"
    cut = cut_to(text, "zh", 2.0)  # 2 s of speech: 24 characters at most
    assert cut == "今天我们讨论经济发展的问题，以及未来的方向和目标。"
    assert cut_to(text, "zh", 10.0) == text


@pytest.fixture(scope="module")
def backwards() -> list[np.ndarray]:
    audio = load_audio(LONG)
    return [
        audio[int(s * SAMPLE_RATE) : int((s + 20) * SAMPLE_RATE)][::-1].copy()
        for s in BACKWARDS_AT_S
    ]


@pytest.mark.parametrize("live", [False, True], ids=["file", "live"])
def test_backwards_speech_gives_no_loop_and_the_same_text_twice(recognizer, backwards, live):
    for audio in backwards:
        first = recognizer.recognize(Request(audio, "zh", live=live))
        again = recognizer.recognize(Request(audio, "zh", live=live))
        assert first == again
        for text in (first.text, *first.alternatives):
            assert not loops(text), text
            assert len(text) <= 9 * 20 + 6


def test_a_recording_transcribed_twice_reads_the_same(worker, settings, backwards):
    """Speech, then the same speech backwards: the commit policy, the recognizer's drafts
    skipped as for files, finals and their readings twice over, the same text."""
    forwards = load_audio(LONG)[: 10 * SAMPLE_RATE]
    audio = np.concatenate([forwards, backwards[1]])

    def texts() -> list[str]:
        return [s.text for s in transcribe_audio(worker, audio, policy_config(settings), "zh")]

    first = texts()
    assert first == texts()
    assert first and not any(loops(t) for t in first)
