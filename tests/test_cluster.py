"""Distributed mode (issue 13): two gateways (`tingshuo serve` with TINGSHUO_BUS_URL) and two
workers (`tingshuo worker`) as subprocesses on loopback, sharing a Redis server and a
PostgreSQL database, as an event with several halls would run them.

Needs Debian's redis-server and a PostgreSQL URL (TINGSHUO_TEST_POSTGRES_URL); CI has both.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from benchmarks.rolling_restart import redis_server
from tingshuo.asr.scoring import cer

from .helpers import ORG, Viewer, by_id, ended, events_url, free_port, talk_wav

pytestmark = pytest.mark.slow

CLIPS = [
    "BAC009S0150W0212",
    "BAC009S0150W0287",
    "BAC009S0150W0121",
    "BAC009S0150W0126",
    "BAC009S0150W0130",
    "BAC009S0150W0131",
]


class Process:
    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("ab") as out:  # every line kept: a test reads them all
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tingshuo", *args], env=env, stdout=out, stderr=out
            )

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


class Gateway(Process):
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws = f"ws://127.0.0.1:{self.port}"
        super().__init__(["serve", "--port", str(self.port), "--token", ORG], env, log)
        self.http = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {ORG}"},
                                 timeout=60)  # fmt: skip
        deadline = time.monotonic() + 120
        while True:
            try:
                if self.http.get("/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert self.proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    url = os.environ.get("TINGSHUO_TEST_POSTGRES_URL")
    if not url or not shutil.which("redis-server"):
        pytest.skip("needs redis-server and TINGSHUO_TEST_POSTGRES_URL (CI has both)")
    folder = tmp_path_factory.mktemp("cluster")
    port = free_port()
    redis = [redis_server(port)]
    env = {
        **os.environ,
        "TINGSHUO_DATABASE_URL": url,
        "TINGSHUO_BUS_URL": f"redis://127.0.0.1:{port}/0",
        "TINGSHUO_WORKER_LEASE_S": "3",
        "OMP_WAIT_POLICY": "PASSIVE",
    }
    procs: list[Process] = []
    workers: list[Process] = []
    try:
        workers = [Process(["-v", "worker", "--rooms", "2"], env, folder / f"w{i}.log")
                   for i in range(2)]  # fmt: skip
        procs += workers
        gateways = [Gateway(env, folder / f"g{i}.log") for i in range(2)]
        procs += gateways
        yield {"workers": workers, "gateways": gateways, "env": env, "folder": folder,
               "redis": port, "redis_server": redis}  # fmt: skip
    finally:
        for p in procs + workers:  # (workers started in a dead one's place too)
            p.stop()
        redis[0].terminate()
        redis[0].wait(10)


@pytest.fixture(scope="module")
def talk(aishell_rows, tmp_path_factory) -> Path:
    return talk_wav(tmp_path_factory.mktemp("talk") / "talk.wav", CLIPS, aishell_rows)


def start_file(gateway: Gateway, room: dict, talk: Path, speed: float) -> None:
    with talk.open("rb") as f:
        r = gateway.http.post(
            f"/api/rooms/{room['id']}/start/file",
            files={"file": ("talk.wav", f, "audio/wav")},
            data={"speed": str(speed)},
        )
    assert r.status_code == 200, r.text


def reference(aishell_rows) -> list[str]:
    rows = by_id(aishell_rows)
    return [rows[u]["reference_text"] for u in CLIPS]


def test_a_rooms_captions_reach_viewers_on_both_gateways_in_order(cluster, talk, aishell_rows):
    a, b = cluster["gateways"]
    room = a.http.post("/api/rooms", json={"name": "hall 1", "lang": "zh"}).json()
    viewers = [Viewer(events_url(g, room), ended) for g in (a, b)]
    for v in viewers:
        assert v.ready.wait(30)
    start_file(a, room, talk, speed=2)
    for v in viewers:
        v.join(180)
    seen = [[(s["id"], s["text"]) for s in v.finals()] for v in viewers]
    assert seen[0] == seen[1] and len(seen[0]) == len(CLIPS)
    assert [s[0] for s in seen[0]] == sorted(s[0] for s in seen[0])
    assert cer(reference(aishell_rows), [t for _, t in seen[0]]) < 0.15
    for v in viewers:  # numbered without a gap, whichever process published
        seqs = [m["seq"] for m in v.events if "seq" in m and m["type"] != "hello"]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    stored = b.http.get(f"/api/rooms/{room['id']}/segments").json()
    assert [(s["id"], s["text"]) for s in stored] == seen[0]
    assert b.http.get(f"/api/rooms/{room['id']}").json()["state"] == "idle"


def test_a_correction_on_one_gateway_reaches_viewers_on_the_other(cluster):
    """Corrections and rules go through the shared store and Redis like captions do."""
    from websockets.sync.client import connect

    from tingshuo.events import Segment
    from tingshuo.store.db import Store

    a, b = cluster["gateways"]
    room = a.http.post("/api/rooms", json={"name": "hall 3", "lang": "zh"}).json()
    store = Store(cluster["env"]["TINGSHUO_DATABASE_URL"])
    session = store.create_session("talk", lang="zh", room_id=room["id"])
    seg = store.add_segment(
        Segment(session_id=session.id, start=0, end=2, lang="zh", text="我们去请凉寺。")
    )
    with connect(events_url(b, room), open_timeout=30) as ws:
        while json.loads(ws.recv(timeout=30))["type"] != "caught_up":
            pass
        r = a.http.patch(
            f"/api/rooms/{room['id']}/segments/{seg.id}", json={"text": "我们去清凉寺。"}
        )
        assert r.status_code == 200, r.text
        while (m := json.loads(ws.recv(timeout=30)))["type"] != "correction":
            pass
    assert (m["segment_id"], m["text"], m["revision"]) == (seg.id, "我们去清凉寺。", 1)
    assert (
        b.http.put(f"/api/rooms/{room['id']}/rules", json={"rules": "请凉 => 清凉"}).status_code
        == 200
    )
    assert a.http.get(f"/api/rooms/{room['id']}/rules").json()["rules"] == "请凉 => 清凉\n"


def test_a_correction_on_one_gateway_stops_a_workers_late_translation_of_the_old_text(
    cluster, talk
):
    """The worker translates the room's first caption; a gateway corrects it meanwhile. The
    worker's translation of the old text is neither shown after the correction nor stored:
    only the corrected text's translation is."""
    from websockets.sync.client import connect

    a, b = cluster["gateways"]
    room = a.http.post(
        "/api/rooms", json={"name": "hall 5", "lang": "zh", "targets": ["en"]}
    ).json()
    new_text = "我们今天讨论香蕉。"
    seen: list[dict] = []
    corrected: int | None = None
    with connect(events_url(b, room), open_timeout=30) as ws:
        while json.loads(ws.recv(timeout=30))["type"] != "caught_up":
            pass
        start_file(a, room, talk, speed=1)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            m = json.loads(ws.recv(timeout=240))
            seen.append(m)
            if m["type"] == "final" and corrected is None:
                corrected = m["segment"]["id"]
                url = f"/api/rooms/{room['id']}/segments/{corrected}"
                # 404 until the worker's write-behind store has put the caption in the database
                for _ in range(100):
                    r = a.http.patch(url, json={"text": new_text})
                    if r.status_code != 404:
                        break
                    time.sleep(0.05)
                assert r.status_code == 200, r.text
                a.http.post(f"/api/rooms/{room['id']}/stop")
            after = [e for e in seen if e["type"] == "correction"]
            if after and ended_seen(seen) and complete(seen, corrected, since=after[0]):
                break
        time.sleep(3)  # anything later would come now
        while True:
            try:
                seen.append(json.loads(ws.recv(timeout=0.5)))
            except TimeoutError:
                break
    correction = next(e for e in seen if e["type"] == "correction")
    assert correction["text"] == new_text
    late = complete(seen, corrected, since=correction)
    assert len(late) == 1 and "banana" in late[0]["text"].lower(), late
    stored = b.http.get(f"/api/rooms/{room['id']}/segments").json()
    [caption] = [s for s in stored if s["id"] == corrected]
    assert caption["text"] == new_text and caption["translations"]["en"] == late[0]["text"]


