"""The same store, on PostgreSQL: only the database URL changes.

CI (`.ci/run`) installs and starts a PostgreSQL server and sets TINGSHUO_TEST_POSTGRES_URL;
elsewhere these tests are skipped unless that variable names a database to use (its tables
are dropped first).
"""

from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine

from tingshuo.store.db import Base, open_store

from .test_store_export import test_sessions_segments_and_search as sessions_flow
from .test_store_export import test_translations_are_stored_beside_the_caption as translation_flow
from .test_store_export import transcript  # noqa: F401  (fixture)


@pytest.fixture
def pg_url() -> str:
    url = os.environ.get("TINGSHUO_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("no PostgreSQL server: set TINGSHUO_TEST_POSTGRES_URL (CI does)")
    engine = create_engine(url)
    Base.metadata.drop_all(engine)
    engine.dispose()
    return url


def test_sessions_segments_and_search_on_postgres(pg_url, transcript):  # noqa: F811
    assert open_store(pg_url).engine.dialect.name == "postgresql"
    sessions_flow(pg_url, transcript)


def test_translations_on_postgres(pg_url, transcript):  # noqa: F811
    translation_flow(pg_url, transcript)


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
