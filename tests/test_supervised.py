"""A model thread that stops by itself is started again and said so on /health, and the
captions go on."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from tingshuo.asr.base import Request
from tingshuo.asr.scoring import cer
from tingshuo.asr.worker import RecognizerWorker
from tingshuo.audio.decode import load_audio
from tingshuo.server.app import create_app
from tingshuo.settings import Settings

from .helpers import AISHELL


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_recognizer_thread_that_stopped_is_started_again(recognizer, aishell_rows, db_url):
    worker = RecognizerWorker(recognizer)
    app = create_app(Settings(database_url=db_url, token="secret"), worker=worker)
    try:
        with TestClient(app) as client:
            assert client.get("/health").json()["threads"]["recognizer"] == "running"
            # a fault outside any request (a malformed queue item) ends the thread's loop
            worker._queue.put((0, -1, None, object(), None))
            deadline = time.monotonic() + 10
            while worker._thread._thread.is_alive() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not worker._thread._thread.is_alive()
            health = client.get("/health").json()
            assert health["threads"]["recognizer"] == "running (started again 1×)"
            row = aishell_rows[0]
            audio = load_audio(AISHELL / row["path"])
            heard = worker.submit(Request(audio, "zh")).result(timeout=120)
            assert cer([row["reference_text"]], [heard.text]) < 0.3
    finally:
        worker.close()
