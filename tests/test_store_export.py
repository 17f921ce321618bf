"""Sessions and segments in SQLite through SQLAlchemy; exports read back by real parsers."""

from __future__ import annotations

import io
import json

import docx
import pytest
import srt
import webvtt

from tingshuo.errors import TingshuoError
from tingshuo.events import Segment
from tingshuo.store.db import open_store
from tingshuo.store.export import FORMATS, render

from .helpers import (
    check_sessions_segments_and_search,
    check_translations_stored_beside_the_caption,
)


def test_sessions_segments_and_search(db_url, transcript):
    check_sessions_segments_and_search(db_url, transcript)  # shared with the PostgreSQL run


def test_translations_are_stored_beside_the_caption(db_url, transcript):
    check_translations_stored_beside_the_caption(db_url, transcript)


def test_unusable_database_path_is_one_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(TingshuoError, match="cannot"):
        open_store(f"sqlite:///{blocker}/sub/t.db")


def test_srt_reads_back_with_the_same_timing_and_text(transcript):
    subs = list(srt.parse(render(transcript, "srt").decode()))
    # a speaker's name leads the cue where the voice changes
    assert [s.content for s in subs] == [s.text for s in transcript[:-1]] + [
        "Guest: In being comparatively modern."
    ]
    for sub, seg in zip(subs, transcript, strict=True):
        assert sub.start.total_seconds() == pytest.approx(seg.start, abs=0.001)
        assert sub.end.total_seconds() == pytest.approx(seg.end, abs=0.001)


def test_vtt_reads_back_with_webvtt(transcript):
    captions = webvtt.from_buffer(io.StringIO(render(transcript, "vtt").decode()))
    assert len(captions) == len(transcript)
    assert captions[0].text == transcript[0].text
    assert captions[0].start == "00:00:00.500"
    assert captions[-1].voice == "Guest"


def test_json_docx_and_txt(transcript):
    doc = json.loads(render(transcript, "json", meta={"session": "abc"}))
    assert doc["session"] == "abc"
    assert [s["text"] for s in doc["segments"]] == [s.text for s in transcript]
    assert {"start", "end", "text", "lang"} <= doc["segments"][0].keys()

    word = docx.Document(io.BytesIO(render(transcript, "docx", title="董事会")))
    body = "\n".join(p.text for p in word.paragraphs)
    assert "董事会" in body
    assert all(s.text in body for s in transcript)

    txt = render(transcript, "txt").decode()
    assert txt.count("\n") == len(transcript)
    assert "Guest: In being comparatively modern." in txt


def test_bilingual_exports_put_both_lines_in_each_cue(transcript):
    segs = [
        s.model_copy(update={"translations": {"en": f"line {i}"}}) for i, s in enumerate(transcript)
    ]
    subs = list(srt.parse(render(segs, "srt", languages=["en"]).decode()))
    assert subs[0].content == f"{transcript[0].text}\nline 0"
    table = docx.Document(io.BytesIO(render(segs, "docx", languages=["en"]))).tables[0]
    assert table.rows[1].cells[2].text == "line 0"


def test_unknown_format_is_refused(transcript):
    assert "pdf" not in FORMATS
    with pytest.raises(TingshuoError, match="unknown format"):
        render(transcript, "pdf")


def test_a_database_from_an_older_version_is_upgraded_in_place(tmp_path):
    """Columns added since (targets, room_id, translations) are added; nothing stored is lost."""
    import sqlite3

    from tingshuo.store.db import open_store

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.executescript(
            """
            CREATE TABLE sessions (id VARCHAR(32) PRIMARY KEY, title VARCHAR(300),
                source VARCHAR(1000), lang VARCHAR(16), hotwords JSON, status VARCHAR(16),
                created_at DATETIME, duration FLOAT);
            CREATE TABLE segments (id INTEGER PRIMARY KEY AUTOINCREMENT, session_id VARCHAR(32),
                start FLOAT, "end" FLOAT, lang VARCHAR(16), text TEXT, speaker VARCHAR(100));
            INSERT INTO sessions VALUES ('abc123', '旧会议', 'old.wav', 'zh', '[]', 'done',
                '2026-11-01 09:00:00', 4.5);
            INSERT INTO segments (session_id, start, "end", lang, text, speaker)
                VALUES ('abc123', 0.0, 4.5, 'zh', '其中有两个是内因的指标。', NULL);
            """
        )
    store = open_store(f"sqlite:///{path}")
    old = store.get_session("abc1")
    assert (old.title, old.segments, old.targets) == ("旧会议", 1, [])
    [segment] = store.segments("abc123")
    assert segment.text == "其中有两个是内因的指标。" and segment.translations == {}
    english = "Two of them are internal indicators."
    store.set_translation(segment.id, "en", english)
    assert store.segments("abc123")[0].translations == {"en": english}
    room = store.create_room("主会场", "zh", ["en"])
    new = store.create_session("新会议", lang="zh", targets=["en"], room_id=room.id)
    assert [s.id for s in store.room_sessions(room.id)] == [new.id]
    store.add_segment(Segment(session_id=new.id, start=0, end=1, lang="zh", text="指标。"))
    assert [s.segments for s in store.room_sessions(room.id)] == [1]  # counted, as listed
    open_store(f"sqlite:///{path}")  # a second start finds nothing to add
