"""A session's sound read again at full quality (issue 27): a real talk played into a
translated room, one caption corrected by an operator and a rule added afterwards; reading it
again keeps the operator's caption, gives the others the new text as a revision (the live
text stays in the history and in `--original`), translates the changed ones again, and tells
the room's pages; its state and progress are in `GET /api/sessions/{id}`."""

from __future__ import annotations

import time

import pytest

from tingshuo.asr.scoring import cer
from tingshuo.errors import TingshuoError
from tingshuo.live.retranscription import Busy, check

from .helpers import ORG, Viewer, by_id, events_url, live_server, play, talk_wav

CLIPS = ["BAC009S0150W0212", "BAC009S0150W0287", "BAC009S0150W0121"]


@pytest.fixture(scope="module")
def server(worker, tmp_path_factory):
    with live_server(worker, tmp_path_factory.mktemp("retranscribe")) as live:
        yield live


@pytest.fixture(scope="module")
def wav(aishell_rows, tmp_path_factory):
    return talk_wav(tmp_path_factory.mktemp("talk") / "talk.wav", CLIPS, aishell_rows)


def wait_done(server, sid: str, seconds: float = 240) -> tuple[dict, list[float]]:
    """The session once its reading again has ended, and the progress seen on the way."""
    seen: list[float] = []
    deadline = time.monotonic() + seconds
    while True:
        got = server.http.get(f"/api/sessions/{sid}").json()
        state = got["session"]["retranscribe"]
        seen.append(state["progress"])
        if state["state"] != "running":
            return got, seen
        assert time.monotonic() < deadline, state
        time.sleep(0.2)


@pytest.fixture(scope="module")
def reread(server, wav, aishell_rows):
    """The room played, corrected, ruled and read again: what each step left."""
    room = server.room(name="重听 Read again", targets=["en"])
    finals = [m["segment"] for m in play(server, room, wav) if m["type"] == "final"]
    assert len(finals) >= 3
    sid = finals[0]["session_id"]
    live = server.http.get(f"/api/sessions/{sid}").json()
    assert live["session"]["retranscribe"] is None
    live_segments = live["segments"]
    fixed = live_segments[0]
    r = server.http.patch(
        f"/api/rooms/{room['id']}/segments/{fixed['id']}", json={"text": "国家扶持的产业。"}
    )
    assert r.status_code == 200, r.text
    # a rule added after the event: the reading again writes it
    r = server.http.post(
        f"/api/rooms/{room['id']}/rules", json={"wrong": "根本", "right": "根本上"}
    )
    assert r.status_code == 200, r.text
    console = Viewer(
        events_url(server, room, token=ORG),
        until=lambda m: False,  # read until the socket is let go
        seconds=240,
    )
    console.ready.wait(10)
    r = server.http.post(f"/api/sessions/{sid}/retranscribe")
    assert r.status_code == 202, r.text
    assert r.json()["retranscribe"]["state"] == "running"
    again = server.http.post(f"/api/sessions/{sid}/retranscribe")
    assert again.status_code == 409 and "already being read again" in again.text
    done, progress = wait_done(server, sid)
    time.sleep(1)  # the last events reach the socket
    references = by_id(aishell_rows)
    return {
        "room": room,
        "sid": sid,
        "live": live_segments,
        "fixed": fixed,
        "done": done,
        "progress": progress,
        "events": list(console.events),
        "reference": "".join(references[c]["reference_text"] for c in CLIPS),
    }


