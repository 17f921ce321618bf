"""The same store, on PostgreSQL: only the database URL changes.

CI (`.ci/run`) installs and starts a PostgreSQL server and sets TINGSHUO_TEST_POSTGRES_URL;
elsewhere these tests are skipped unless that variable names a database to use (its tables
are dropped first).
"""

from __future__ import annotations

from sqlalchemy import create_engine

from tingshuo.store.db import open_store

from .helpers import (
    check_sessions_segments_and_search,
    check_translations_stored_beside_the_caption,
)


def test_sessions_segments_and_search_on_postgres(pg_url, transcript):
    assert open_store(pg_url).engine.dialect.name == "postgresql"
    check_sessions_segments_and_search(pg_url, transcript)


def test_translations_on_postgres(pg_url, transcript):
    check_translations_stored_beside_the_caption(pg_url, transcript)


def test_an_older_database_is_upgraded_on_postgres(pg_url):
    engine = create_engine(pg_url)
    with engine.begin() as db:
        db.exec_driver_sql(
            "CREATE TABLE sessions (id VARCHAR(32) PRIMARY KEY, title VARCHAR(300),"
            " source VARCHAR(1000), lang VARCHAR(16), hotwords JSON, status VARCHAR(16),"
            " created_at TIMESTAMP WITH TIME ZONE, duration FLOAT)"
        )
        db.exec_driver_sql(
            "INSERT INTO sessions VALUES ('abc123', '旧会议', 'old.wav', 'zh', '[]', 'done',"
            " '2026-11-01 09:00:00+00', 4.5)"
        )
    engine.dispose()
    store = open_store(pg_url)
    old = store.get_session("abc1")
    assert (old.title, old.targets, old.segments) == ("旧会议", [], 0)
    room = store.create_room("主会场", "zh", ["en"])
    new = store.create_session("新会议", lang="zh", targets=["en"], room_id=room.id)
    assert [s.id for s in store.room_sessions(room.id)] == [new.id]
