"""Script following with scripted input and no model: what a caption shows when the speaker
reads a prepared text, departs from it, skips, shortens, jumps back; a text's passages,
bilingual pairs and terms. The recognized lines are Whisper base's own errors on AISHELL
(拼帮 for 乒乓, 足为 for 组委会, 昨夜 for 佐野, 二零二零 for 2020)."""

from __future__ import annotations

from datetime import UTC, datetime

from tingshuo.events import Partial, Segment
from tingshuo.live.scripts import Following
from tingshuo.prepared.follow import Follower, Passage, Script
from tingshuo.prepared.passages import prepare
from tingshuo.prepared.terms import terms
from tingshuo.store.db import RoomText, StoredPassage

SPEECH = [
    "国际乒联主席沙拉拉在东京表示，组委会将于2020年举办乒乓球世界杯。",
    "这是第三届比赛，共有128名选手参加。",
    "会徽由佐野研二郎设计，象征着团结与友谊。",
    "我们希望各位来宾度过愉快的一天。",
]
ENGLISH = {
    0: "Table tennis federation president Sharara said in Tokyo the committee will hold "
    "the World Cup in 2020.",
    1: "This is the third edition, with 128 players.",
    3: "We hope every guest has a pleasant day.",
}


def follower() -> Follower:
    passages = [
        Passage(t, translations={"en": ENGLISH[i]} if i in ENGLISH else {})
        for i, t in enumerate(SPEECH)
    ]
    return Follower(Script(passages, "zh"))


def test_a_read_sentence_shows_the_scripts_characters_digits_and_punctuation():
    f = follower()
    heard = "国际拼帮主席沙拉拉在东京表示足为会将于二零二零年举办乒乓球世界杯。"
    out = f.follow(heard, commit=True)
    assert out.text == SPEECH[0]
    assert out.source == "script"
    # a whole passage: its prepared translation comes with it
    assert out.translations == {"en": ENGLISH[0]}
    assert out.passages == [0]


def test_a_skipped_sentence_and_the_unsaid_half_of_a_shortened_one_are_never_shown():
    f = follower()
    f.follow("国际乒联主席沙拉拉在东京表示组委会将于2020年举办乒乓球世界杯", commit=True)
    # sentence 2 skipped; sentence 3 said up to its comma
    out = f.follow("会徽由昨夜研二郎设计。", commit=True)
    assert out.text == "会徽由佐野研二郎设计。"
    assert "128" not in out.text and "友谊" not in out.text
    assert out.translations == {}  # half a passage: translated live, not from the script


def test_an_ad_lib_is_shown_as_recognized_and_moves_nothing():
    f = follower()
    f.follow("国际乒联主席沙拉拉在东京表示组委会将于2020年举办乒乓球世界杯", commit=True)
    cursor = f.cursor
    out = f.follow("今天天气很好，大家辛苦了。", commit=True)
    assert out.text == "今天天气很好，大家辛苦了。"
    assert out.source is None
    assert f.cursor == cursor
    # words added before a scripted sentence stay; the sentence is the script's
    out = f.follow("嗯我想说这是第三届比赛共有一百二十八名选手参加", commit=True)
    assert out.text == "嗯我想说这是第三届比赛，共有128名选手参加。"
    assert out.translations == {}  # not only the script: the ad-lib needs translating


def test_a_jump_back_and_a_repeat_are_found():
    f = follower()
    f.follow("会徽由佐野研二郎设计象征着团结与友谊", commit=True)
    out = f.follow("这是第三届比赛共有一百二十八名选手参加", commit=True)
    assert out.text == SPEECH[1]
    assert f.script.passage_at(f.cursor) in (1, 2)
    out = f.follow("这是第三届比赛共有一百二十八名选手参加", commit=True)
    assert out.text == SPEECH[1]


def test_a_short_caption_follows_only_where_it_is_what_comes_next():
    f = follower()
    f.follow("国际乒联主席沙拉拉在东京表示组委会将于2020年举办乒乓球世界杯", commit=True)
    assert f.follow("这是", commit=False).source == "script"
    assert f.follow("团结", commit=False).source is None  # in the script, but not next
    assert f.follow("今天", commit=False).source is None


def _following() -> Following:
    now = datetime.now(UTC)
    text = RoomText(
        id=7,
        room_id="r",
        name="speech.txt",
        kind="txt",
        lang="zh",
        passages=[
            StoredPassage(text=t, translations={"en": ENGLISH[i]} if i in ENGLISH else {})
            for i, t in enumerate(SPEECH)
        ],
        terms=["沙拉拉", "东京"],
        created_at=now,
        updated_at=now,
    )
    return Following.of_texts([text])


def test_a_draft_never_shows_the_next_line_before_it_is_said():
    following = _following()
    draft = Partial(
        utterance=1, start=0, end=2, lang="zh", stable="国际拼帮主席", unstable="沙拉拉在东"
    )
    shown = following.partial(draft)
    assert shown.source == "script"
    assert shown.stable + shown.unstable == "国际乒联主席沙拉拉在东"
    assert shown.stable == "国际乒联主席"
    assert "京" not in shown.text  # the next character is not said yet


