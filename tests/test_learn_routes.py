"""The learner page and its API, on a minimal app with the shared recognizer."""

from __future__ import annotations

import io
import wave

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tingshuo.live.models import Models
from tingshuo.server.api_learn import router
from tingshuo.settings import Settings

from .helpers import AISHELL

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(worker):
    app = FastAPI()
    app.state.models = Models(Settings(), worker)  # as `tingshuo serve` holds them
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


def test_the_sentence_is_read_aloud_by_the_mandarin_voice(client, worker, tmp_path):
    """'Hear it': tingshuo's own voice, which its recognizer reads back."""
    from tingshuo.asr.base import Request
    from tingshuo.asr.scoring import cer
    from tingshuo.audio.decode import load_audio

    r = client.get("/api/learn/speak", params={"text": "今天天气很好。"})
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
    wav = tmp_path / "hear.wav"
    wav.write_bytes(r.content)
    audio = load_audio(wav)
    assert 0.8 < audio.size / 16_000 < 5
    heard = worker.recognizer.recognize(Request(audio, "zh")).text
    assert cer(["今天天气很好"], [heard]) <= 0.2

    bad = client.get("/api/learn/speak", params={"text": "😀"})
    assert bad.status_code == 422 and bad.json()["detail"]
