"""A database that fills up mid-session: one clear line, the transcript so far kept.

SQLite's `max_page_count` makes a real database full (the same SQLITE_FULL error a full disk
gives) at a size the test chooses, with no disk to fill.
"""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import event

from tingshuo.audio.decode import load_audio
from tingshuo.errors import StoreError
from tingshuo.events import Final, Segment
from tingshuo.live.recipe import Recipe, open_session
from tingshuo.store.db import Store, open_store

from .helpers import AISHELL


def nearly_full_store(url: str) -> Store:
    """A store whose next page of segments cannot be written."""
    store = open_store(url)
    filler = store.create_session("filler")
    # one segment fills most of the segments table's first page: two or three captions more fit
    store.add_segment(Segment(session_id=filler.id, start=0, end=1, lang="zh", text="填" * 1270))
    with store.engine.connect() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar()

    @event.listens_for(store.engine, "connect")
    def limit(dbapi_connection, _record) -> None:
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

    store.engine.dispose()  # connections from now on have the limit
    return store


@pytest.fixture
def speech(aishell_rows) -> np.ndarray:
    gap = np.zeros(10_000, dtype=np.float32)
    parts = [load_audio(AISHELL / r["path"]) for r in aishell_rows[:4]]
    return np.concatenate([p for part in parts for p in (part, gap)])


def test_a_full_database_is_one_error_and_keeps_what_was_stored(db_url):
    store = nearly_full_store(db_url)
    session = store.create_session("会议")
    kept = []
    with pytest.raises(StoreError, match="database or disk is full") as failed:
        for i in range(50):
            kept.append(
                store.add_segment(
                    Segment(
                        session_id=session.id, start=i, end=i + 1, lang="zh", text="内因的指标。"
                    )
                )
            )
    assert "\n" not in str(failed.value)
    assert kept and [s.text for s in store.segments(session.id)] == [s.text for s in kept]


def test_a_live_session_goes_on_showing_captions_when_the_disk_fills(
    db_url, worker, settings, speech
):
    store = nearly_full_store(db_url)
    session = open_session(Recipe("zh", title="满了"), worker, store, settings)
    notices: list[StoreError] = []
    session.on_store_error = notices.append
    events = []
    blocks = (speech[i : i + 1600] for i in range(0, speech.size, 1600))
    with pytest.raises(StoreError, match="full") as failed:
        session.run(blocks, events.append)
    finals = [e.segment for e in events if isinstance(e, Final)]
    assert len(finals) >= 4  # every sentence was still captioned
    assert len(notices) == 1  # the room's console is told once
    stored = store.segments(session.info.id)
    assert len(stored) < len(finals)
    assert [s.text for s in stored] == [f.text for f in finals[: len(stored)]]
    assert all(f.id is None for f in finals[len(stored) :])
    assert f"{len(stored)} captions are in session" in str(failed.value)


def test_transcribe_writes_the_whole_transcript_when_the_database_fills(
    db_url, speech, tmp_path, monkeypatch, capsys
):
    import wave

    from tingshuo import cli
    from tingshuo.cli import common

    audio = tmp_path / "meeting.wav"
    with wave.open(str(audio), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(16_000)
        f.writeframes((np.clip(speech, -1, 1) * 32767).astype("<i2").tobytes())
    store = nearly_full_store(db_url)
    monkeypatch.setattr(common, "open_db", lambda: store)
    out = tmp_path / "meeting.txt"
    code = cli.run(["transcribe", str(audio), "--lang", "zh", "--no-speakers", "-o", str(out)])
    assert code != 0
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert "database or disk is full" in message and str(out) in message
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) >= 4  # the whole recording, though the database took only part of it
    [session] = [s for s in store.list_sessions() if s.title == "meeting.wav"]
    assert session.segments < len(lines)
