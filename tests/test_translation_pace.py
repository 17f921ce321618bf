"""Live translation keeps pace: streamed words, the kept prompt, degrading rather than lagging.

The policy tests drive `TranslationWorker` with scripted translators that take a set time,
as `test_commit_policy.py` drives the commit policy: what is decided is the worker's, the
model's speed is given. The prompt tests run the real bundled 0.5B model.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Sequence

import pytest

from tingshuo.events import Final, Segment, Translation
from tingshuo.mt.base import Turn
from tingshuo.mt.glossary import Glossary
from tingshuo.mt.llm import load_translator
from tingshuo.mt.worker import TranslationWorker
from tingshuo.settings import get_settings


class Timed:
    """A translator that takes `seconds` per caption, writing its words one by one."""

    pairs = frozenset({("zh", "en")})

    def __init__(self, name: str, seconds: float) -> None:
        self.name = name
        self.seconds = seconds
        self.texts: list[str] = []

    def translate(
        self,
        text: str,
        src: str,
        tgt: str,
        context: Sequence[Turn] = (),
        glossary: Glossary | None = None,
        conversation: Hashable | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> str:
        self.texts.append(text)
        words = [f"w{i}" for i in range(4)]
        for i in range(len(words)):
            time.sleep(self.seconds / len(words))
            if on_text is not None:
                on_text(" ".join(words[: i + 1]))
        return f"{self.name}: {text}"


def final(i: int, text: str, session: str = "s1") -> Final:
    seg = Segment(id=100 + i, session_id=session, start=i, end=i + 1, lang="zh", text=text)
    return Final(utterance=i, segment=seg)


def collect() -> tuple[list[Translation], Callable[[Translation], None]]:
    events: list[Translation] = []
    lock = threading.Lock()

    def sink(event: Translation) -> None:
        with lock:
            events.append(event)

    return events, sink


def complete(events: list[Translation]) -> dict[int, Translation]:
    return {e.segment_id: e for e in events if not e.partial}  # type: ignore[misc]


def test_words_stream_before_the_complete_translation() -> None:
    settings = get_settings().model_copy(update={"mt_target_lag_s": 10.0})
    events, sink = collect()
    with TranslationWorker(Timed("main", 0.4), settings) as worker:
        worker.submit_final(final(0, "大家好。"), ["en"], sink).result(timeout=10)
    partials = [e for e in events if e.partial]
    assert partials and partials[0].text == "w0"  # the first word goes out at once
    assert events[-1].partial is False and events[-1].text == "main: 大家好。"
    assert events[-1].model == "main" and not events[-1].degraded
    # the partial texts only grow
    texts = [e.text for e in partials]
    assert all(b.startswith(a) for a, b in zip(texts, texts[1:], strict=False))


def test_a_queue_goes_to_the_fast_model_and_says_so() -> None:
    """Four finals at once behind a slow main model: the first by the main model, the ones
    that would wait behind it by the fast one, marked degraded; none lost."""
    settings = get_settings().model_copy(update={"mt_target_lag_s": 5.0})
    main, fast = Timed("main", 0.5), Timed("fast", 0.05)
    events, sink = collect()
    with TranslationWorker(main, settings, fast=fast) as worker:
        futures = [worker.submit_final(final(0, "第0句。"), ["en"], sink)]
        while not events:  # the first is being written
            time.sleep(0.01)
        futures += [worker.submit_final(final(i, f"第{i}句。"), ["en"], sink) for i in (1, 2, 3)]
        for f in futures:
            f.result(timeout=10)
    done = complete(events)
    assert sorted(done) == [100, 101, 102, 103]
    assert done[100].model == "main" and not done[100].degraded
    assert all(done[i].degraded and done[i].model == "fast" for i in (101, 102))
    assert worker.counts["main"] >= 1 and worker.counts["fast"] >= 2


def test_a_caption_that_would_miss_its_target_goes_to_the_fast_model() -> None:
    settings = get_settings().model_copy(update={"mt_target_lag_s": 1.0})
    main, fast = Timed("main", 0.1), Timed("fast", 0.05)
    events, sink = collect()
    with TranslationWorker(main, settings, fast=fast) as worker:
        worker.pace["main"].per_char = 1.0  # as measured on a slow machine: 10 s a caption
        worker.submit_final(final(0, "一句很长很长的话。"), ["en"], sink).result(timeout=10)
    assert complete(events)[100].model == "fast" and main.texts == []


def test_late_captions_shed_quality_then_translation() -> None:
    lag = [2.5]
    settings = get_settings().model_copy(
        update={"mt_shed_quality_lag_s": 2.0, "mt_shed_translation_lag_s": 5.0}
    )
    main, fast = Timed("main", 0.05), Timed("fast", 0.05)
    events, sink = collect()
    with TranslationWorker(main, settings, fast=fast, caption_lag=lambda: lag[0]) as worker:
        worker.submit_final(final(0, "一。"), ["en"], sink).result(timeout=10)
        assert worker.shedding == "quality"
        lag[0] = 6.0
        assert worker.submit_final(final(1, "二。"), ["en"], sink).result(timeout=10) == {}
        assert worker.shedding == "translation"
        lag[0] = 0.5
        worker.submit_final(final(2, "三。"), ["en"], sink).result(timeout=10)
        assert worker.shedding == "none"
    done = complete(events)
    assert done[100].degraded and done[100].model == "fast"
    assert done[101].skipped and done[101].text == ""  # marked, not silently lost
    assert done[102].model == "main" and not done[102].degraded


def test_the_oldest_caption_is_skipped_when_it_would_be_too_late_with_others_behind() -> None:
    # each caption is guessed at 0.4 s (0.1 s a character) and takes 0.5 s
    settings = get_settings().model_copy(update={"mt_skip_after_s": 0.7})
    main = Timed("main", 0.5)
    events, sink = collect()
    with TranslationWorker(main, settings) as worker:
        futures = [worker.submit_final(final(i, f"第{i}句。"), ["en"], sink) for i in range(3)]
        for f in futures:
            f.result(timeout=10)
    done = complete(events)
    assert not done[100].skipped  # taken at once
    assert done[101].skipped  # waited 0.5 s: done after 0.9 s, with another behind it
    assert not done[102].skipped  # the newest is translated
    assert len(done) == 3


# --- the real (small) model: the prompt is kept, conversations are swapped ----------------


@pytest.fixture(scope="module")
def small():
    return load_translator(get_settings(), "qwen2.5-0.5b")


@pytest.mark.slow
def test_a_conversation_reads_only_each_new_caption(small) -> None:
    small.prepare("room-a", "zh", "en")
    captions = ["大家好。", "今天我们开会。", "首先请经理发言。", "谢谢大家。"]
    read = []
    for text in captions:
        out = small.translate(text, "zh", "en", conversation="room-a")
        assert out and not any("\u4e00" <= ch <= "\u9fff" for ch in out)
        read.append(small.calls[0].prompt_tokens)  # the conversation's call (then repairs)
    # the instruction was read beforehand: each caption reads its own turn and the end of
    # the previous reply, never the conversation again
    assert max(read) <= 20, read


@pytest.mark.slow
def test_two_rooms_take_turns_without_reading_their_history_again(small) -> None:
    for room in ("room-b", "room-c"):
        small.prepare(room, "zh", "en")
    for text in ["欢迎来到发布会。", "这是第二句话。", "下面请看视频。"]:
        for room in ("room-b", "room-c"):
            small.translate(text, "zh", "en", conversation=room)
            assert small.calls[0].prompt_tokens <= 20, (room, text, small.calls)
    small.forget("room-b")
    small.forget("room-c")


@pytest.mark.slow
def test_a_drafts_stable_words_are_read_before_the_final(small) -> None:
    final = "今天我们在这里召开年度总结会议。"
    read = {}
    for room, draft in (("room-d", None), ("room-e", "今天我们在这里召开")):
        small.prepare(room, "zh", "en")
        small.translate("大家好。", "zh", "en", conversation=room)
        if draft:
            small.prefetch(room, "zh", "en", draft)  # a draft's stable part
        out = small.translate(final, "zh", "en", conversation=room)
        assert out and not any("\u4e00" <= ch <= "\u9fff" for ch in out)
        read[room] = small.calls[0].prompt_tokens
        small.forget(room)
    # read ahead, the final leaves only its last words and the reply's opening to read
    assert read["room-e"] <= read["room-d"] - 5, read
