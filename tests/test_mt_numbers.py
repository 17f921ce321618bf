"""Number handling around the translation model, without the model."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tingshuo.mt import numbers


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("公司去年营收12亿元。", "公司去年营收1.2 billion元。"),
        ("用户达到170万。", "用户达到1.7 million。"),
        ("预计达26.8万人，比去年增加1.6万人。", "预计达268,000人，比去年增加16,000人。"),
        ("交易金额达到1.77万亿元", "交易金额达到1.77 trillion元"),
        ("投入50亿美元", "投入5 billion美元"),
        ("金额4.244亿美元", "金额424.4 million美元"),
        ("日收入超过 820 万美元", "日收入超过 8.2 million美元"),
        ("共发出2万4801张", "共发出24,801张"),
        ("仍需要30余万费用", "仍需要more than 300,000费用"),
        ("三百万人", "3 million人"),
        ("两千三百万", "23 million"),
        ("一点五亿", "150 million"),
        ("二〇二二年", "2022年"),
        ("百分之三十五", "35%"),
        ("５月２２日电", "May 22电"),
        ("2021年12月11日上午", "December 11, 2021上午"),
        ("2022年北京", "2022年北京"),
    ],
)
def test_chinese_scales_become_english_numbers_before_translation(
    source: str, expected: str
) -> None:
    assert numbers.rewrite(source, "zh", "en") == expected


@pytest.mark.parametrize(
    "source",
    ["千万不要穿紧身的短裙", "万众瞩目的焦点", "十万火急", "百分之七八十能救过来", "两三万人"],
)
def test_idioms_and_ranges_are_not_taken_for_numbers(source: str) -> None:
    assert numbers.rewrite(source, "zh", "en") == source


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("It raised 3.5 billion last year.", "It raised 35亿 last year."),
        ("1.7 million users", "170万 users"),
        ("revenue of $4.2 billion", "revenue of 42亿美元"),
        ("A further £75 million in aid", "A further 7500万英镑 in aid"),
        ("seven billion people", "70亿 people"),
        ("a million people", "100万 people"),
        ("2.5 trillion dollars", "2.5万亿美元"),
        ("In 2014, 12.5% of 300 people", "In 2014, 12.5% of 300 people"),
        ("The LP700 costs 300 thousand", "The LP700 costs 30万"),
    ],
)
def test_western_scales_become_chinese_numbers_before_translation(
    source: str, expected: str
) -> None:
    assert numbers.rewrite(source, "en", "zh") == expected


def test_values_are_read_in_both_notations() -> None:
    assert [q.value for q in numbers.find("1.2 billion yuan and 12亿元")] == [
        Decimal("1.2e9"),
        Decimal("1.2e9"),
    ]
    assert [q.value for q in numbers.find("March 31, 2023")] == [3, 31, 2023]
    assert numbers.find("LP700 and COVID19") == []


def test_missing_finds_a_number_the_output_lost() -> None:
    assert numbers.missing("达到1.7 million，2022年", "reached 1.7 million in 2022") == []
    assert numbers.missing("达到1.7 million，2022年", "reached 17 million in 2022") == [
        Decimal("1.7e6")
    ]
    # a date repeated in the source need only appear once
    assert numbers.missing("20日电 记者20日获悉", "reporters learned on the 20th") == []


@pytest.mark.parametrize(
    ("source", "output", "tgt", "fixed"),
    [
        (
            "营收1.2 billion元",
            "Revenue was 12 billion yuan.",
            "en",
            "Revenue was 1.2 billion yuan.",
        ),
        ("用户达到1.7 million", "Users reached 170,000.", "en", "Users reached 1.7 million."),
        (
            "raised 35亿美元 last year",
            "去年筹集了3.5亿美元。",
            "zh",
            "去年筹集了35亿美元。",
        ),
        ("has 170万 users", "拥有17万用户。", "zh", "拥有170万用户。"),
        ("revenue of $4.2 billion", "revenue of $42 billion", "en", "revenue of $4.2 billion"),
    ],
)
def test_a_scale_error_in_the_output_is_repaired(
    source: str, output: str, tgt: str, fixed: str
) -> None:
    assert numbers.repair(source, output, tgt) == fixed


def test_repair_leaves_a_correct_output_alone() -> None:
    text = "The company's revenue was 1.2 billion yuan in 2023."
    assert numbers.repair("营收1.2 billion元，2023年", text, "en") == text


@pytest.mark.parametrize(
    ("value", "en", "zh"),
    [
        ("1200000000", "1.2 billion", "12亿"),
        ("1700000", "1.7 million", "170万"),
        ("3500000000", "3.5 billion", "35亿"),
        ("268000", "268,000", "26.8万"),
        ("9999", "9999", "9999"),
        ("12345", "12,345", "1.2345万"),
        ("0.5", "0.5", "0.5"),
        ("1770000000000", "1.77 trillion", "1.77万亿"),
    ],
)
def test_values_are_written_in_each_languages_notation(value: str, en: str, zh: str) -> None:
    assert numbers.to_en(Decimal(value)) == en
    assert numbers.to_zh(Decimal(value)) == zh
