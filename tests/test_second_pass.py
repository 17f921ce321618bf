"""The second pass over Mandarin finals: the bundled Qwen model scores readings in context.

The texts are what the first pass really wrote for AISHELL recordings (S0150, the sentences
the margin was tuned on), and references of that talk."""

from __future__ import annotations

import pytest

from tingshuo.asr.base import Request
from tingshuo.asr.second_pass import Review, SecondPass

TALK = [  # the captions before, as a room would have shown them
    "自住需求成为支撑楼市的主要动力。",
    "观察中国新增人口曲线会发现。",
]


@pytest.fixture(scope="module")
def reviewer(settings) -> SecondPass:
    return SecondPass.load(settings)


@pytest.mark.parametrize(
    ("heard", "meant"),
    [
        (
            "后两者是人口，尤其是年轻人口径流入的城市。",
            "后两者是人口，尤其是年轻人口净流入的城市。",
        ),
    ],
)
def test_a_same_sound_error_is_fixed_in_context(reviewer, heard, meant):
    review = reviewer.review(heard, context=TALK)
    assert isinstance(review, Review)
    assert review.text == meant
    assert review.changed and review.margin > reviewer.margin
    assert review.candidates > 0 and review.tokens > 0


def test_a_correct_sentence_is_left_alone(reviewer):
    sentence = "很多二三四线城市仍未能回暖。"
    review = reviewer.review(sentence, context=TALK)
    assert review.text == sentence
    assert not review.changed


def test_hot_words_are_favoured(reviewer):
    heard = "杨成宇表示，转移支付的方式有很多种。"
    meant = "杨澄宇表示，转移支付的方式有很多种。"
    assert meant not in reviewer.candidates(heard)  # no dictionary word sounds so
    assert meant in reviewer.candidates(heard, hotwords=["杨澄宇"])
    assert reviewer.review(heard, hotwords=["杨澄宇"]).text == meant


def test_nothing_to_judge_costs_nothing(reviewer):
    review = reviewer.review("")
    assert review.text == "" and not review.changed and review.tokens == 0


def test_the_beam_s_other_readings_are_candidates(recognizer, aishell_rows, reviewer):
    """Real audio: the recognizer's final for 而深圳厦门房价快速上涨的原因 says 绑架 for 房价;
    another hypothesis of its beam has it right, and the second pass takes that one."""
    from tingshuo.audio.decode import load_audio

    from .helpers import AISHELL

    row = next(r for r in aishell_rows if r["utt_id"] == "BAC009S0150W0165")
    request = Request(load_audio(AISHELL / row["path"]), "zh")
    hypothesis = recognizer.recognize(request)
    others = hypothesis.alternatives
    assert hypothesis == recognizer.recognize(request)  # the same, for the same cost
    assert "绑架" in hypothesis.text and hypothesis.text not in others
    review = reviewer.review(hypothesis.text, TALK, hypotheses=others)
    assert review.text == "而深圳厦门房价快速上涨的原因。"
    assert review.candidates >= len(others)


def test_english_live_finals_decode_short_and_hand_on_their_readings(recognizer, lj_rows, reviewer):
    """An English live final decodes on the shortened window at the live beam, as Mandarin
    ones do, and carries its beam's other readings; the second pass reads English too and
    chooses among them (never anything else)."""
    from tingshuo.asr.scoring import wer
    from tingshuo.audio.decode import load_audio

    from .helpers import LJ

    row = lj_rows[0]
    audio = load_audio(LJ / row["path"])
    live = recognizer.recognize(Request(audio, "en", live=True))
    whole = recognizer.recognize(Request(audio, "en"))
    assert live.lang == "en" and wer([row["reference_text"]], [live.text]) < 0.2
    assert wer([whole.text], [live.text]) < 0.2
    assert live.alternatives and live.text not in live.alternatives
    review = reviewer.review(live.text, hypotheses=live.alternatives, lang="en")
    assert review.candidates <= len(live.alternatives)  # those differing only in commas: not
    assert review.text in (live.text, *live.alternatives)
    # English words, not Mandarin characters, are what a change costs
    assert reviewer.candidates("The cat sat.", hypotheses=["the cat sat"], lang="en") == []


def test_files_are_read_again_unless_fast(cli, aishell_rows, tmp_path):
    """`tingshuo transcribe` reads each caption again by default (the recognizer's 绑架 for
    房价 is put right from its beam); `--fast` gives the recognizer's own text."""
    from .helpers import AISHELL

    row = next(r for r in aishell_rows if r["utt_id"] == "BAC009S0150W0165")
    path = str(AISHELL / row["path"])
    on = {"TINGSHUO_SECOND_PASS": "true"}
    default = cli("transcribe", path, "--lang", "zh", env=on)
    fast = cli("transcribe", path, "--lang", "zh", "--fast", env=on)
    assert default.returncode == 0 and fast.returncode == 0, default.stderr + fast.stderr
    assert "房价" in default.stdout and "绑架" not in default.stdout
    assert "绑架" in fast.stdout


def test_a_caption_s_known_terms_are_what_a_session_settles():
    """The terms a session's captions settle (hot words for what follows): names and
    places a dictionary knows, English names; no numbers, nothing it could have made up."""
    from tingshuo.prepared.terms import known_terms

    assert known_terms("东京奥运组委会公开了由佐野研二郎设计的会徽。", "zh") == [
        "东京",
        "奥运",
        "佐野",
        "二郎",
        "会徽",
    ]
    assert "拼帮" not in known_terms("在福建三明举行的青运会拼帮球比赛。", "zh")
    assert known_terms("Then Sherlock Holmes came to London in 1881.", "en") == [
        "Sherlock",
        "Holmes",
        "London",
    ]
