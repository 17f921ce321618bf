"""Shared fixtures: real data from ../shared/data, one recognizer for the whole run."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from tingshuo.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("TINGSHUO_DATA", ROOT.parent / "shared" / "data"))
AISHELL = DATA / "aishell-asr0009-sample-2spk"
LJ = DATA / "ljspeech-subset-en"


def read_tsv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def write_wav(path: Path, audio: np.ndarray, rate: int = 16000) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def talk_wav(path: Path, utterances: list[str], rows: list[dict[str, str]]) -> Path:
    """AISHELL sentences (by utterance id) one after another, half a second of silence before
    the first and a second after each: a talk to play into a room as live."""
    from tingshuo.audio.decode import load_audio

    by_id = {row["utt_id"]: row for row in rows}
    gap = np.zeros(16000, dtype=np.float32)
    parts = [gap[:8000]]
    for utt in utterances:
        parts += [load_audio(AISHELL / by_id[utt]["path"]), gap]
    return write_wav(path, np.concatenate(parts))


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
