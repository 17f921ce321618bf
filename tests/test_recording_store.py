"""A session's sound in the store, without a room: recorded from real speech page by page,
served back whole or as a stretch, deleted with the session, forgotten after its days, and a
full database that stops the recording in one line."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import event, update

from tingshuo.asr.scoring import cer
from tingshuo.audio import opus
from tingshuo.events import RecordingNotice, Segment
from tingshuo.live.recording import Recorder
from tingshuo.server.api_sound import forget_old_sound
from tingshuo.store.db import SessionRow, open_store
from tingshuo.store.sound import SoundMissing, now, session_sound
from tingshuo.store.tables import SoundChunkRow

from .helpers import similarity, speech


@pytest.fixture(scope="module")
def talk(aishell_rows) -> np.ndarray:
    return speech(aishell_rows[:3])  # about 18 s


def recorded(store, talk: np.ndarray, title: str = "talk") -> str:
    session = store.create_session(title)
    store.set_session_audio(session.id, "kept")
    recorder = Recorder(store, session.id)
    for at in range(0, talk.size, 1600):
        recorder.feed(talk[at : at + 1600])
    recorder.close()
    assert recorder.stopped is None
    return session.id


def test_the_sound_served_back_is_what_was_recorded_whole_and_in_stretches(db_url, talk):
    store = open_store(db_url)
    sid = recorded(store, talk)
    info = store.get_session(sid)
    pages = store.sound_chunks(sid)
    assert len(pages) == int(talk.size / 16000 / 2) + 1  # a page every 2 s, as it came
    data = session_sound(store, info)
    assert len(data) / (talk.size / 16000) * 3600 < 30e6  # the floor: 30 MB an hour
    heard = opus.decode(data)
    assert abs(heard.size - talk.size) / 16000 < 0.1
    assert similarity(talk, heard) > 0.95
    part = opus.decode(session_sound(store, info, 5.0, 7.5))
    assert abs(part.size / 16000 - 2.5) < 0.03
    assert similarity(talk[80000:120000], part) > 0.95
    with pytest.raises(ValueError, match="must lie in the sound"):
        session_sound(store, info, 5.0, 999.0)
    with pytest.raises(ValueError):
        session_sound(store, info, 3.0, 2.0)


def test_a_session_goes_with_its_captions_revisions_and_sound(db_url, talk, cli):
    store = open_store(db_url)
    sid = recorded(store, talk[: 16000 * 5])
    seg = store.add_segment(Segment(session_id=sid, start=0, end=1, lang="zh", text="大家好。"))
    store.correct_segment(seg.id, "大家好！", by="operator")
    kept = recorded(store, talk[: 16000 * 5], "another")
    written = Path(db_url.split("///")[1] + ".ogg")
    out = cli("export", sid, "--audio", str(written))
    assert out.returncode == 0, out.stderr
    assert abs(opus.decode(written.read_bytes()).size / 16000 - 5.0) < 0.1
    deleted = cli("sessions", "--delete", sid)
    assert deleted.returncode == 0 and "deleted" in deleted.stderr, deleted.stderr
    assert "no session" in cli("export", sid).stderr
    assert store.sound_chunks(sid) == [] and store.revisions(seg.id) == []
    assert store.sound_chunks(kept)  # the other session keeps its own


def test_old_sound_is_forgotten_and_its_text_kept(db_url, talk):
    store = open_store(db_url)
    old = recorded(store, talk[: 16000 * 4], "last month")
    new = recorded(store, talk[: 16000 * 4], "today")
    store.add_segment(Segment(session_id=old, start=0, end=1, lang="zh", text="大家好。"))
    with store.engine.begin() as conn:
        month_ago = now() - timedelta(days=31)
        conn.execute(update(SessionRow).where(SessionRow.id == old).values(created_at=month_ago))
    assert forget_old_sound(store, 30) == [old]
    with pytest.raises(SoundMissing, match="deleted"):
        session_sound(store, store.get_session(old))
    assert [s.text for s in store.segments(old)] == ["大家好。"]
    assert session_sound(store, store.get_session(new))


def test_a_full_database_stops_the_recording_and_says_so(db_url, talk):
    store = open_store(db_url)
    session = store.create_session("full")
    store.set_session_audio(session.id, "kept")
    with store.engine.connect() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar()

    @event.listens_for(store.engine, "connect")
    def limit(dbapi_connection, _record) -> None:
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages + 4}")

    store.engine.dispose()
    told: list[RecordingNotice] = []
    recorder = Recorder(store, session.id)
    recorder.tell = told.append
    for at in range(0, talk.size, 1600):
        recorder.feed(talk[at : at + 1600])
    recorder.close()
    assert recorder.stopped is not None and "full" in recorder.stopped
    assert len(told) == 1 and "captions go on" in told[0].message
    assert "\n" not in told[0].message
    with store.engine.connect() as conn:
        assert conn.execute(SoundChunkRow.__table__.select()).fetchall()  # what fitted is kept


def test_a_server_forgets_old_sound_when_it_starts(db_url, talk, worker):
    from fastapi.testclient import TestClient

    from tingshuo.server.app import create_app
    from tingshuo.settings import Settings

    store = open_store(db_url)
    old = recorded(store, talk[: 16000 * 3], "last year")
    with store.engine.begin() as conn:
        year_ago = now() - timedelta(days=365)
        conn.execute(update(SessionRow).where(SessionRow.id == old).values(created_at=year_ago))
    settings = Settings(database_url=db_url, token="organizer-secret", keep_audio_days=90)
    with TestClient(create_app(settings, worker=worker)) as client:
        auth = {"Authorization": "Bearer organizer-secret"}
        deadline = time.monotonic() + 10
        while client.get(f"/api/sessions/{old}/audio", headers=auth).status_code != 404:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        gone = client.get(f"/api/sessions/{old}/audio", headers=auth)
        assert "deleted" in gone.json()["detail"]


def test_a_worker_taking_the_room_over_goes_on_where_the_recording_ends(db_url, talk):
    store = open_store(db_url)
    session = store.create_session("taken over")
    store.set_session_audio(session.id, "kept")
    first = Recorder(store, session.id)
    for at in range(0, 16000 * 5 + 1600, 1600):  # 5.1 s heard, then the worker dies
        first.feed(talk[at : at + 1600])
    first.close(keep=False)  # what the page being filled held is lost, as with kill -9
    assert first.packets == 200  # two pages: 4 s
    # the next worker resumes at the last caption's end (3 s) and hears 3–4 s again
    second = Recorder(store, session.id, at_s=3.0)
    for at in range(16000 * 3, talk.size, 1600):
        second.feed(talk[at : at + 1600])
    second.close()
    heard = opus.decode(session_sound(store, store.get_session(session.id)))
    assert abs(heard.size - talk.size) / 16000 < 0.1
    assert similarity(talk, heard) > 0.9
    # a resume later than the recording's end: the gap is silence, the clock holds
    gap = store.create_session("gap")
    store.set_session_audio(gap.id, "kept")
    first = Recorder(store, gap.id)
    for at in range(0, 16000 * 4, 1600):
        first.feed(talk[at : at + 1600])
    first.close(keep=False)
    second = Recorder(store, gap.id, at_s=6.0)
    for at in range(16000 * 6, talk.size, 1600):
        second.feed(talk[at : at + 1600])
    second.close()
    heard = opus.decode(session_sound(store, store.get_session(gap.id)))
    assert abs(heard.size - talk.size) / 16000 < 0.1
    assert np.abs(heard[16000 * 4 + 800 : 16000 * 6 - 800]).max() < 0.01
    assert similarity(talk[16000 * 6 :], heard[16000 * 6 :]) > 0.9


@pytest.fixture(params=["sqlite", "postgresql"])
def either_db(request, db_url) -> str:
    """SQLite, then PostgreSQL where the tests have one (a page taken is found differently)."""
    return db_url if request.param == "sqlite" else request.getfixturevalue("pg_url")


def test_a_worker_that_lost_the_room_and_records_on_does_not_stop_the_new_one(
    either_db, talk, caplog
):
    """Split brain for a moment: the old worker has not heard that the room was taken over
    and stores pages the new one numbered too. The new one goes on after them."""
    store = open_store(either_db)
    session = store.create_session("two recorders")
    store.set_session_audio(session.id, "kept")
    old = Recorder(store, session.id)
    for at in range(0, 16000 * 5, 1600):
        old.feed(talk[at : at + 1600])
    deadline = time.monotonic() + 10
    while len(store.sound_chunks(session.id)) < 2:  # 0–4 s stored
        assert time.monotonic() < deadline
        time.sleep(0.05)
    new = Recorder(store, session.id, at_s=3.0)  # goes on at page 4, packet 200
    deadline = time.monotonic() + 10
    while new.packets != 200:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    for at in range(16000 * 5, 16000 * 9, 1600):  # the old one stores 4–8 s as pages 4, 5
        old.feed(talk[at : at + 1600])
    deadline = time.monotonic() + 10
    while len(store.sound_chunks(session.id)) < 4:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    for at in range(16000 * 3, talk.size, 1600):
        new.feed(talk[at : at + 1600])
    new.close()
    old.close(keep=False)  # it hears at last
    assert new.stopped is None and old.stopped is None
    assert "another process stores its sound too" in caplog.text
    pages = store.sound_chunks(session.id)
    assert [p.seq for p in pages] == list(range(2, 2 + len(pages)))
    assert all(a.first + a.packets == b.first for a, b in zip(pages, pages[1:], strict=False))
    heard = opus.decode(session_sound(store, store.get_session(session.id)))
    assert abs(heard.size - talk.size) / 16000 < 0.1
    assert similarity(talk, heard) > 0.9
    assert similarity(talk[16000 * 9 :], heard[16000 * 9 :]) > 0.9  # on the session's clock


def test_tingshuo_retranscribe_reads_a_recorded_session_again(db_url, aishell_rows, cli):
    """The command line's reading again: wrong captions over real speech get the recognizer's
    reading as a revision; the operator's stays; the state is stored as the server shows it."""
    rows = aishell_rows[:3]
    store = open_store(db_url)
    sid = recorded(store, speech(rows), "read again")
    at, captions = 0.5, []
    for row in rows:
        length = float(row["duration_s"])
        seg = Segment(session_id=sid, start=at - 0.2, end=at + length + 0.3, lang="zh",
                      text="听不清楚。")  # fmt: skip
        captions.append(store.add_segment(seg))
        at += length + 1.0
    store.correct_segment(captions[2].id, "人工改过的一句。", by="operator")
    assert "is live" in cli("retranscribe", sid[:8]).stderr  # its room still writes it
    store.finish_session(sid, "done", at)
    out = cli("retranscribe", sid[:8])
    assert out.returncode == 0, out.stderr
    assert "3 captions, 2 changed, 1 kept" in out.stderr
    texts = [s.text for s in store.segments(sid)]
    assert texts[2] == "人工改过的一句。"
    for text, row in zip(texts[:2], rows[:2], strict=True):
        assert cer([row["reference_text"]], [text]) < 0.3, (text, row["reference_text"])
    history = store.revisions(captions[0].id)
    assert [(r.by, r.text) for r in history] == [("machine", "听不清楚。"), ("reread", texts[0])]
    state = store.get_session(sid).retranscribe
    assert state is not None and (state.state, state.changed, state.kept) == ("done", 2, 1)
    busy = cli("retranscribe", "ffff")
    assert busy.returncode != 0 and "no session" in busy.stderr
