"""Item 6: a long Mandarin line without punctuation, with the real Mandarin voice: the
learner's "hear it" and an anchor cue both speak it, and the cue enters the transcript."""

from __future__ import annotations

import io
import wave

import pytest
from fastapi.testclient import TestClient

from tingshuo.server.app import create_app
from tingshuo.settings import Settings
from tingshuo.tts.base import split_sentences

from ..helpers import AUTH, ORG

# 150 characters, no punctuation: past the acoustic model's 2048 mel frames in one go (a
# 500 before the fix)
LINE = (
    "今天我们在这里召开会议讨论明年的发展计划以及各个部门需要完成的主要任务和具体的时间安排"
    "希望大家积极参与共同努力把各项工作落到实处为公司的长远发展打下坚实的基础同时也要注意安全生产"
    "和环境保护的要求做到责任明确分工合理确保每一个环节都有专人负责"
    "并且在每个月底之前向管理层提交详细的工作报告以便及时发现问题并加以解决"
)[:150]


def test_the_line_is_cut_between_words():
    pieces = split_sentences(LINE)
    assert len(LINE) == 150
    assert "".join(pieces) == LINE and [len(p) for p in pieces] == [76, 74]
    assert pieces[0].endswith("坚实")  # at a word boundary (jieba's words), near the middle


@pytest.fixture(scope="module")
def client(worker, tmp_path_factory):
    folder = tmp_path_factory.mktemp("long-line")
    settings = Settings(
        database_url=f"sqlite:///{folder / 'db.sqlite'}", token=ORG, tts_disk_cache=False
    )
    with TestClient(create_app(settings, worker=worker)) as c:
        yield c


def test_learn_speak_reads_the_whole_line(client):
    r = client.get("/api/learn/speak", params={"text": LINE})
    assert r.status_code == 200, r.text
    with wave.open(io.BytesIO(r.content)) as w:
        seconds = w.getnframes() / w.getframerate()
    assert 25 < seconds < 45  # about 0.2 s a character at the hall pace


def test_an_anchor_cue_of_the_line_answers_and_enters_the_transcript(client):
    room = client.post("/api/rooms", json={"name": "hall", "lang": "zh"}, headers=AUTH).json()
    base = f"/api/rooms/{room['id']}/anchor"
    rundown = f"languages: [zh]\nsegments:\n  - say: {LINE}\n  - pause: 1\n"
    assert client.put(f"{base}/rundown", json={"text": rundown}, headers=AUTH).status_code == 200
    cue = client.post(f"{base}/next", headers=AUTH)
    assert cue.status_code == 200, cue.text
    assert cue.json()["error"] is None and cue.json()["caption"]["text"] == LINE
    said = client.get(f"{base}/say", params={"index": 0, "lang": "zh"}, headers=AUTH).json()
    assert len(said["units"]) == 150 and said["duration"] > 25
    stored = client.get(f"/api/rooms/{room['id']}/segments", headers=AUTH).json()
    assert [s["text"] for s in stored] == [LINE]
