"""Items 4 and 5: the database goes away in the middle of a live room and comes back.

A SQLite file locked by another program, a PostgreSQL server restarted with `pg_ctlcluster`,
and a full disk (a small tmpfs). In each, a viewer connected throughout sees every caption as
it is spoken, with its id; a viewer who joins during the outage catches up from memory; the
room's viewers are told in plain words that captions are not being saved, and when they are
again; no SQL reaches anyone; the room ends `done`; and afterwards the store holds every
caption that was shown. A server killed while writes wait leaves them in its journal, and the
next process writes them in.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.sync.client import connect

from tingshuo.events import Segment
from tingshuo.store.db import Store
from tingshuo.store.pending import BufferedStore

from ..helpers import Viewer, ended, live_server, talk_wav

pytestmark = pytest.mark.slow

CLIPS = [
    "BAC009S0150W0212",
    "BAC009S0150W0287",
    "BAC009S0150W0121",
    "BAC009S0150W0126",
    "BAC009S0150W0130",
    "BAC009S0150W0131",
]
OUTAGE_S = 8.0
# what must never reach a page: database words
SQL_WORDS = ("sqlite", "psycopg", "operationalerror", "locked", "sql", "connection refused")


def talk(aishell_rows, path: Path) -> None:
    talk_wav(path, CLIPS, aishell_rows)


def catch_up(url: str) -> list[dict]:
    """What a phone that connects now is given before live events."""
    out = []
    with connect(url, open_timeout=30) as ws:
        while True:
            m = json.loads(ws.recv(timeout=30))
            if m["type"] == "caught_up":
                return out
            if m["type"] == "final":
                out.append(m["segment"])


def run_through_outage(live, outage, wav: Path) -> None:
    room = live.room(name="hall")
    url = f"{live.ws}/ws/rooms/{room['id']}/events?token={room['viewer_token']}"
    viewer = Viewer(url, ended, seconds=180)
    assert viewer.ready.wait(30)
    with wav.open("rb") as f:
        r = live.http.post(
            f"/api/rooms/{room['id']}/start/file",
            files={"file": ("talk.wav", f, "audio/wav")},
            data={"speed": "2"},
            timeout=120,
        )
    assert r.status_code == 200, r.text
    deadline = time.monotonic() + 60
    while not viewer.finals() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert viewer.finals(), "no caption before the outage"
    with outage():
        t0 = time.monotonic()
        before = len(viewer.finals())
        while len(viewer.finals()) < before + 2 and time.monotonic() - t0 < OUTAGE_S - 3:
            time.sleep(0.1)
        # a phone that joins during the outage catches up on everything shown so far
        shown = viewer.finals()
        late = catch_up(url)
        assert [s["text"] for s in late[: len(shown)]] == [s["text"] for s in shown]
        # the writer finds the database away at its next attempt (a busy timeout later)
        until = time.monotonic() + 5
        while (health := live.http.get("/health").json())["status"] != "degraded":
            if time.monotonic() > until:
                break
            time.sleep(0.1)
        assert health["status"] == "degraded" and health["store_waiting"] > 0
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - t0)))
        during = len(viewer.finals()) - before
    viewer.join(120)
    assert not viewer.is_alive()
    finals = viewer.finals()
    assert during >= 2, "captions stopped during the outage"
    assert len(finals) >= len(CLIPS) - 1
    ids = [s["id"] for s in finals]
    assert None not in ids and ids == sorted(set(ids))
    # told in plain words: not saved, then saved again with nothing waiting
    notes = [m for m in viewer.events if m["type"] == "store"]
    assert any(not m["saving"] and m["waiting"] > 0 for m in notes), notes
    assert notes[-1]["saving"] and notes[-1]["waiting"] == 0
    for m in viewer.events:
        text = json.dumps(m, ensure_ascii=False).lower()
        if m["type"] in ("state", "store", "lag"):
            assert not any(w in text for w in SQL_WORDS), m
    assert viewer.events[-1]["status"] == "done"
    # the store holds every caption that was shown, as it was shown
    stored = live.http.get(f"/api/rooms/{room['id']}/segments").json()
    assert [(s["id"], s["text"]) for s in stored] == [(s["id"], s["text"]) for s in finals]
    [session] = live.http.get(f"/api/rooms/{room['id']}/sessions").json()
    assert session["status"] == "done"
    assert live.http.get("/health").json()["status"] == "ok"


@pytest.fixture(scope="module")
def wav(aishell_rows, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("talk") / "talk.wav"
    talk(aishell_rows, path)
    return path


def test_a_locked_sqlite_file(worker, tmp_path, wav):
    db = tmp_path / "tingshuo.db"

    @contextlib.contextmanager
    def locked() -> Iterator[None]:
        # another program holds the file's write lock (in WAL mode reads still get through;
        # the PostgreSQL case below takes reads away too)
        other = sqlite3.connect(db, timeout=30)
        other.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            other.close()

    with live_server(worker, tmp_path, store_busy_timeout_s=0.5) as live:
        run_through_outage(live, locked, wav)


def test_a_postgresql_restart(worker, tmp_path, wav):
    url = os.environ.get("TINGSHUO_TEST_POSTGRES_URL")
    if not url or not shutil.which("pg_ctlcluster") or os.geteuid() != 0:
        pytest.skip("needs a local PostgreSQL cluster that this user can stop (CI has one)")
    clusters = subprocess.run(
        ["pg_lsclusters", "-h"], capture_output=True, text=True, check=True
    ).stdout.split()
    version, name = clusters[0], clusters[1]

    @contextlib.contextmanager
    def restarted() -> Iterator[None]:
        subprocess.run(["pg_ctlcluster", version, name, "stop", "-m", "fast"], check=True)
        try:
            yield
        finally:
            subprocess.run(["pg_ctlcluster", version, name, "start"], check=True)

    with live_server(worker, tmp_path, database_url=url) as live:
        run_through_outage(live, restarted, wav)


def test_a_full_disk(worker, tmp_path, wav):
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        filler = disk / "filler"

        @contextlib.contextmanager
        def full() -> Iterator[None]:
            with filler.open("wb", buffering=0) as f:  # every free byte of the disk
                with contextlib.suppress(OSError):
                    while True:
                        f.write(b"\0" * 4096)
            try:
                yield
            finally:
                filler.unlink()

        with live_server(worker, disk, store_busy_timeout_s=0.5) as live:
            run_through_outage(live, full, wav)
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


_DIES_WHILE_LOCKED = """
import os, sys
from tingshuo.events import Segment
from tingshuo.store.pending import BufferedStore
store = BufferedStore(sys.argv[1], busy_timeout_s=0.2)
session = sys.argv[2]
print("ready", flush=True)
sys.stdin.readline()  # the database is locked now
def line(i):
    return Segment(session_id=session, start=i, end=i + 1, lang="zh", text=f"第{i}句")