def test_a_correction_through_another_process_drops_a_late_translation(db_url, settings):
    """What the cluster test above relies on, without processes or timing luck: a worker's
    caption path (its room shared: `id_floor`) is translating a caption when another
    process's store corrects it. The old text's translation is neither stored nor shown,
    drafts aside; an uncorrected caption's translation is both."""
    from tingshuo.events import Final, Segment, Translation
    from tingshuo.live.captions import CaptionPath
    from tingshuo.mt import TranslationWorker, load_translator
    from tingshuo.store.db import open_store
    from tingshuo.store.pending import open_buffered_store

    # a worker writes through its write-behind store; the gateway corrects in the database
    worker_store = open_buffered_store(settings.model_copy(update={"database_url": db_url}))
    gateway_store = open_store(db_url)
    session = worker_store.create_session("talk", lang="zh", targets=["en"])
    shown: list = []
    with TranslationWorker(load_translator(settings, "qwen2.5-0.5b"), settings) as translator:
        path = CaptionPath(worker_store, translator, ["en"], id_floor=lambda: 0)
        texts = ["各位来宾，今天的大会将讨论城市交通、住房和教育三个方面的问题。", "谢谢大家。"]
        finals = [
            path.commit(
                Final(
                    utterance=n,
                    segment=Segment(
                        session_id=session.id, start=n, end=n + 1, lang="zh", text=text
                    ),
                ),  # fmt: skip
                shown.append,
            )
            for n, text in enumerate(texts[:1])
        ]
        assert worker_store.flush(10)  # in the database, where the gateway finds it
        corrected = gateway_store.correct_segment(finals[0].segment.id, "各位来宾，欢迎。")
        assert corrected is not None and corrected.segment.revision == 1
        path.wait(120)
        finals.append(
            path.commit(
                Final(
                    utterance=1,
                    segment=Segment(
                        session_id=session.id, start=1, end=2, lang="zh", text=texts[1]
                    ),
                ),  # fmt: skip
                shown.append,
            )
        )
        path.wait(120)
    worker_store.close()
    first, second = (f.segment.id for f in finals)
    done = [e for e in shown if isinstance(e, Translation) and not e.partial]
    assert [e.segment_id for e in done if not e.skipped] == [second]
    stored = {s.id: s for s in gateway_store.segments(session.id)}
    assert "en" not in stored[first].translations and stored[second].translations["en"]


