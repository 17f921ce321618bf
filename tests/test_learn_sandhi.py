"""The expected reading of a prompt: pypinyin's citation tones with tingshuo's sandhi rules."""

from __future__ import annotations

import pytest

from tingshuo.errors import TingshuoError
from tingshuo.learn.sandhi import reference_syllables


def reading(text: str) -> str:
    return " ".join(s.numbered for s in reference_syllables(text))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("你好", "ni2 hao3"),
        ("一个", "yi2 ge4"),
        ("一天", "yi4 tian1"),
        ("一年", "yi4 nian2"),
        ("一起", "yi4 qi3"),
        ("第一", "di4 yi1"),
        ("十一", "shi2 yi1"),
        ("统一的", "tong3 yi1 de5"),
        ("一九九八", "yi1 jiu2 jiu3 ba1"),
        ("看一看", "kan4 yi5 kan4"),
        ("不是", "bu2 shi4"),
        ("不好", "bu4 hao3"),
        ("不来", "bu4 lai2"),
        ("好不好", "hao3 bu5 hao3"),
        ("展览馆", "zhan2 lan2 guan3"),
        ("我很好", "wo2 hen2 hao3"),
        ("桌子", "zhuo1 zi5"),
        ("我的书", "wo3 de5 shu1"),
        ("他来了吗", "ta1 lai2 le5 ma5"),
        ("唱得很好", "chang4 de5 hen2 hao3"),
        ("得到", "de2 dao4"),
    ],
)
def test_reference_pinyin_applies_tone_sandhi(text, expected):
    assert reading(text) == expected


def test_citation_tone_is_kept_beside_the_sandhi_tone():
    ni, hao = reference_syllables("你好")
    assert (ni.citation_tone, ni.tone, ni.marked) == (3, 2, "ní")
    assert (hao.citation_tone, hao.tone, hao.marked) == (3, 3, "hǎo")


def test_punctuation_breaks_a_third_tone_run_and_marks_a_pause():
    syllables = reference_syllables("你好，我好。")
    assert [s.numbered for s in syllables] == ["ni2", "hao3", "wo2", "hao3"]
    assert [s.pause_after for s in syllables] == [False, True, False, True]


def test_digits_are_read_as_characters():
    assert reading("2003年") == "er4 ling2 ling2 san1 nian2"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ni3 hao3", "ni2 hao3"),
        ("ni3hao3 ma5", "ni2 hao3 ma5"),
        ("nǐ hǎo", "ni2 hao3"),
        ("ma1 ma2 ma3 ma4", "ma1 ma2 ma3 ma4"),
        ("lv4", "lv4"),
        ("nü3", "nv3"),
        ("ma", "ma5"),
    ],
)
def test_tone_numbered_pinyin_is_read(text, expected):
    assert reading(text) == expected


@pytest.mark.parametrize("text", ["hello world", "", "   ", "1234", "xq3"])
def test_prompt_without_chinese_is_refused(text):
    with pytest.raises(TingshuoError):
        reference_syllables(text)


def test_mixed_latin_and_hanzi_is_refused_with_advice():
    with pytest.raises(TingshuoError, match="Latin letters"):
        reference_syllables("我用apple pay")


def test_every_practice_sentence_has_a_reading():
    import csv
    from importlib import resources

    text = resources.files("tingshuo.learn").joinpath("data/practice.tsv").read_text("utf-8")
    rows = list(csv.DictReader(text.splitlines(), delimiter="\t"))
    assert len(rows) >= 30 and {r["level"] for r in rows} >= {"drill", "HSK1", "HSK4"}
    for row in rows:
        assert reference_syllables(row["text"]), row
