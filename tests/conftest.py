"""Shared fixtures: real data from ../shared/data, one recognizer for the whole run, one live
server per test module. Helpers that tests import are in helpers.py."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tingshuo.events import Segment
from tingshuo.settings import Settings

from .helpers import AISHELL, LJ, LiveServer, live_server, read_tsv

# The second pass (on by default) reads each caption again with the 1.5B language model, a few
# seconds a caption on 2 cores: tests of other features run without it, so that their captions
# are the recognizer's and the suite keeps its time. The tests of the second pass turn it on
# (test_second_pass.py, test_review.py, test_live_second_pass.py).
os.environ.setdefault("TINGSHUO_SECOND_PASS", "false")


@pytest.fixture(scope="session")
def aishell_rows() -> list[dict[str, str]]:
    return read_tsv(AISHELL / "manifest.tsv")


@pytest.fixture(scope="session")
def lj_rows() -> list[dict[str, str]]:
    return read_tsv(LJ / "manifest.tsv")


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def recognizer(settings):
    from tingshuo.asr import load_recognizer

    return load_recognizer(settings)


@pytest.fixture(scope="session")
def worker(recognizer):
    from tingshuo.asr.worker import RecognizerWorker

    w = RecognizerWorker(recognizer)
    yield w
    w.close()


@pytest.fixture
def db_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'tingshuo.db'}"


@pytest.fixture
def cli(db_url):
    """Run the installed `tingshuo` command as a user would, with a private database."""

    def run(
        *args: str, input: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        env = {**os.environ, "TINGSHUO_DATABASE_URL": db_url, "COLUMNS": "200", **(env or {})}
        return subprocess.run(
            [sys.executable, "-m", "tingshuo", *args],
            capture_output=True,
            text=True,
            env=env,
            input=input,
            timeout=600,
        )

    return run


@pytest.fixture(scope="module")
def server_overrides() -> dict:
    """Settings fields for the module's `server`; a module that needs others overrides this."""
    return {}


@pytest.fixture(scope="module")
def server(worker, tmp_path_factory, request, server_overrides) -> Iterator[LiveServer]:
    """A real uvicorn server for the whole module (one per module: rooms and settings of one
    module never meet another's), the session's recognizer, a private database, token ORG."""
    folder = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
    with live_server(worker, folder, **server_overrides) as live:
        yield live


@pytest.fixture
def pg_url() -> str:
    """A PostgreSQL database emptied for the test; skipped without TINGSHUO_TEST_POSTGRES_URL."""
    from sqlalchemy import create_engine

    from tingshuo.store.db import Base

    url = os.environ.get("TINGSHUO_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("no PostgreSQL server: set TINGSHUO_TEST_POSTGRES_URL (CI does)")
    engine = create_engine(url)
    Base.metadata.drop_all(engine)
    with engine.begin() as db:  # the schema's revision goes with its tables
        db.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    engine.dispose()
    return url


@pytest.fixture
def transcript(aishell_rows) -> list[Segment]:
    """Real Mandarin sentences with made-up but plausible timing and one English line."""
    segs, t = [], 0.5
    for row in aishell_rows[:4]:
        dur = float(row["duration_s"])
        segs.append(Segment(start=t, end=t + dur, lang="zh", text=row["reference_text"] + "。"))
        t += dur + 0.4
    segs.append(
        Segment(
            start=t, end=t + 2.0, lang="en", text="In being comparatively modern.", speaker="Guest"
        )
    )
    return segs
