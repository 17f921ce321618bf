"""The second pass over Mandarin finals: the bundled Qwen model scores readings in context."""

from __future__ import annotations

import pytest

from tingshuo.asr.base import Request
from tingshuo.asr.second_pass import Review, SecondPass


@pytest.fixture(scope="module")
def reviewer(settings) -> SecondPass:
    return SecondPass.load(settings)


def test_a_same_sound_error_is_fixed_in_context(reviewer):
    # what the first pass wrote for an AISHELL sentence of a talk about housing policy
    review = reviewer.review(
        "对楼是调控的态度也更加明确。",
        context=["中国人民银行今年第二次降息。", "这是今年以来的又一次降息。"],
    )
    assert isinstance(review, Review)
    assert review.text == "对楼市调控的态度也更加明确。"
    assert review.changed and review.margin > reviewer.margin
    assert review.candidates > 0 and review.tokens > 0


@pytest.mark.parametrize(
    "sentence",
    [
        "就是根据经济体自身情况决定房价上涨或者下跌。",
        "这两个内因指标一个叫做居民部门利息保障倍数。",
        "他们的数量还足以支撑那时的房价吗？",
    ],
)
def test_a_correct_sentence_is_left_alone(reviewer, sentence):
    review = reviewer.review(sentence, context=["其中有两个是内因的指标。"])
    assert review.text == sentence
    assert not review.changed


def test_hot_words_are_favoured(reviewer):
    heard = "杨成宇表示，房价断崖式下跌的可能性不大。"
    assert "杨澄宇" not in reviewer.review(heard).text
    assert (
        reviewer.review(heard, hotwords=["杨澄宇"]).text
        == "杨澄宇表示，房价断崖式下跌的可能性不大。"
    )


def test_nothing_to_judge_costs_nothing(reviewer):
    review = reviewer.review("")
    assert review.text == "" and not review.changed and review.tokens == 0


def test_the_beam_gives_its_other_readings(recognizer, aishell_rows, reviewer):
    """On real audio: the same final as `recognize`, with the beam's other readings, which
    the second pass can take as candidates."""
    from tingshuo.audio.decode import load_audio

    from .conftest import AISHELL

    row = next(r for r in aishell_rows if r["utt_id"] == "BAC009S0150W0122")
    request = Request(load_audio(AISHELL / row["path"]), "zh")
    hypothesis, others = recognizer.recognize_with_alternatives(request)
    assert hypothesis == recognizer.recognize(request)
    assert others and hypothesis.text not in others
    review = reviewer.review(hypothesis.text, hypotheses=others)
    assert review.candidates >= len(others)
    assert review.seconds < 10
