"""Model-free parts of translation: cleanup of replies, glossaries, splitting, detection."""

from __future__ import annotations

from pathlib import Path

import pytest

from tingshuo.errors import TingshuoError
from tingshuo.mt.base import detect_lang, split_sentences
from tingshuo.mt.cleanup import (
    before_foreign,
    clean,
    foreign_spans,
    leftover_source,
    problems,
    without_foreign,
)
from tingshuo.mt.glossary import Glossary


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("Translation: Hello everyone.", "Hello everyone."),
        ("English translation: Hello everyone.", "Hello everyone."),
        ("**Translation:** Hello everyone.", "Hello everyone."),
        ('"Hello everyone."', "Hello everyone."),
        ("“Hello everyone.”", "Hello everyone."),
        ("Hello everyone.\nNote: 大家 means everyone.", "Hello everyone."),
        ("Here is the translation:\nHello everyone.", "Hello everyone."),
        ("Hello everyone. (Note: a greeting)", "Hello everyone."),
        ("```\nHello everyone.\n```", "Hello everyone."),
        ("  Hello   everyone.  ", "Hello everyone."),
    ],
)
def test_clean_keeps_the_translation_alone(reply: str, expected: str) -> None:
    assert clean(reply, "大家好。", "en") == expected


def test_clean_keeps_quotes_the_source_has() -> None:
    assert clean("“Not so good.”", "“不太好。”", "en") == "“Not so good.”"


def test_clean_gives_chinese_in_simplified_characters_and_punctuation() -> None:
    assert clean("譯文：我們發布了新產品,歡迎試用.", "x", "zh") == "我们发布了新产品，欢迎试用。"


def kinds(output: str, source: str, src: str, tgt: str) -> list[str]:
    return [issue.kind for issue in problems(output, source, src, tgt)]


def test_problems_names_what_cleaning_cannot_fix() -> None:
    assert kinds("Hello everyone.", "大家好。", "zh", "en") == []
    assert kinds("大家好。", "大家好。", "zh", "en") == ["echo", "leftover"]
    assert kinds("The weather is nice today.", "The weather is nice today.", "en", "zh") == [
        "echo",
        "wrong script",
    ]
    assert kinds(
        "我们在 the meeting room 里面讨论", "We discuss in the meeting room", "en", "zh"
    ) == ["leftover"]
    assert kinds("", "你好", "zh", "en") == ["empty"]
    rambling = "Hello. " + "This sentence is a greeting used when meeting people. " * 5
    assert kinds(rambling, "你好", "zh", "en") == ["too long"]
    issue = problems("iFLYTEK released 听见.", "x", "zh", "en")[0]
    assert str(issue) == "left zh text behind: 听见"


def test_names_and_acronyms_may_stay_in_a_chinese_translation() -> None:
    assert (
        kinds("我们在 Zoom 上开会，使用 GPU。", "We meet on Zoom, using a GPU.", "en", "zh") == []
    )


def test_leftover_source_finds_chinese_runs_in_english() -> None:
    found = leftover_source("He lives in 青岛 and works at 讯飞 听见.", "x", "en")
    assert found == ["青岛", "讯飞 听见"]
    assert leftover_source("他住在青岛。", "x", "zh") == []


def test_leftover_source_finds_copied_english_words_in_chinese() -> None:
    source = "Why choose Samco Sport silicone hoses?"
    assert leftover_source("为什么选择Samco Sport silicone hoses？", source, "zh") == [
        "silicone hoses"
    ]
    assert leftover_source("为什么选择Samco Sport硅胶软管？", source, "zh") == []


def test_the_other_script_is_found_in_real_mixed_translations() -> None:
    # a streamed English piece a browser played, and the real model's draft of
    # 他们在青岛会展中心展示了全自动驾驶汽车。 (qwen2.5-0.5b)
    streamed = "and the full自动驾驶 machine"
    draft = "Tesla has showcased a fully autonomous car in the青岛会展中心."
    assert [streamed[a:b] for a, b in foreign_spans(streamed, "en")] == ["自动驾驶"]
    # while it is written: shown and spoken up to the stretch, which is repaired at the end
    assert before_foreign(streamed, "en") == "and the full"
    assert before_foreign(draft, "en") == "Tesla has showcased a fully autonomous car in the"
    # the last resort: what would not translate is left out, never shown or spoken
    assert without_foreign(streamed, "en") == "and the full machine"
    assert without_foreign(draft, "en") == "Tesla has showcased a fully autonomous car in the."
    assert without_foreign("He lives in 青岛 (青岛市) now.", "en") == "He lives in now."
    # full-width punctuation, which the English voice refuses as it refuses "动", is English
    assert clean("Hello，everyone。Welcome（again）！", "大家好。", "en") == (
        "Hello, everyone. Welcome (again)!"
    )
    assert clean("Install .NET（8.0）first.", "先安装.NET（8.0）。", "en") == (
        "Install .NET (8.0) first."
    )
    assert kinds("Tesla showed it in 青岛。", "特斯拉在青岛展示了它。", "zh", "en") == ["leftover"]