ids = [store.add_segment(line(i)).id for i in range(5)]
store.set_translation(ids[0], "en", "sentence 0")
print(store.waiting, flush=True)
os.kill(os.getpid(), 9)
"""


def test_writes_left_by_a_killed_server_are_written_by_the_next(tmp_path):
    url = f"sqlite:///{tmp_path / 'tingshuo.db'}"
    store = Store(url)
    session = store.create_session("会议")
    store.engine.dispose()
    child = subprocess.Popen(
        [sys.executable, "-c", _DIES_WHILE_LOCKED, url, session.id],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdin is not None
    assert child.stdout.readline().strip() == "ready"
    other = sqlite3.connect(tmp_path / "tingshuo.db")
    other.execute("BEGIN EXCLUSIVE")  # no write gets through while the server runs
    child.stdin.write("go\n")
    child.stdin.flush()
    out, err = child.communicate(timeout=120)
    other.close()
    assert child.returncode == -9 and int(out.split()[0]) == 6, err
    assert Store(url).segments(session.id) == []
    journals = list((tmp_path / "tingshuo.db.pending").glob("pending-*.jsonl"))
    assert len(journals) == 1 and len(journals[0].read_text().splitlines()) == 6
    after = BufferedStore(url)
    try:
        assert after.flush(10)
        stored = Store(url).segments(session.id)
        assert [s.text for s in stored] == [f"第{i}句" for i in range(5)]
        assert stored[0].translations == {"en": "sentence 0"}
        assert not journals[0].exists()
        # the next caption's id follows the ones the killed server gave out
        last = Segment(session_id=session.id, start=9, end=10, lang="zh", text="完")
        nxt = after.add_segment(last)
        assert nxt.id > max(s.id for s in stored)
    finally:
        after.close()


def test_a_room_started_while_postgresql_is_stopped(worker, tmp_path, aishell_rows):
    """The console starts a room during the outage: its session is journaled like its
    captions, the phone sees every caption live, and all of it is stored once the database
    is back."""
    from ..helpers import audio_url, by_id, speech, stream

    url = os.environ.get("TINGSHUO_TEST_POSTGRES_URL")
    if not url or not shutil.which("pg_ctlcluster") or os.geteuid() != 0:
        pytest.skip("needs a local PostgreSQL cluster that this user can stop (CI has one)")
    version, name = subprocess.run(
        ["pg_lsclusters", "-h"], capture_output=True, text=True, check=True
    ).stdout.split()[:2]
    rows = by_id(aishell_rows)
    audio = speech([rows[u] for u in CLIPS[:3]])
    with live_server(worker, tmp_path, database_url=url) as live:
        room = live.room(name="hall")
        events = f"{live.ws}/ws/rooms/{room['id']}/events?token={room['viewer_token']}"
        viewer = Viewer(events, ended, seconds=120)
        assert viewer.ready.wait(30)
        subprocess.run(["pg_ctlcluster", version, name, "stop", "-m", "fast"], check=True)
        try:
            with connect(audio_url(live, room), open_timeout=30) as ws:
                ws.send(json.dumps({"type": "start", "sample_rate": 16000}))
                assert json.loads(ws.recv(timeout=60))["type"] == "ready"
                stream(ws, audio, speed=2)
                ws.send(json.dumps({"type": "stop"}))
                assert json.loads(ws.recv(timeout=60))["type"] == "stopped"
            viewer.join(60)
            shown = viewer.finals()
            assert len(shown) >= len(CLIPS[:3]) - 1 and all(s["id"] for s in shown)
        finally:
            subprocess.run(["pg_ctlcluster", version, name, "start"], check=True)
        deadline = time.monotonic() + 60
        while live.http.get("/health").json()["store_waiting"] and time.monotonic() < deadline:
            time.sleep(0.5)
        stored = Store(url).room_segments(room["id"])
        assert [(s.id, s.text) for s in stored] == [(s["id"], s["text"]) for s in shown]
        [session] = live.http.get(f"/api/rooms/{room['id']}/sessions").json()
        assert session["status"] == "done" and session["segments"] == len(shown)


def test_a_session_started_while_the_file_is_locked_is_stored_with_its_room(tmp_path):
    """A session created while the database refuses writes is journaled, then written with
    its room once the database takes writes again (model-free)."""
    db = tmp_path / "tingshuo.db"
    store = BufferedStore(f"sqlite:///{db}", busy_timeout_s=0.2)
    room = store.create_room("hall", "zh", [], [], [])
    other = sqlite3.connect(db, timeout=30)
    other.execute("BEGIN EXCLUSIVE")
    try:
        info = store.create_session("during the lock", room_id=room.id)
    finally:
        other.close()
    store.add_segment(Segment(session_id=info.id, start=0, end=1, lang="zh", text="大家好。"))
    deadline = time.monotonic() + 20
    while store.waiting and time.monotonic() < deadline:
        time.sleep(0.1)
    stored = Store(f"sqlite:///{db}").get_session(info.id)
    assert stored.room_id == room.id and stored.segments == 1 and stored.retranscribe is None
    store.close()