def ended_seen(events: list[dict]) -> bool:
    return any(ended(e) for e in events)


def complete(events: list[dict], segment_id: int | None, since: dict) -> list[dict]:
    """The complete translations of a caption published after the event `since`."""
    later = events[events.index(since) + 1 :]
    return [
        e
        for e in later
        if e["type"] == "translation"
        and e.get("segment_id") == segment_id
        and not e.get("partial")
        and not e.get("skipped")
    ]


def test_the_original_sound_is_relayed_by_a_gateway_that_does_not_take_the_audio(cluster, talk):
    """'Original' listening with workers: gateway b relays what gateway a takes, from the
    room's audio stream in Redis."""
    import io

    import av
    import numpy as np

    a, b = cluster["gateways"]
    room = a.http.post("/api/rooms", json={"name": "hall 4", "lang": "zh"}).json()
    got = [b""]
    done = threading.Event()

    def listen() -> None:
        url = f"{b.url}/api/rooms/{room['id']}/original.mp3"
        with httpx.stream("GET", url, params={"token": room["viewer_token"]}, timeout=30) as r:
            assert r.status_code == 200 and r.headers["content-type"] == "audio/mpeg"
            for chunk in r.iter_bytes():
                got[0] += chunk
                if done.is_set():
                    return

    listener = threading.Thread(target=listen)
    listener.start()
    time.sleep(1.0)
    start_file(a, room, talk, speed=1)
    time.sleep(6.0)
    done.set()
    listener.join(30)
    a.http.post(f"/api/rooms/{room['id']}/stop")
    with av.open(io.BytesIO(got[0])) as f:
        heard = np.concatenate([fr.to_ndarray().reshape(-1) for fr in f.decode(audio=0)])
    assert np.abs(heard).max() > 0.05  # the talk came through, not silence
    assert heard.size / 16000 < 10  # live: about as long as the time listened


