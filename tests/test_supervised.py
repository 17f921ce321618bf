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


def _stopped(thread, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    return not thread.is_alive()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_the_drafts_thread_that_stopped_is_started_again(recognizer, aishell_rows):
    worker = RecognizerWorker(recognizer, drafter=lambda: recognizer)
    try:
        assert worker.drafts_state() == "running"
        assert worker._drafts is not None and worker._draft_thread is not None
        worker._drafts.put((1, -1, None, object(), None))  # a fault outside any request
        assert _stopped(worker._draft_thread._thread)
        assert worker.drafts_state() == "running (started again 1×)"
        audio = load_audio(AISHELL / aishell_rows[0]["path"])
        draft = worker.submit(Request(audio[:32000], "zh", draft=True), owner="room")
        assert draft.result(timeout=120).text
    finally:
        worker.close()
    assert not worker._draft_thread._thread.is_alive()  # closed: joined, not started again


class _Reads:
    """A second pass that reads every caption as it was: enough to see a job done."""

    def review(self, text, context=(), hotwords=(), hypotheses=(), lang="zh"):
        from types import SimpleNamespace

        return SimpleNamespace(changed=False, text=text, seconds=0.0)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_the_review_thread_that_stopped_is_started_again(tmp_path):
    from tingshuo.events import Final, Segment
    from tingshuo.live.captions import CaptionPath
    from tingshuo.live.review import Job, ReviewWorker
    from tingshuo.store.db import Store

    review = ReviewWorker(_Reads, nice=0, stale_s=600)
    try:
        review._queue.put(object())  # type: ignore[arg-type]  # a fault outside any review
        assert _stopped(review._thread._thread)
        store = Store(f"sqlite:///{tmp_path / 'review.db'}")
        path = CaptionPath(store)
        session = store.create_session("live", lang="zh")
        seg = Segment(session_id=session.id, start=0, end=2, lang="zh", text="大家好。")
        final = path.commit(Final(utterance=0, segment=seg), lambda e: None).segment
        review.submit(Job(final, [], [], [], path, lambda e: None))  # starts it again
        assert review.wait(30) and review.counts.reviewed == 1
        assert review.thread_state() == "running (started again 1×)"
    finally:
        review.close()
