"""Correction rules (wrong => right): parsed as people write them, applied in one pass,
refused with one line when they would loop, and the rule a manual correction suggests."""

from __future__ import annotations

import pytest

from tingshuo.rules import RuleBook, RuleError, Rules, combined, suggest_rule
from tingshuo.store.db import Store


def test_a_list_is_parsed_and_applied_longest_first_in_one_pass():
    rules = Rules.parse(
        """
        # names the recognizer gets wrong
        请凉 => 清凉
        清凉寺 => 清凉禅寺
        AI => A.I.
        """
    )
    assert len(rules) == 3
    assert rules.apply("我们去请凉寺看看") == "我们去清凉寺看看"
    assert rules.apply("清凉寺很远") == "清凉禅寺很远"
    # a Latin word is replaced whole, never inside another word
    assert rules.apply("AI said it") == "A.I. said it"
    assert rules.apply("the AIDS fund") == "the AIDS fund"
    assert rules.hotwords == ["清凉", "清凉禅寺", "A.I."]


def test_applying_twice_changes_nothing_more():
    rules = Rules.parse("北京 => 北京市\n神马 => 什么")
    once = rules.apply("北京很大，神马都有")
    assert once == "北京市很大，什么都有"
    assert rules.apply(once) == once  # 北京市 already reads the right side


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("a => b\nb => a", "undo each other"),
        ("甲 => 乙\n乙 => 丙", "changed again"),
        ("=> 对", "nothing on the left"),
        ("错 =>", "nothing on the right"),
        ("对 => 对", "changes nothing"),
        ("没有箭头", "not a rule"),
        ("一 => 二\n一 => 三", "two things"),
    ],
)
def test_a_rule_that_would_loop_or_is_empty_is_refused_with_one_line(text, reason):
    with pytest.raises(RuleError) as refused:
        Rules.parse(text)
    assert reason in str(refused.value)
    assert "\n" not in str(refused.value)


def test_a_room_rule_wins_over_the_server_rule_for_the_same_words():
    server = Rules.parse("星海 => 新海\n阿里 => 阿里巴巴")
    room = Rules.parse("星海 => 兴海")
    both = server + room
    assert both.apply("星海和阿里") == "兴海和阿里巴巴"
    # a stored list that no longer checks is used without the rule that breaks it
    assert combined([("甲", "乙"), ("乙", "甲"), ("丙", "丁")]).pairs() == [
        ("甲", "乙"),
        ("丙", "丁"),
    ]


def test_a_correction_of_one_word_suggests_its_rule():
    rule = suggest_rule("我们去请凉寺看看。", "我们去清凉寺看看。")
    assert rule is not None and (rule.wrong, rule.right) == ("请凉", "清凉")
    rule = suggest_rule("We met the CEO of Open AI today.", "We met the CEO of OpenAI today.")
    assert rule is not None and (rule.wrong, rule.right) == ("Open AI", "OpenAI")
    # more than one change, or nothing replaced: no rule
    assert suggest_rule("今天天气很好。", "明天天气不好。") is None
    assert suggest_rule("今天天气很好。", "今天天气很好！真的。") is None


def test_the_rule_book_keeps_one_object_until_the_rules_change(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'rules.db'}")
    room = store.create_room("规则 Rules", "zh")
    store.set_server_rules([("阿里", "阿里巴巴")])
    store.update_room(room.id, rules=[("星海", "兴海")])
    book = RuleBook(store, ttl=0)
    first = book.for_room(room.id)
    assert first.apply("星海和阿里") == "兴海和阿里巴巴"
    assert book.for_room(room.id) is first  # unchanged: the same object (hot words kept)
    store.update_room(room.id, rules=[("星海", "兴海"), ("请凉", "清凉")])
    assert book.for_room(room.id) is not first
    assert book.for_room(room.id).apply("请凉") == "清凉"
    assert book.for_room(None).apply("星海和阿里") == "星海和阿里巴巴"