def test_reading_again_keeps_the_operators_caption_and_revises_the_others(server, reread):
    done = reread["done"]
    state = done["session"]["retranscribe"]
    assert state["state"] == "done" and state["progress"] == 1.0, state
    assert state["kept"] == 1 and state["changed"] >= 1, state
    assert all(0 <= p <= 1 for p in reread["progress"])
    assert reread["progress"] == sorted(reread["progress"])  # it only goes forward
    by_segment = {s["id"]: s for s in done["segments"]}
    # the same captions, at the same times, with the same ids
    assert [(s["id"], s["start"], s["end"]) for s in reread["live"]] == [
        (s["id"], s["start"], s["end"]) for s in done["segments"]
    ]
    assert by_segment[reread["fixed"]["id"]]["text"] == "国家扶持的产业。"
    ruled = [s for s in done["segments"] if "根本上" in s["text"]]
    assert len(ruled) == 1, done["segments"]
    room = reread["room"]
    history = server.http.get(f"/api/rooms/{room['id']}/segments/{ruled[0]['id']}/revisions")
    texts = history.json()
    live_text = next(s["text"] for s in reread["live"] if s["id"] == ruled[0]["id"])
    assert texts[0]["by"] == "machine" and texts[0]["text"] == live_text
    assert texts[-1]["by"] == "reread" and texts[-1]["text"] == ruled[0]["text"]
    # the whole transcript reads well: the reference's characters, nearly all
    assert cer([reread["reference"]], ["".join(s["text"] for s in done["segments"])]) < 0.2
    # and each caption holds what was said in its own time (the whole sound was transcribed
    # again and its words given out by time): near its live text, never a neighbour's
    live = {s["id"]: s["text"] for s in reread["live"]}
    for s in done["segments"]:
        assert s["text"] and cer([live[s["id"]]], [s["text"]]) < 0.5, (live[s["id"]], s["text"])


def test_exports_read_the_new_text_and_original_the_live_one(server, reread):
    sid = reread["sid"]
    now = server.http.get(f"/api/sessions/{sid}/export", params={"format": "txt"}).text
    assert "根本上" in now and "国家扶持的产业。" in now
    original = server.http.get(
        f"/api/sessions/{sid}/export", params={"format": "txt", "original": True}
    ).text
    for caption in reread["live"]:
        assert caption["text"] in original
    assert "根本上" not in original


def test_changed_captions_are_translated_again_and_the_pages_told(reread):
    events = reread["events"]
    corrections = [m for m in events if m["type"] == "correction" and m["by"] == "reread"]
    assert corrections and all(m["session_id"] == reread["sid"] for m in corrections)
    changed = {m["segment_id"] for m in corrections}
    assert reread["done"]["session"]["retranscribe"]["changed"] == len(changed)
    translated = {
        m["segment_id"]
        for m in events
        if m["type"] == "translation" and m["lang"] == "en" and not m.get("partial")
    }
    assert changed <= translated
    stored = {s["id"]: s for s in reread["done"]["segments"]}
    for m in events:
        if m["type"] == "translation" and m["segment_id"] in changed and not m.get("partial"):
            assert stored[m["segment_id"]]["translations"]["en"] == m["text"]
    # the operator's caption was not touched, nor translated again
    assert reread["fixed"]["id"] not in changed


def test_sessions_without_sound_or_unknown_are_refused(server, wav):
    room = server.room(name="不录音 Off the record", record=False)
    finals = [m["segment"] for m in play(server, room, wav) if m["type"] == "final"]
    sid = finals[0]["session_id"]
    missing = server.http.post(f"/api/sessions/{sid}/retranscribe")
    assert missing.status_code == 404 and "recording was off" in missing.text
    unknown = server.http.post("/api/sessions/ffffffffffffffff/retranscribe")
    assert unknown.status_code == 404 and "no session" in unknown.text
    viewer = {"Authorization": f"Bearer {room['viewer_token']}"}
    assert server.http.post(f"/api/sessions/{sid}/retranscribe", headers=viewer).status_code == 403


def test_a_live_session_is_not_read_again(server, reread):
    info = server.app.state.store.get_session(reread["sid"]).model_copy(update={"status": "live"})
    with pytest.raises(Busy, match="is live: stop its room first") as refused:
        check(info)
    assert isinstance(refused.value, TingshuoError) and refused.value.status == 409
