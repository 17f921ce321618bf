"""The store's schema by Alembic (issue 31): a database made by the first release's code (and
then by the last code before Alembic) keeps everything when today's code opens it; the models
and the migrations agree; processes starting at once on an empty database all come up; a
process started before its database waits for it, and one misconfigured says so in one line,
never with the password.

The PostgreSQL tests make a database of their own (TINGSHUO_TEST_POSTGRES_URL's server, whose
user may create databases) and drop it after.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from tingshuo.events import Segment
from tingshuo.store import schema
from tingshuo.store.db import Store

from .helpers import ORG, free_port

ROOT = Path(__file__).resolve().parents[1]
FIRST_RELEASE = "c17434e"  # the first commit with a store: sessions and their captions
BEFORE_ALEMBIC = "f69e828abe775b76b8edcd3aa01616fcb33f427e"  # the last schema by create_all

# run by the first release's code: a session with two speakers' captions and a translation
_FIRST_RELEASE_WRITES = """
import sys, tingshuo
from tingshuo.events import Segment
from tingshuo.store.db import Store
assert tingshuo.__file__.startswith(sys.argv[2]), tingshuo.__file__
store = Store(sys.argv[1])
s = store.create_session("第一次会议", source="meeting.wav", lang="zh", hotwords=["听说"])
a = store.add_segment(Segment(session_id=s.id, start=0.0, end=2.5, lang="zh",
                              text="大家好，欢迎参加会议。", speaker="SPEAKER_1"))
store.set_translation(a.id, "en", "Hello everyone, welcome to the meeting.")
store.add_segment(Segment(session_id=s.id, start=2.5, end=5.0, lang="zh",
                          text="我们先看议程。", speaker="SPEAKER_2"))
store.finish_session(s.id, "done", 5.0)
"""

# run by the last code before Alembic on the same database: a room, a corrected caption
# (revisions), a voice named by the organizer
_BEFORE_ALEMBIC_WRITES = """
import sys, tingshuo
from tingshuo.events import Segment
from tingshuo.store.db import Store
from tingshuo.store.records import SavedVoice
assert tingshuo.__file__.startswith(sys.argv[2]), tingshuo.__file__
store = Store(sys.argv[1])
room = store.create_room("主会场", "zh", ["en"])
s = store.create_session("发布会", source="push", lang="zh", targets=["en"], room_id=room.id)
seg = store.add_segment(Segment(session_id=s.id, start=0.0, end=3.0, lang="zh",
                                text="其中有两个是内阴的指标", speaker="Speaker 1"))
store.set_translation(seg.id, "en", "Two of them are internal indicators.")
store.correct_segment(seg.id, "其中有两个是内因的指标。", by="operator", editor="console-1")
store.save_voice(room.id, SavedVoice(position=0, name="Speaker 1", total=[0.25] * 4,
                                     utterances=3))
store.rename_speaker(room.id, "Speaker 1", "王主任")
store.finish_session(s.id, "done", 3.0)
print(room.id, seg.id)
"""


def old_code(commit: str, folder: Path) -> Path:
    """The package as it was at `commit`, from git history (skipped without it)."""
    if not shutil.which("git") or not (ROOT / ".git").exists():
        pytest.skip("needs the git history of tingshuo")
    found = subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", f"{commit}^{{commit}}"],
                           capture_output=True)  # fmt: skip
    if found.returncode != 0:
        pytest.skip(f"commit {commit} is not in this clone's history")
    folder.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "src/tingshuo"],
                             capture_output=True, check=True).stdout  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder / "src"


def run_old(code: Path, script: str, url: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(code)}
    done = subprocess.run([sys.executable, "-c", script, url, str(code)], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture
def pg_server() -> str:
    url = os.environ.get("TINGSHUO_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("no PostgreSQL server: set TINGSHUO_TEST_POSTGRES_URL (CI does)")
    return url


@pytest.fixture
def fresh_pg(pg_server) -> Iterator[str]:
    """An empty PostgreSQL database of this test's own."""
    with made_database(pg_server) as url:
        yield url


