"""The learner page and its API, on a minimal app with the shared recognizer."""

from __future__ import annotations

import io
import wave

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tingshuo.learn.routes import router

from .conftest import AISHELL

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(worker):
    app = FastAPI()
    app.state.worker = worker
    app.include_router(router)
    return TestClient(app)


def test_learn_page_and_practice_sentences(client):
    page = client.get("/learn")
    assert page.status_code == 200 and "MediaRecorder" in page.text
    sentences = client.get("/api/learn/sentences").json()
    hello = next(s for s in sentences if s["text"] == "你好。")
    assert hello["pinyin"] == "ní hǎo" and hello["level"] == "HSK1"


def test_uploaded_reading_is_scored_with_contour_cards(client):
    audio = (AISHELL / "audio" / "BAC009S0150W0121.flac").read_bytes()
    r = client.post(
        "/api/learn/assess",
        files={"file": ("reading.flac", audio)},
        data={"text": "其中有两个是内因的指标"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["assessment"]["scores"]["overall"] >= 80
    assert body["cards_html"].count("<svg") == 11


def test_silent_upload_and_bad_prompt_answer_422_with_the_reason(client):
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\0\0" * 32000)
    r = client.post(
        "/api/learn/assess", files={"file": ("s.wav", buf.getvalue())}, data={"text": "你好"}
    )
    assert r.status_code == 422 and "no speech heard" in r.json()["detail"]
    r = client.post(
        "/api/learn/assess", files={"file": ("s.wav", buf.getvalue())}, data={"text": "hello"}
    )
    assert r.status_code == 422 and "no Chinese" in r.json()["detail"]
