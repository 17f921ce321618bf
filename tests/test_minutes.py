"""Meeting minutes of a stored session: facts, topics and key points from the transcript,
decisions and action items from the bundled language model, nothing that was not said."""

from __future__ import annotations

import csv
import io

import docx
import pytest

from tingshuo.errors import TingshuoError
from tingshuo.events import Segment
from tingshuo.minutes import grounded, parse_items, to_markdown, write_minutes
from tingshuo.store.db import open_store

from .helpers import AISHELL

NAMES = {"S0150": "王经理", "S0252": "李总"}


@pytest.fixture(scope="module")
def translator(settings):
    from tingshuo.mt import load_translator

    return load_translator(settings)


@pytest.fixture(scope="module")
def talk() -> list[Segment]:
    """The first 40 turns of the two-speaker AISHELL recording, as its reference has them."""
    with (AISHELL / "longform" / "segments.tsv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))[:40]
    return [
        Segment(
            start=float(r["start_s"]),
            end=float(r["end_s"]),
            lang="zh",
            text=r["reference_text"] + "。",
            speaker=NAMES[r["speaker"]],
        )
        for r in rows
    ]


@pytest.fixture
def stored(db_url, talk):
    store = open_store(db_url)
    info = store.create_session("产业周会", lang="zh")
    for seg in talk:
        store.add_segment(seg.model_copy(update={"session_id": info.id}))
    store.finish_session(info.id, "done", talk[-1].end)
    return store, store.get_session(info.id)


def test_items_nobody_said_are_dropped():
    said = "王经理: 这使得我们的三D打印业务整体的推进受到影响。"
    assert grounded("三D打印业务的推进受到影响", said, "zh")
    assert not grounded("下周一前提交预算报告", said, "zh")
    assert grounded("the budget was approved", "we approved the budget today", "en")
    assert not grounded("hire two engineers", "we approved the budget today", "en")
    assert parse_items("- 无") == [] and parse_items("None.") == []
    assert parse_items("1. 李总负责联系工厂\n- **王经理**整理报告") == [
        "李总负责联系工厂",
        "王经理整理报告",
    ]


def test_minutes_of_a_two_speaker_session(stored, translator):
    store, info = stored
    minutes = write_minutes(info, store.segments(info.id), translator.llm)
    assert [name for name, _ in minutes.speakers] == ["王经理", "李总"]
    assert sum(sec for _, sec in minutes.speakers) == pytest.approx(
        sum(s.end - s.start for s in store.segments(info.id)), abs=0.5
    )
    assert {"汽车", "驾驶"} & set(minutes.topics)  # what the recording is about
    said = {s.text for s in store.segments(info.id)}
    assert 3 <= len(minutes.points) and all(p.text in said for p in minutes.points)
    assert [p.start for p in minutes.points] == sorted(p.start for p in minutes.points)
    transcript = "\n".join(said)
    # news read aloud: nothing was decided or assigned, and nothing may be invented
    assert all(grounded(i, transcript, "zh") for i in minutes.decisions + minutes.actions)
    text = to_markdown(minutes)
    for heading in ("# 会议纪要: 产业周会", "## 要点", "## 决定", "## 待办", "王经理 ("):
        assert heading in text


def test_cli_writes_markdown_and_docx(cli, stored, tmp_path):
    _, info = stored
    md = tmp_path / "minutes.md"
    done = cli("minutes", info.id[:8], "-o", str(md))
    assert done.returncode == 0, done.stderr
    assert md.read_text(encoding="utf-8").startswith("# 会议纪要: 产业周会")
    word = tmp_path / "minutes.docx"
    assert cli("minutes", info.id, "--lang", "en", "-o", str(word)).returncode == 0
    body = "\n".join(p.text for p in docx.Document(io.BytesIO(word.read_bytes())).paragraphs)
    assert "Minutes: 产业周会" in body and "Key points" in body and "王经理" in body


def test_a_session_without_captions_is_one_clear_error(db_url, cli):
    store = open_store(db_url)
    info = store.create_session("空会议")
    done = cli("minutes", info.id)
    assert done.returncode != 0
    assert "no captions to take minutes of" in done.stderr.strip().splitlines()[-1]
    with pytest.raises(TingshuoError, match="zh or en"):
        write_minutes(info, [Segment(start=0, end=1, lang="zh", text="你好。")], None, "fr")
