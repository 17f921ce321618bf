"""Shared fixtures: real data from ../shared/data, one recognizer for the whole run."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tingshuo.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("TINGSHUO_DATA", ROOT.parent / "shared" / "data"))
AISHELL = DATA / "aishell-asr0009-sample-2spk"
LJ = DATA / "ljspeech-subset-en"


def read_tsv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


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

    def run(*args: str, input: str | None = None) -> subprocess.CompletedProcess:
        env = {**os.environ, "TINGSHUO_DATABASE_URL": db_url, "COLUMNS": "200"}
        return subprocess.run(
            [sys.executable, "-m", "tingshuo", *args],
            capture_output=True,
            text=True,
            env=env,
            input=input,
            timeout=600,
        )

    return run