def test_following_a_final_sets_its_source_and_place():
    following = _following()
    seg = Segment(start=0, end=5, lang="zh", text="这是第三届比赛共有一百二十八名选手参加")
    prepared = following.final(seg)
    assert seg.text == SPEECH[1] and seg.source == "script"
    assert prepared == {"en": ENGLISH[1]}
    assert following.position() == {"zh": (7, 1)}
    assert following.moved
    # an operator re-anchors: the speaker is at the last passage now
    assert following.move_to(7, 3)
    assert following.position() == {"zh": (7, 3)}
    assert not following.move_to(7, 99)


def test_an_english_script_keeps_its_casing_and_punctuation():
    script = Script(
        [Passage("Good morning, Dr. Chen and distinguished guests."), Passage("Welcome to IBM.")],
        "en",
    )
    out = Follower(script).follow("good morning doctor chen and distinguished guests", True)
    assert out.source == "script"
    assert out.text.startswith("Good morning, ")
    assert "distinguished guests." in out.text


def test_a_text_is_cut_into_passages_and_a_bilingual_one_gives_translations_and_terms():
    monolingual = prepare("开幕致辞\n尊敬的各位来宾，大家好！今天我们在这里隆重集会。")
    assert [p.text for p in monolingual.passages] == [
        "开幕致辞",
        "尊敬的各位来宾，大家好！",
        "今天我们在这里隆重集会。",
    ]
    assert monolingual.lang == "zh" and monolingual.target is None
    alternating = prepare(
        "尊敬的各位来宾，大家好！\nDistinguished guests, hello!\n"
        "今天我们隆重集会。\nToday we gather."
    )
    assert [(p.text, p.translations) for p in alternating.passages] == [
        ("尊敬的各位来宾，大家好！", {"en": "Distinguished guests, hello!"}),
        ("今天我们隆重集会。", {"en": "Today we gather."}),
    ]
    table = prepare("组委会\tOrganizing Committee\n乒乓球世界杯\tTable Tennis World Cup\n致辞")
    assert table.glossary == [
        ("组委会", "Organizing Committee"),
        ("乒乓球世界杯", "Table Tennis World Cup"),
    ]
    found = terms(SPEECH, "zh")
    for name in ("沙拉拉", "东京", "2020", "128"):
        assert name in found
    assert "我们" not in found


NEWS = [
    "在督察消息发布的当天，多地出现了量价齐涨态势。",
    "信贷政策的放宽有利于释放购买力。",
    "楼市出现明显回暖。",
    "解析楼市宏观调控政策。",
]


def test_misheard_first_and_last_words_a_loop_and_a_skipped_phrase():
    script = Script(
        [Passage(t, translations={"en": f"line {i}"}) for i, t in enumerate(NEWS)], "zh"
    )
    f = Follower(script)
    # the recognizer said the start twice (a loop on a short window): shown once
    out = f.follow("在都查消息发布的当天。在督察消息发布的当天多地出现了量价齐涨态势。", True)
    assert out.text == NEWS[0] and out.translations == {"en": "line 0"}
    # a passage's misheard first words, and last ones, as many as the script's
    out = f.follow("近贷政策的放宽有利于释放购买力。", True)
    assert out.text == NEWS[1] and out.translations == {"en": "line 1"}
    out = f.follow("楼市出现明雪昏暖。", True)
    assert out.text == NEWS[2]
    # a phrase the speaker left out is not put back (宏观)
    out = f.follow("解析楼市调控政策", True)
    assert "宏观" not in out.text and out.text.startswith("解析楼市")
    assert out.translations == {}  # not the whole passage


def test_a_common_phrase_far_from_the_speaker_is_no_jump():
    script = Script([Passage(t) for t in [*SPEECH, *NEWS]], "zh")
    f = Follower(script)
    f.follow("国际乒联主席沙拉拉在东京表示组委会将于2020年举办乒乓球世界杯", True)
    cursor = f.cursor
    out = f.follow("我们将严格落实楼市调控", True)  # 楼市…调控 is in the script, far ahead
    assert out.source is None and f.cursor == cursor


def test_one_short_word_the_recognizer_dropped_between_exact_ones_is_the_scripts():
    script = Script([Passage("引来前所未有的关注。"), Passage("再次降准降息的可能性较大。")], "zh")
    f = Follower(script)
    assert f.follow("引来前所未的关注。", True).text == "引来前所未有的关注。"
    # a caption cut after two syllables, misheard (再吃), where they come next
    assert f.follow("再吃。", True).text == "再次。"


def test_among_lines_that_sound_the_same_the_one_written_as_heard_is_followed():
    lines = [Passage("他说这位就是新来的市长。"), Passage("他说这位就是新来的师长。")]
    script = Script(lines, "zh")
    assert Follower(script).follow("他说这位就是新来的师长", True).passages == [1]
    assert Follower(script).follow("他说这位就是新来的市长", True).passages == [0]
