"""The HTTP server: health, file transcription, sessions, exports and search."""

from __future__ import annotations

import srt
from fastapi.testclient import TestClient

from tingshuo.audio.decode import NOT_AUDIO
from tingshuo.server.app import create_app
from tingshuo.settings import Settings

from .helpers import AISHELL


def test_health_transcribe_export_and_search(db_url, aishell_rows, tmp_path):
    app = create_app(Settings(database_url=db_url, token="secret"))
    row = aishell_rows[3]
    with TestClient(app, headers={"Authorization": "Bearer secret"}) as client:
        health = client.get("/health")
        assert health.status_code == 200 and health.json()["status"] == "ok"

        with (AISHELL / row["path"]).open("rb") as f:
            done = client.post(
                "/api/transcribe",
                files={"file": ("talk.flac", f, "audio/flac")},
                data={"lang": "zh", "hotwords": "科大讯飞, 讯飞听见"},
            )
        assert done.status_code == 200, done.text
        body = done.json()
        session = body["session"]["id"]
        assert body["segments"] and body["segments"][0]["end"] > body["segments"][0]["start"]
        assert body["session"]["hotwords"] == ["科大讯飞", "讯飞听见"]

        listed = client.get("/api/sessions").json()
        assert [s["id"] for s in listed] == [session]
        subs = list(srt.parse(client.get(f"/api/sessions/{session}/export?format=srt").text))
        assert subs[0].content == body["segments"][0]["text"]
        docx = client.get(f"/api/sessions/{session}/export?format=docx")
        assert docx.status_code == 200 and docx.content[:2] == b"PK"

        word = body["segments"][0]["text"][:2]
        hits = client.get("/api/search", params={"q": word}).json()
        assert hits and hits[0]["session"]["id"] == session

        bad = client.post("/api/transcribe", files={"file": ("x.wav", b"not audio", "audio/wav")})
        assert bad.status_code == 422 and NOT_AUDIO in bad.json()["detail"]
        assert client.get("/api/sessions/nope/export").status_code == 404
        assert client.get(f"/api/sessions/{session}/export?format=pdf").status_code == 422
        assert client.get("/health").status_code == 200  # still serving
        # transcripts are the organizer's: no token, no sessions
        assert client.get("/api/sessions", headers={"Authorization": ""}).status_code == 401
        assert (
            client.get("/api/search?q=x", headers={"Authorization": "Bearer no"}).status_code == 403
        )