class made_database:
    """A new database on the server of `server_url`, dropped on leaving."""

    def __init__(self, server_url: str) -> None:
        self.name = f"tingshuo_mig_{secrets.token_hex(4)}"
        self.admin = create_engine(make_url(server_url).set(database="postgres"),
                                   isolation_level="AUTOCOMMIT")  # fmt: skip
        self.url = make_url(server_url).set(database=self.name).render_as_string(False)

    def create(self) -> None:
        with self.admin.connect() as db:
            db.execute(text(f"CREATE DATABASE {self.name}"))

    def __enter__(self) -> str:
        self.create()
        return self.url

    def __exit__(self, *_: object) -> None:
        with self.admin.connect() as db:
            db.execute(text(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)"))
        self.admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db(request, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tingshuo.db'}"
        return
    server = request.getfixturevalue("pg_server")
    with made_database(server) as url:
        yield url


def test_the_models_and_the_migrations_agree(empty_db):
    """What `alembic check` asks: nothing in the models that no migration makes."""
    store = Store(empty_db)
    assert schema.current(store.engine) == schema.head()
    assert schema.differences(store.engine) == []
    store.engine.dispose()


def test_a_first_release_database_keeps_everything(empty_db, tmp_path):
    run_old(old_code(FIRST_RELEASE, tmp_path / "first"), _FIRST_RELEASE_WRITES, empty_db)
    engine = create_engine(empty_db)
    assert "alembic_version" not in inspect(engine).get_table_names()
    engine.dispose()

    store = Store(empty_db)
    check_first_release_data(store)
    assert schema.current(store.engine) == schema.head()
    # what it lacked was made as a new database has it (columns NOT NULL with their default)
    assert schema.differences(store.engine) == []
    # today's writes go on beside the old ones
    [old] = store.list_sessions()
    later = store.add_segment(
        Segment(session_id=old.id, start=5.0, end=6.0, lang="zh", text="谢谢。")
    )
    assert later.id > max(s.id for s in store.segments(old.id) if s.id != later.id)
    store.engine.dispose()
    assert schema.upgrade(Store(empty_db).engine) is False  # the next start finds it at head


def test_a_database_from_before_alembic_keeps_everything(empty_db, tmp_path):
    """Made by the first release, then used by the last code before Alembic (which added its
    columns and tables its own way): every session, caption, revision and speaker name."""
    run_old(old_code(FIRST_RELEASE, tmp_path / "first"), _FIRST_RELEASE_WRITES, empty_db)
    printed = run_old(old_code(BEFORE_ALEMBIC, tmp_path / "last"), _BEFORE_ALEMBIC_WRITES,
                      empty_db)  # fmt: skip
    room_id, segment_id = printed.split()

    store = Store(empty_db)
    assert schema.current(store.engine) == schema.head()
    check_first_release_data(store)
    [session] = store.room_sessions(room_id)
    assert (session.title, session.status, session.targets, session.segments) == (
        "发布会", "done", ["en"], 1)  # fmt: skip
    [caption] = store.segments(session.id)
    assert caption.id == int(segment_id)
    assert (caption.text, caption.original, caption.revision) == (
        "其中有两个是内因的指标。", "其中有两个是内阴的指标", 1)  # fmt: skip
    assert caption.speaker == "王主任"
    assert caption.translations == {"en": "Two of them are internal indicators."}
    revisions = store.revisions(caption.id)
    assert [(r.revision, r.text, r.by, r.editor) for r in revisions] == [
        (0, "其中有两个是内阴的指标", "machine", None),
        (1, "其中有两个是内因的指标。", "operator", "console-1"),
    ]
    [voice] = store.voices(room_id)
    assert (voice.name, voice.utterances, voice.total) == ("王主任", 3, [0.25] * 4)
    assert "王主任" in [s.name for s in store.speakers(room_id)]
    assert store.get_room(room_id).name == "主会场"
    # a correction by today's code on an old caption
    assert store.correct_segment(caption.id, "其中两个是内因的指标。").segment.revision == 2
    store.engine.dispose()


def check_first_release_data(store: Store) -> None:
    first = next(s for s in store.list_sessions() if s.title == "第一次会议")
    assert (first.source, first.lang, first.hotwords, first.status, first.duration) == (
        "meeting.wav", "zh", ["听说"], "done", 5.0)  # fmt: skip
    assert (first.targets, first.segments) == ([], 2)
    captions = store.segments(first.id)
    assert [(c.text, c.speaker) for c in captions] == [
        ("大家好，欢迎参加会议。", "SPEAKER_1"),
        ("我们先看议程。", "SPEAKER_2"),
    ]
    assert captions[0].translations == {"en": "Hello everyone, welcome to the meeting."}
    assert [(c.revision, c.original, c.source) for c in captions] == [(0, None, None)] * 2
    assert [h.segment.text for h in store.search("议程")] == ["我们先看议程。"]


# a process that only opens the store, at the same instant as its siblings
_OPENS_AT_ONCE = """
import sys
from tingshuo.store.db import Store
from tingshuo.store import schema
print("ready", flush=True)
sys.stdin.readline()
store = Store(sys.argv[1])
print(schema.current(store.engine))
"""


def start_at_once(url: str, count: int) -> list[subprocess.CompletedProcess]:
    """`count` processes open the store at once, once each has imported what it needs."""
    procs = [subprocess.Popen([sys.executable, "-c", _OPENS_AT_ONCE, url], text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for _ in range(count)]  # fmt: skip
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    done = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return done


@pytest.mark.parametrize("rounds", [2])
def test_processes_opening_an_empty_postgres_database_at_once_all_come_up(pg_server, rounds):
    for _ in range(rounds):
        with made_database(pg_server) as url:
            done = start_at_once(url, 6)
            assert [p.returncode for p in done] == [0] * 6, [p.stderr[-800:] for p in done]
            assert {p.stdout.strip() for p in done} == {schema.head()}
            engine = create_engine(url)
            assert schema.differences(engine) == []
            engine.dispose()


def test_processes_opening_a_new_sqlite_database_at_once_all_come_up(tmp_path):
    # eight: a process that found the new file locked while switching it to WAL failed now
    # and then with four (once in a full suite run), 6 of 120 times with eight
    url = f"sqlite:///{tmp_path / 'tingshuo.db'}"
    done = start_at_once(url, 8)
    assert [p.returncode for p in done] == [0] * 8, [p.stderr[-800:] for p in done]
    assert {p.stdout.strip() for p in done} == {schema.head()}


def test_db_current_and_upgrade(cli, db_url):
    before = cli("db", "current")
    assert before.returncode == 0 and ": none (" in before.stdout, before.stderr
    upgraded = cli("db", "upgrade")
    assert upgraded.returncode == 0 and f"upgraded from none to {schema.head()}" in upgraded.stderr
    after = cli("db", "current")
    assert f"{db_url}: {schema.head()} (this tingshuo's)" in after.stdout


# -- start in any order


class LateListener(threading.Thread):
    """A port that starts listening when told to, then forwards to PostgreSQL: a database
    server that comes up after the process that needs it."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        super().__init__(daemon=True)
        self.upstream = upstream
        self.port = free_port()
        self.opened = threading.Event()

    def run(self) -> None:
        self.opened.wait()
        with socket.create_server(("127.0.0.1", self.port)) as server:
            while True:
                client, _ = server.accept()
                upstream = socket.create_connection(self.upstream)
                for a, b in ((client, upstream), (upstream, client)):
                    threading.Thread(target=_pipe, args=(a, b), daemon=True).start()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    if not shutil.which("redis-server"):
        pytest.skip("needs redis-server (CI has it)")
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--save", "",
                             "--appendonly", "no"], stdout=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 10
    while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
        assert time.monotonic() < deadline, "redis-server did not start"
        time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(10)


def _tingshuo(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tingshuo", *args], env={**os.environ, **env},
                            stdout=subprocess.DEVNULL, stderr=log.open("wb"))  # fmt: skip


def test_a_gateway_started_before_its_database_waits_for_it(fresh_pg, redis_url, tmp_path):
    db = make_url(fresh_pg)
    late = LateListener((db.host or "127.0.0.1", db.port or 5432))
    late.start()
    url = db.set(host="127.0.0.1", port=late.port).render_as_string(False)
    port, log = free_port(), tmp_path / "gateway.log"
    env = {"TINGSHUO_DATABASE_URL": url, "TINGSHUO_BUS_URL": redis_url, "COLUMNS": "300"}
    gateway = _tingshuo(["serve", "--port", str(port), "--token", ORG], env, log)
    try:
        deadline = time.monotonic() + 60
        while "not up yet" not in log.read_text():
            assert gateway.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        time.sleep(1.5)  # a try or two more while it waits
        assert gateway.poll() is None, log.read_text()
        late.opened.set()
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert gateway.poll() is None, log.read_text()
            assert time.monotonic() < deadline + 60, log.read_text()
            time.sleep(0.2)
    finally:
        gateway.terminate()
        gateway.wait(30)
    said = log.read_text()
    assert said.count("not up yet") == 1 and said.count("is up (after") == 1, said
    assert f":{db.password}@" not in said
    engine = create_engine(fresh_pg)
    assert schema.current(engine) == schema.head()
    engine.dispose()


@pytest.mark.parametrize(
    "command, change",
    [(["worker"], {"password": "Wr0ng-s3cret-pw"}), (["serve"], {"database": "no_such_db_x"})],
    ids=["wrong password", "unknown database"],
)
def test_a_misconfigured_database_exits_at_once_in_one_line(
    pg_server, redis_url, tmp_path, command, change
):
    url = make_url(pg_server).set(**change)
    env = {"TINGSHUO_DATABASE_URL": url.render_as_string(False), "TINGSHUO_BUS_URL": redis_url,
           "COLUMNS": "300"}  # fmt: skip
    log = tmp_path / "process.log"
    began = time.monotonic()
    proc = _tingshuo([*command, "--port", str(free_port())] if command == ["serve"] else command,
                     env, log)  # fmt: skip
    assert proc.wait(60) == 1
    assert time.monotonic() - began < 30
    said = log.read_text()
    errors = [line for line in said.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in said, said
    assert url.render_as_string(hide_password=True) in errors[0]
    assert ("password authentication failed" if "password" in change else "does not exist") in said
    assert f":{make_url(pg_server).password}@" not in said and "Wr0ng-s3cret-pw" not in said
