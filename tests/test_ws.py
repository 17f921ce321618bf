"""The room WebSockets on a real uvicorn server: real AISHELL audio in, captions out."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from pathlib import Path

import av
import numpy as np
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tingshuo.asr.scoring import cer
from tingshuo.audio.decode import load_audio
from tingshuo.events import Partial
from tingshuo.server.app import create_app
from tingshuo.settings import Settings

from .helpers import AISHELL, ORG, LiveServer, Viewer, audio_url, by_id, events_url, speech, stream

CLIPS = ["BAC009S0150W0212", "BAC009S0150W0287"]  # 国家扶持的行业 · 依旧是根本停不下来


def test_audio_in_gives_partials_then_finals_in_order_and_a_viewer_catches_up(server, aishell_rows):
    rows = [by_id(aishell_rows)[u] for u in CLIPS]
    room = server.room()
    everything = Viewer(events_url(server, room))
    dropped = Viewer(events_url(server, room), until=lambda m: m.get("type") == "final")
    everything.connected.wait(10)
    dropped.connected.wait(10)
    with connect(audio_url(server, room)) as ws:
        ws.send(json.dumps({"type": "start", "sample_rate": 16000}))
        ready = json.loads(ws.recv(timeout=10))
        assert ready["type"] == "ready" and ready["state"] == "live"
        stream(ws, speech(rows), speed=1.0)
        ws.send(json.dumps({"type": "stop"}))
        assert json.loads(ws.recv(timeout=30))["type"] == "stopped"
    everything.join(60)
    dropped.join(60)

    events = everything.events
    kinds = [m["type"] for m in events]
    assert kinds[:2] == ["hello", "caught_up"] and kinds[-1] == "state"
    live = [m for m in events if "seq" in m and m["type"] != "hello"]
    seqs = [m["seq"] for m in live]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # no gap, no duplicate
    finals = everything.finals()
    assert len(finals) == len(rows)
    for row, seg in zip(rows, finals, strict=True):
        assert cer([row["reference_text"]], [seg["text"]]) < 0.35, (row["reference_text"], seg)
    # every utterance was drafted before it was final, and drafts never come after their final
    for final in (m for m in events if m["type"] == "final"):
        drafts = [
            m for m in events if m["type"] == "partial" and m["utterance"] == final["utterance"]
        ]
        assert drafts, [(m["type"], m.get("utterance"), m.get("stable")) for m in events]
        assert events.index(drafts[-1]) < events.index(final)

    stored = server.http.get(f"/api/rooms/{room['id']}/segments").json()
    assert [s["id"] for s in stored] == [s["id"] for s in finals]

    # the viewer that left after the first final comes back: the rest, once each
    first = dropped.finals()
    assert len(first) == 1
    back = Viewer(
        events_url(server, room, since=first[0]["id"]), until=lambda m: m["type"] == "caught_up"
    )
    back.join(30)
    again = back.finals()
    assert all(m.get("replay") for m in back.events if m["type"] == "final")
    assert [s["id"] for s in first + again] == [s["id"] for s in stored]


def test_audio_at_another_rate_is_resampled(server, aishell_rows):
    row = by_id(aishell_rows)["BAC009S0252W0239"]  # 为落实新基金法
    audio = speech([row], gap_s=1.5)
    # the recording at 44.1 kHz, as a browser or sound card might send it
    resampler = av.AudioResampler(format="s16", layout="mono", rate=44100)
    frame = av.AudioFrame.from_ndarray(
        (audio * 32767).astype(np.int16).reshape(1, -1), format="s16", layout="mono"
    )
    frame.sample_rate = 16000
    at44 = np.concatenate([f.to_ndarray().reshape(-1) for f in resampler.resample(frame)])
    room = server.room()
    viewer = Viewer(events_url(server, room))
    viewer.connected.wait(10)
    with connect(audio_url(server, room)) as ws:
        ws.send(json.dumps({"type": "start", "sample_rate": 44100}))
        assert json.loads(ws.recv(timeout=10))["sample_rate"] == 44100
        stream(ws, at44.astype(np.float32) / 32768, rate=44100, speed=0)
    viewer.join(60)  # the sender left: what it sent is transcribed, then the room goes idle
    finals = viewer.finals()
    assert len(finals) == 1 and cer([row["reference_text"]], [finals[0]["text"]]) < 0.3


def _closed(url: str, *messages) -> tuple[int, str]:
    with connect(url) as ws:
        try:
            for m in messages:
                ws.send(m)
            while True:
                ws.recv(timeout=20)
        except ConnectionClosed as e:
            return e.rcvd.code, e.rcvd.reason
    raise AssertionError("not closed")


def test_bad_input_closes_that_socket_with_a_reason_and_other_rooms_go_on(server, aishell_rows):
    row = by_id(aishell_rows)["BAC009S0252W0204"]  # 采取相应的监管措施
    good = server.room()
    viewer = Viewer(events_url(server, good))
    viewer.connected.wait(10)
    sender = connect(audio_url(server, good))
    sender.send(json.dumps({"type": "start"}))
    sender.recv(timeout=10)
    audio = speech([row], gap_s=1.5)
    half = audio.size // 2
    stream(sender, audio[:half], speed=0)

    bad = server.room()
    flac = (AISHELL / row["path"]).read_bytes()
    cases = [
        ((b"\x01\x02\x03",), 1003, "odd number of bytes"),
        ((flac[:4000],), 1003, "not an encoded file"),
        ((b"\0" * (300 * 1024),), 1009, "over the limit"),
        (("hello?",), 4400, "JSON command"),
        ((json.dumps({"type": "start", "sample_rate": 1_000_000}),), 4400, "sample_rate"),
        ((json.dumps({"type": "dance"}),), 4400, "unknown"),
    ]
    for messages, code, reason in cases:
        got = _closed(audio_url(server, bad), *messages)
        assert got[0] == code and reason in got[1], (messages[0][:20], got)
        assert server.http.get(f"/api/rooms/{bad['id']}").json()["state"] == "idle"

    assert _closed(audio_url(server, bad, token="wrong"))[0] == 4403
    assert _closed(f"{server.ws}/ws/rooms/{bad['id']}/audio")[0] == 4401
    assert _closed(audio_url(server, {"id": "no-such-room"}))[0] == 4404
    assert _closed(events_url(server, bad, token="wrong"))[0] == 4403
    assert _closed(events_url(server, {"id": "nope", "viewer_token": "x"}))[0] == 4404
    # a second sender for a room that already listens is refused, the first goes on
    assert _closed(audio_url(server, good), b"\0\0" * 1600)[0] == 4409

    stream(sender, audio[half:], speed=0)
    sender.close()
    viewer.join(60)
    finals = viewer.finals()
    assert len(finals) == 1 and cer([row["reference_text"]], [finals[0]["text"]]) < 0.3


def test_file_played_as_live_from_rest_reaches_viewers(server, aishell_rows):
    row = by_id(aishell_rows)["BAC009S0252W0193"]  # 相比传统的基金公司
    room = server.room()
    viewer = Viewer(events_url(server, room))
    viewer.connected.wait(10)
    path = AISHELL / row["path"]
    with Path(path).open("rb") as f:
        r = server.http.post(
            f"/api/rooms/{room['id']}/start/file",
            files={"file": ("talk.flac", f, "audio/flac")},
            data={"speed": "4"},
        )
    assert r.status_code == 200 and r.json()["state"] == "live" and r.json()["source"] == "file"
    again = server.http.post(
        f"/api/rooms/{room['id']}/start/file", files={"file": ("x.flac", path.read_bytes())}
    )
    assert again.status_code == 409 and "already listening" in again.json()["detail"]
    viewer.join(60)
    finals = viewer.finals()
    assert len(finals) == 1 and cer([row["reference_text"]], [finals[0]["text"]]) < 0.3
    states = [m["state"] for m in viewer.events if m["type"] == "state"]
    assert states == ["live", "idle"]
    sessions = server.http.get(f"/api/rooms/{room['id']}/sessions").json()
    assert len(sessions) == 1 and sessions[0]["status"] == "done"
    assert sessions[0]["source"] == "talk.flac"


def test_pause_drops_audio_and_makes_what_was_said_final(server, aishell_rows):
    said, dropped, after = (
        by_id(aishell_rows)[u] for u in ["BAC009S0150W0237", "BAC009S0252W0140", "BAC009S0150W0295"]
    )  # 接近住建部的人士透露 · (中指院监测数据显示, while paused) · 推动该公司利润增长
    room = server.room()
    viewer = Viewer(events_url(server, room))
    viewer.connected.wait(10)

    def send(ws, row, gap_s: float) -> None:
        audio = load_audio(AISHELL / row["path"])
        if gap_s:
            audio = np.concatenate([audio, np.zeros(int(gap_s * 16000), dtype=np.float32)])
        stream(ws, audio, speed=0)
        ws.send(json.dumps({"type": "ping"}))  # answered once every frame before it is in
        assert json.loads(ws.recv(timeout=30))["type"] == "pong"

    with connect(audio_url(server, room)) as ws:
        ws.send(json.dumps({"type": "start"}))
        ws.recv(timeout=10)
        send(ws, said, gap_s=0)  # no pause after the words: the pause itself ends them
        assert server.http.post(f"/api/rooms/{room['id']}/pause").json()["state"] == "paused"
        send(ws, dropped, gap_s=1)
        assert server.http.post(f"/api/rooms/{room['id']}/resume").json()["state"] == "live"
        send(ws, after, gap_s=1)
        ws.send(json.dumps({"type": "stop"}))
        ws.recv(timeout=60)
    viewer.join(60)
    states = [m["state"] for m in viewer.events if m["type"] == "state"]
    assert states == ["live", "paused", "live", "idle"]
    finals = viewer.finals()
    assert len(finals) == 2, finals
    for row, seg in zip([said, after], finals, strict=True):
        assert cer([row["reference_text"]], [seg["text"]]) < 0.3, (row, seg)


def test_a_room_with_a_target_language_sends_stored_translations(server, aishell_rows):
    row = by_id(aishell_rows)["BAC009S0150W0154"]  # 万达 …
    room = server.room(targets=["en"], glossary="万达,Wanda")
    viewer = Viewer(events_url(server, room))
    viewer.connected.wait(10)
    with connect(audio_url(server, room)) as ws:
        stream(ws, speech([row], gap_s=1.5), speed=0)
    viewer.join(120)
    kinds = [
        m["type"] + (" so far" if m.get("partial") else "")
        for m in viewer.events
        if m["type"] in ("final", "translation")
    ]
    # the words as the model writes them, then the whole translation
    assert kinds[0] == "final" and kinds[-1] == "translation"
    assert set(kinds[1:-1]) == {"translation so far"}
    final = viewer.finals()[0]
    translation = next(
        m for m in viewer.events if m["type"] == "translation" and not m.get("partial")
    )
    assert translation["segment_id"] == final["id"] and translation["lang"] == "en"
    assert "Wanda" in translation["text"] and not re.search("[\u4e00-\u9fff]", translation["text"])
    stored = server.http.get(f"/api/rooms/{room['id']}/segments").json()
    assert stored[0]["translations"] == {"en": translation["text"]}
    # a late viewer gets the caption with its translation in the replay
    late = Viewer(events_url(server, room), until=lambda m: m["type"] == "caught_up")
    late.join(30)
    assert late.finals()[0]["translations"] == {"en": translation["text"]}


def test_a_viewer_that_never_reads_is_dropped_and_the_others_get_everything(worker, tmp_path):
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'slow.db'}", token=ORG, viewer_queue_size=200
    )
    with LiveServer(create_app(settings, worker=worker), settings) as live:
        room = live.room()
        total = 1000
        reader = Viewer(events_url(live, room), until=lambda m: m.get("utterance") == total - 1)
        # this one stops reading after its first message, behind a small receive window,
        # so the server's socket buffers fill after a few megabytes
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.connect(("127.0.0.1", live.port))
        sleeper = connect(events_url(live, room), sock=raw, max_queue=1)
        reader.connected.wait(10)
        rooms = live.app.state.rooms
        while live.app.state.bus.subscribers(room["id"]) < 2:
            time.sleep(0.05)
        page = "字" * 4000  # 12 kB an event, 12 MB in all
        for n in range(total):
            rooms.publish(
                room["id"],
                Partial(utterance=n, start=0, end=1, lang="zh", stable=page, unstable=""),
            )
            if n % 5 == 4:
                time.sleep(0.01)  # a fast speaker, not a flood in one loop iteration
        reader.join(60)
        notes = [m["utterance"] for m in reader.events if m["type"] == "partial"]
        assert notes == list(range(total))
        assert live.app.state.bus.subscribers(room["id"]) == 1  # the sleeper was let go
        sleeper.close_timeout = 1
        sleeper.close()


def test_two_rooms_at_once_each_get_their_own_captions(server, aishell_rows):
    rows = by_id(aishell_rows)
    talks = [
        [rows["BAC009S0252W0171"], rows["BAC009S0252W0252"]],  # 记者在楼盘现场就看到 · 随着…
        [rows["BAC009S0150W0126"], rows["BAC009S0252W0204"]],  # 一点五倍以上是安全的 · 采取…
    ]
    rooms = [server.room(), server.room()]
    viewers = [Viewer(events_url(server, room)) for room in rooms]
    for v in viewers:
        v.connected.wait(10)

    def speak(room: dict, talk: list[dict]) -> None:
        with connect(audio_url(server, room)) as ws:
            stream(ws, speech(talk), speed=1.0)

    speakers = [
        threading.Thread(target=speak, args=pair) for pair in zip(rooms, talks, strict=True)
    ]
    for s in speakers:
        s.start()
    for s in speakers:
        s.join(60)
    for viewer, talk in zip(viewers, talks, strict=True):
        viewer.join(60)
        finals = viewer.finals()
        assert len(finals) == 2, finals
        for row, seg in zip(talk, finals, strict=True):
            assert cer([row["reference_text"]], [seg["text"]]) < 0.3, (row, seg)
        assert any(m["type"] == "partial" for m in viewer.events)