def test_a_worker_killed_mid_file_is_taken_over(cluster, talk, aishell_rows):
    import redis

    a, b = cluster["gateways"]
    room = a.http.post("/api/rooms", json={"name": "hall 2", "lang": "zh"}).json()
    viewer = Viewer(events_url(b, room), ended)
    assert viewer.ready.wait(30)
    start_file(a, room, talk, speed=1.5)
    deadline = time.monotonic() + 60
    while len(viewer.finals()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(viewer.finals()) == 2
    bus = redis.Redis(port=cluster["redis"])
    holder = bus.get(f"tingshuo:room:{room['id']}:lease").decode()
    [victim] = [w for w in cluster["workers"] if f"-{w.proc.pid}-" in holder]
    victim.kill()
    killed_at = time.monotonic()
    before = len(viewer.finals())
    while len(viewer.finals()) == before and time.monotonic() - killed_at < 30:
        time.sleep(0.05)
    assert time.monotonic() - killed_at < 10, "no caption within 10 s of the kill"
    viewer.join(180)
    shown = viewer.finals()
    stored = a.http.get(f"/api/rooms/{room['id']}/segments").json()
    # every caption once, in order, as shown; the text of an undisturbed run
    assert [(s["id"], s["text"]) for s in stored] == [(s["id"], s["text"]) for s in shown]
    assert len(stored) == len(CLIPS)
    assert all(x["end"] <= y["start"] + 0.05 for x, y in zip(stored, stored[1:], strict=False))
    assert cer(reference(aishell_rows), [s["text"] for s in stored]) < 0.15
    [session] = a.http.get(f"/api/rooms/{room['id']}/sessions").json()
    assert session["status"] == "done"
    # a worker in the victim's place, for what follows
    cluster["workers"].remove(victim)
    cluster["workers"].append(
        Process(["-v", "worker", "--rooms", "2"], cluster["env"], cluster["folder"] / "w2.log")
    )


def test_viewers_of_a_killed_gateway_catch_up_on_the_other(cluster, talk):
    a, b = cluster["gateways"]
    room = a.http.post("/api/rooms", json={"name": "hall 3", "lang": "zh"}).json()
    first = Viewer(events_url(b, room), ended)
    assert first.ready.wait(30)
    start_file(a, room, talk, speed=2)
    deadline = time.monotonic() + 60
    while len(first.finals()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    b.kill()
    first.join(10)
    got = first.finals()
    assert len(got) >= 2
    # the phone reconnects, to the gateway still up, from the last caption it has
    second = Viewer(events_url(a, room, since=got[-1]["id"]), ended)
    second.join(180)
    shown = got + second.finals()
    stored = a.http.get(f"/api/rooms/{room['id']}/segments").json()
    assert [s["id"] for s in shown] == [s["id"] for s in stored]  # no gap, no duplicate
    assert len(stored) == len(CLIPS)


def test_captions_resume_after_a_redis_restart(cluster, talk, aishell_rows):
    a = cluster["gateways"][0]
    room = a.http.post("/api/rooms", json={"name": "hall 4", "lang": "zh"}).json()
    viewer = Viewer(events_url(a, room), ended)
    assert viewer.ready.wait(30)
    start_file(a, room, talk, speed=1.5)
    deadline = time.monotonic() + 60
    while len(viewer.finals()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    # Redis restarts (without persistence: every stream, lease and counter is gone)
    server = cluster["redis_server"]
    server[0].terminate()
    server[0].wait(10)
    time.sleep(3)
    server[0] = redis_server(cluster["redis"])
    viewer.join(180)
    notices = [m["ok"] for m in viewer.events if m["type"] == "bus"]
    assert notices[:1] == [False] and notices[-1] is True  # the console was told
    shown = viewer.finals()
    stored = a.http.get(f"/api/rooms/{room['id']}/segments").json()
    assert [s["id"] for s in stored] == sorted({s["id"] for s in stored})
    assert len(stored) == len(CLIPS)  # the audio waited at the gateway: nothing was lost
    assert cer(reference(aishell_rows), [s["text"] for s in stored]) < 0.15
    assert {s["id"] for s in shown} <= {s["id"] for s in stored}
    assert viewer.events[-1]["status"] == "done"


def test_a_room_no_worker_takes_is_reported_on_its_console(tmp_path, talk):
    url = os.environ.get("TINGSHUO_TEST_POSTGRES_URL")
    if not url or not shutil.which("redis-server"):
        pytest.skip("needs redis-server and TINGSHUO_TEST_POSTGRES_URL (CI has both)")
    port = free_port()
    server = redis_server(port)
    env = {
        **os.environ,
        "TINGSHUO_DATABASE_URL": url,
        "TINGSHUO_BUS_URL": f"redis://127.0.0.1:{port}/0",
    }
    gateway = Gateway(env, tmp_path / "g.log")  # and no worker at all
    try:
        room = gateway.http.post("/api/rooms", json={"name": "hall 5", "lang": "zh"}).json()
        viewer = Viewer(events_url(gateway, room), ended)
        assert viewer.ready.wait(30)
        start_file(gateway, room, talk, speed=1)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            errors = [m.get("error", "") for m in list(viewer.events) if m["type"] == "state"]
            if any("no recognizer free" in e for e in errors):
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"the console was not told: {viewer.events}")
        assert gateway.http.post(f"/api/rooms/{room['id']}/stop").status_code == 200
        viewer.join(20)
        assert viewer.events[-1]["state"] == "idle"
        assert gateway.http.get(f"/api/rooms/{room['id']}").json()["state"] == "idle"
    finally:
        gateway.stop()
        server.terminate()
        server.wait(10)


def test_a_gateways_viewer_sockets_never_call_redis_on_the_event_loop(tmp_path, monkeypatch):
    """Every blocking Redis command a gateway sends while phones connect and watch is sent
    from a thread of the pool, never from the event loop (where one slow Redis reply would
    hold every socket of the gateway)."""
    import asyncio

    import redis.connection
    from websockets.sync.client import connect

    from .helpers import live_server

    if not shutil.which("redis-server"):
        pytest.skip("needs redis-server")
    on_loop: list[bytes] = []
    sent = redis.connection.Connection.send_packed_command

    def watched(self, command, *args, **kwargs):
        try:
            asyncio.get_running_loop()
            on_loop.append(bytes(command[0] if isinstance(command, list) else command)[:60])
        except RuntimeError:
            pass  # no loop runs in this thread: a worker thread of the pool, or the publisher
        return sent(self, command, *args, **kwargs)

    monkeypatch.setattr(redis.connection.Connection, "send_packed_command", watched)
    port = free_port()
    server = redis_server(port)
    try:
        with live_server(None, tmp_path, bus_url=f"redis://127.0.0.1:{port}/0") as gateway:
            room = gateway.room(name="hall")
            phones = [connect(events_url(gateway, room), open_timeout=30) for _ in range(3)]
            for ws in phones:
                while json.loads(ws.recv(timeout=30))["type"] != "caught_up":
                    pass
            gateway.http.post(f"/api/rooms/{room['id']}/pause")  # a command, through Redis
            for ws in phones:
                ws.close()
        assert on_loop == [], on_loop
    finally:
        server.terminate()
        server.wait(10)


def test_no_token_or_key_is_in_any_log_of_the_cluster(cluster):
    """After the module's cluster tests: every line its gateways and workers printed
    (access logs, logging, errors) holds no organizer token, viewer token or stage key
    (tests/test_no_secrets.py does the same with passwords on Redis and PostgreSQL)."""
    gateway = next(g for g in cluster["gateways"] if g.proc.poll() is None)
    rooms = gateway.http.get("/api/rooms").json()
    hidden = [ORG, *(r["viewer_token"] for r in rooms)]
    hidden += [r["links"]["stage"].rpartition("stage=")[2] for r in rooms]
    logs = {p.name: p.read_text(errors="replace") for p in cluster["folder"].glob("*.log")}
    assert logs and rooms
    for name, text in logs.items():
        for secret in hidden:
            assert secret not in text, f"{name}: {text[max(text.find(secret) - 300, 0) :][:500]}"


def test_a_room_started_while_the_database_is_away_runs_on_a_worker(cluster, aishell_rows):
    """The gateway journals the session and writes it into the room's run; the worker that
    claims the room takes it from there (journaling it too, ahead of its captions): the phone
    sees the captions live, and all are stored once PostgreSQL is back."""
    from websockets.sync.client import connect

    from tingshuo.store.db import Store

    from .helpers import audio_url, speech, stream

    if not shutil.which("pg_ctlcluster") or os.geteuid() != 0:
        pytest.skip("needs a local PostgreSQL cluster that this user can stop (CI has one)")
    version, name = subprocess.run(
        ["pg_lsclusters", "-h"], capture_output=True, text=True, check=True
    ).stdout.split()[:2]
    # (a gateway still up: an earlier test kills one)
    gateway = next(g for g in cluster["gateways"] if g.proc.poll() is None)
    room = gateway.http.post("/api/rooms", json={"name": "hall 6", "lang": "zh"}).json()
    viewer = Viewer(events_url(gateway, room), ended)  # the gateway reads the room now
    assert viewer.ready.wait(30)
    rows = by_id(aishell_rows)
    subprocess.run(["pg_ctlcluster", version, name, "stop", "-m", "fast"], check=True)
    try:
        with connect(audio_url(gateway, room), open_timeout=30) as ws:
            ws.send(json.dumps({"type": "start", "sample_rate": 16000}))
            assert json.loads(ws.recv(timeout=60))["type"] == "ready"
            stream(ws, speech([rows[u] for u in CLIPS[:3]]), speed=1.5)
            ws.send(json.dumps({"type": "stop"}))
            assert json.loads(ws.recv(timeout=60))["type"] == "stopped"
        viewer.join(90)
    finally:
        subprocess.run(["pg_ctlcluster", version, name, "start"], check=True)
    shown = viewer.finals()
    assert len(shown) >= 2 and viewer.events[-1]["status"] == "done"
    store = Store(cluster["env"]["TINGSHUO_DATABASE_URL"])
    deadline = time.monotonic() + 60
    while len(stored := store.room_segments(room["id"])) < len(shown):
        assert time.monotonic() < deadline, "the captions were not stored"
        time.sleep(0.5)
    assert [(s.id, s.text) for s in stored] == [(s["id"], s["text"]) for s in shown]
    [session] = store.room_sessions(room["id"])
    assert session.segments == len(shown)
