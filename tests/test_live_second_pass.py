"""The second pass in a live room, as shipped (on): a final is read again with the beam's
other readings that the recognizer handed on, corrected as a `correction` by the model, and
translated again; the room's `lag` notices and /health say whether the pass keeps up."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import AISHELL, Viewer, by_id, events_url, live_server

# 首先从居民部门利息保障倍数来看: the live final mishears 倍数 (保障背属), another reading of its
# beam has it right
CLIP = "BAC009S0150W0136"


@pytest.fixture(scope="module")
def server(worker, tmp_path_factory):
    with live_server(worker, tmp_path_factory.mktemp("second-pass"), second_pass=True) as live:
        yield live


def test_a_live_final_is_put_right_from_its_beam_and_translated_again(server, aishell_rows):
    room = server.room(targets=["en"])
    corrected = []

    def done(m: dict) -> bool:
        # the correction's new translation is the last thing to come
        if m.get("type") == "correction":
            corrected.append(m["segment_id"])
        return (
            m.get("type") == "translation"
            and not m.get("partial")
            and m["segment_id"] in (corrected)
        )

    viewer = Viewer(events_url(server, room), done, seconds=300)
    viewer.connected.wait(10)
    path = Path(AISHELL / by_id(aishell_rows)[CLIP]["path"])
    with path.open("rb") as f:
        r = server.http.post(
            f"/api/rooms/{room['id']}/start/file",
            files={"file": ("talk.flac", f, "audio/flac")},
            data={"speed": "1"},
        )
    assert r.status_code == 200
    viewer.join(300)
    events = viewer.events
    final = next(m for m in events if m["type"] == "final")
    assert "alternatives" not in final  # the readings stay on the server
    assert "倍数" not in final["segment"]["text"]
    correction = next(m for m in events if m["type"] == "correction")
    assert correction["segment_id"] == final["segment"]["id"] and correction["by"] == "model"
    assert "保障倍数" in correction["text"]
    translations = [m for m in events if m["type"] == "translation" and not m.get("partial")]
    assert [t["segment_id"] for t in translations] == [final["segment"]["id"]] * 2
    # stored: the corrected text, with the recognizer's in its history
    sid = final["segment"]["session_id"]
    stored = server.http.get(f"/api/sessions/{sid}").json()["segments"]
    assert len(stored) == 1 and stored[0]["text"] == correction["text"]
    assert stored[0]["translations"]["en"] == translations[-1]["text"]
    health = server.http.get("/health").json()["second_pass"]
    assert health["reviewed"] >= 1 and health["changed"] >= 1 and health["keeping_up"] is True
    lags = [m for m in events if m["type"] == "lag"]
    assert lags and {m["second_pass"] for m in lags} <= {"keeping up"}
