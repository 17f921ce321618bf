"""A room keeps its sound (issue 27): a real talk played into a room is served back as the
same signal on the captions' clock, seekable with `Range`, for the organizer only; a room
with `record: false` keeps none; a failing database stops the recording, never the
captions, and the console is told."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import text

from tingshuo.audio import opus
from tingshuo.audio.decode import load_audio

from .helpers import live_server, play, similarity, talk_wav

CLIPS = ["BAC009S0150W0212", "BAC009S0150W0287", "BAC009S0150W0121"]


@pytest.fixture(scope="module")
def server(worker, tmp_path_factory):
    with live_server(worker, tmp_path_factory.mktemp("recording")) as live:
        yield live


@pytest.fixture(scope="module")
def wav(aishell_rows, tmp_path_factory):
    return talk_wav(tmp_path_factory.mktemp("talk") / "talk.wav", CLIPS, aishell_rows)


@pytest.fixture(scope="module")
def played(server, wav):
    room = server.room(name="录音 Recorded")
    events = play(server, room, wav)
    finals = [m["segment"] for m in events if m["type"] == "final"]
    assert len(finals) >= 3
    return room, finals


def test_the_room_s_sound_is_what_was_played_on_the_captions_clock(server, wav, played):
    _, finals = played
    sid = finals[0]["session_id"]
    r = server.http.get(f"/api/sessions/{sid}/audio")
    assert r.status_code == 200 and r.headers["content-type"] == "audio/ogg"
    assert r.headers["accept-ranges"] == "bytes"
    talk, heard = load_audio(wav), opus.decode(r.content)
    assert abs(heard.size - talk.size) / 16000 < 1.0
    assert similarity(talk, heard) > 0.9
    duration = heard.size / 16000
    for caption in finals:
        assert 0 <= caption["start"] < caption["end"] <= duration + 0.05
        part = server.http.get(
            f"/api/sessions/{sid}/audio", params={"start": caption["start"], "end": caption["end"]}
        )
        assert part.status_code == 200, part.text
        said = opus.decode(part.content)
        assert abs(said.size / 16000 - (caption["end"] - caption["start"])) < 0.05
        # the stretch is that part of the talk, where the caption's words were said
        at, to = int(caption["start"] * 16000), int(caption["end"] * 16000)
        assert similarity(talk[at:to], said) > 0.9
        assert np.sqrt(np.mean(said**2)) > 0.01  # speech, not silence


def test_range_requests_let_a_browser_seek(server, played):
    sid = played[1][0]["session_id"]
    url = f"/api/sessions/{sid}/audio"
    whole = server.http.get(url).content
    size = len(whole)
    part = server.http.get(url, headers={"Range": "bytes=100-1099"})
    assert part.status_code == 206 and part.content == whole[100:1100]
    assert part.headers["content-range"] == f"bytes 100-1099/{size}"
    # a player seeking to the middle asks for the rest and finds the next Ogg page there
    rest = server.http.get(url, headers={"Range": f"bytes={size // 2}-"})
    assert rest.status_code == 206 and rest.content == whole[size // 2 :]
    assert b"OggS" in rest.content[:8000]
    tail = server.http.get(url, headers={"Range": "bytes=-500"})
    assert tail.status_code == 206 and tail.content == whole[-500:]
    beyond = server.http.get(url, headers={"Range": f"bytes={size}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{size}"


def test_bad_stretches_unknown_sessions_and_viewers_are_refused(server, played):
    room, finals = played
    sid = finals[0]["session_id"]
    url = f"/api/sessions/{sid}/audio"
    for params in ({"start": -1}, {"start": 3, "end": 2}, {"start": 1, "end": 9999}):
        bad = server.http.get(url, params=params)
        assert bad.status_code == 422 and "must lie in the sound" in bad.text, params
    assert server.http.get(url, params={"start": "soon"}).status_code == 422
    unknown = server.http.get("/api/sessions/ffffffffffffffff/audio")
    assert unknown.status_code == 404 and "no session" in unknown.text
    viewer = {"Authorization": f"Bearer {room['viewer_token']}"}
    assert server.http.get(url, headers=viewer).status_code == 403
    assert server.http.delete(f"/api/sessions/{sid}", headers=viewer).status_code == 403


def test_a_room_with_record_false_keeps_no_sound(server, wav):
    room = server.room(name="不录音 Off the record", record=False)
    assert room["record"] is False
    finals = [m["segment"] for m in play(server, room, wav) if m["type"] == "final"]
    sid = finals[0]["session_id"]
    missing = server.http.get(f"/api/sessions/{sid}/audio")
    assert missing.status_code == 404 and "recording was off" in missing.text
    with server.app.state.store.engine.connect() as conn:
        kept = conn.execute(
            text("SELECT count(*) FROM sound_chunks WHERE session_id = :s"), {"s": sid}
        )
        assert kept.scalar() == 0


def test_deleting_a_session_removes_its_captions_and_sound(server, played):
    room, finals = played
    sid = finals[0]["session_id"]
    assert server.http.delete(f"/api/sessions/{sid}").status_code == 204
    assert server.http.get(f"/api/sessions/{sid}").status_code == 404
    assert server.http.get(f"/api/sessions/{sid}/audio").status_code == 404
    assert server.http.get(f"/api/rooms/{room['id']}/segments").json() == []


def test_a_database_refusing_the_sound_stops_the_recording_not_the_captions(server, wav):
    room = server.room(name="满了 Full")
    store = server.app.state.store
    with store.engine.begin() as conn:  # the database refuses a third page, as a full disk does
        conn.exec_driver_sql(
            "CREATE TRIGGER full_disk BEFORE INSERT ON sound_chunks "
            "WHEN (SELECT count(*) FROM sound_chunks WHERE session_id = NEW.session_id) >= 2 "
            "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
        )
    try:
        events = play(server, room, wav)
    finally:
        with store.engine.begin() as conn:
            conn.exec_driver_sql("DROP TRIGGER full_disk")
    told = [i for i, m in enumerate(events) if m["type"] == "recording"]
    assert len(told) == 1 and "full" in events[told[0]]["message"]
    finals = [i for i, m in enumerate(events) if m["type"] == "final"]
    assert len(finals) >= 3 and finals[-1] > told[0]  # captions went on after it stopped
    sid = events[finals[0]]["segment"]["session_id"]
    kept = opus.decode(server.http.get(f"/api/sessions/{sid}/audio").content)
    assert abs(kept.size / 16000 - 4.0) < 0.1  # the two pages stored before it filled