def test_chinese_keeps_names_acronyms_numbers_units_and_brands_but_not_english_phrases() -> None:
    fine = (
        "我们在 Zoom 上开会，用 GPU 训练，时速 120 km/h，发布了 iPhone 15 Pro Max 和 vintage 系列。"
    )
    assert foreign_spans(fine, "zh") == []
    assert without_foreign(fine, "zh") == fine
    assert before_foreign(fine, "zh") == fine
    left = "我们今天讨论 the meeting agenda，然后吃饭。"
    assert before_foreign(left, "zh") == "我们今天讨论"
    assert without_foreign(left, "zh") == "我们今天讨论，然后吃饭。"
    hoses = "为什么选择Samco Sport silicone hoses？"
    assert without_foreign(hoses, "zh") == "为什么选择Samco Sport？"


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "terms.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_glossary_applies_in_both_directions(tmp_path: Path) -> None:
    terms = Glossary.load(
        _csv(
            tmp_path, "source term,target term\n科大讯飞,iFLYTEK\n讯飞听见,iFLYREC\n青岛,Qingdao\n"
        )
    )
    assert terms.apply("科大讯飞在青岛发布讯飞听见", "zh", "en") == "iFLYTEK在Qingdao发布iFLYREC"
    assert terms.apply("iflytek opened in Qingdao", "en", "zh") == "科大讯飞 opened in 青岛"
    assert terms.expected("科大讯飞在青岛", "zh", "en") == ["iFLYTEK", "Qingdao"]
    assert terms.missing("科大讯飞在青岛", "IFLYtek in Qingdao", "zh", "en") == ["iFLYTEK"]
    assert terms.enforce("IFLYtek opened in 青岛", "zh", "en") == "iFLYTEK opened in Qingdao"
    assert terms.hotwords("zh") == ["科大讯飞", "讯飞听见", "青岛"]


def test_glossary_latin_terms_match_whole_words_only() -> None:
    terms = Glossary.from_pairs([("人工智能", "AI")])
    assert terms.apply("He said AI is here", "en", "zh") == "He said 人工智能 is here"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("科大讯飞,iFLYTEK,extra\n", "line 1: expected 'source term,target term'"),
        ("科大讯飞\n", "line 1: expected"),
        ("科大讯飞,iFLYTEK\n青岛,\n", "line 2: expected"),
        ("# nothing here\n", "has no terms"),
    ],
)
def test_a_malformed_glossary_is_refused_in_one_line(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(TingshuoError, match=message) as e:
        Glossary.load(_csv(tmp_path, text))
    assert "\n" not in str(e.value)


def test_a_glossary_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "terms.csv"
    path.write_bytes("科大讯飞,iFLYTEK\n".encode("gbk"))
    with pytest.raises(TingshuoError, match="not UTF-8"):
        Glossary.load(path)


def test_long_text_is_split_at_sentence_ends() -> None:
    sentence = "这是一个用来测试分句的句子，长度大约二十个字。"
    pieces = split_sentences(sentence * 40, max_chars=100)
    assert all(len(p) <= 100 for p in pieces)
    assert "".join(pieces) == sentence * 40
    assert all(p.endswith("。") for p in pieces)
    english = split_sentences("First one. Second one! Third? " * 20, max_chars=50)
    assert all(len(p) <= 50 for p in english) and english[0].startswith("First one.")


def test_a_sentence_without_ends_is_cut_at_commas_then_anywhere() -> None:
    assert all(len(p) <= 30 for p in split_sentences("啊" * 100, max_chars=30))
    assert all(len(p) <= 30 for p in split_sentences("甲乙丙，" * 30, max_chars=30))


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("今天天气很好。", "zh"),
        ("我用 iPhone 打电话", "zh"),
        ("Hello everyone.", "en"),
        ("I love 北京 very much indeed", "en"),
        ("こんにちは、世界", "ja"),
        ("안녕하세요", "ko"),
    ],
)
def test_language_is_detected_by_script(text: str, lang: str) -> None:
    assert detect_lang(text) == lang
