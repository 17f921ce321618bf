"""Rooms from a network stream (issue 28): Debian's ffmpeg serves real Mandarin as a live
MPEG-TS stream over HTTP on loopback (`-re`: paced at 1×; `-listen 1`: one client); the room
captions it, lives through the stream's drop and return, and refuses what is not a stream."""

from __future__ import annotations

import http.server
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tingshuo.asr.scoring import cer
from tingshuo.audio.stream import host_allowed

from .helpers import Viewer, by_id, ended, events_url, free_port, talk_wav

pytestmark = pytest.mark.slow

BEFORE = ["BAC009S0150W0121", "BAC009S0150W0122"]  # the drop comes in the second one
AFTER = ["BAC009S0150W0138", "BAC009S0150W0144"]

needs_ffmpeg = pytest.mark.skipif(not shutil.which("ffmpeg"), reason="needs Debian's ffmpeg")


def listening(port: int) -> bool:
    """Whether something listens on the loopback port, found without connecting (a server
    with `-listen 1` would take a probe's connection as its one client)."""
    want = f":{port:04X} "
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        if any(want in line and line.split()[3] == "0A" for line in lines):
            return True
    return False


class Encoder:
    """Debian's ffmpeg streaming `clip` at 1×, as AAC in MPEG-TS, to one HTTP client."""

    def __init__(self, clip: Path, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/live.ts"
        self.proc = subprocess.Popen(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-i", str(clip),
             "-c:a", "aac", "-f", "mpegts", "-listen", "1", self.url],
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while not listening(port):
            assert time.monotonic() < deadline and self.proc.poll() is None, "ffmpeg did not start"
            time.sleep(0.05)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def wait_for(check: Callable[[], object], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def clips(aishell_rows, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("stream")
    return {
        "before": talk_wav(folder / "before.wav", BEFORE, aishell_rows),
        "after": talk_wav(folder / "after.wav", AFTER, aishell_rows),
    }


@pytest.fixture
def html_page(tmp_path) -> Iterator[str]:
    (tmp_path / "index.html").write_text("<html><body><h1>Our event</h1></body></html>")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw) -> None:
            super().__init__(*a, directory=str(tmp_path), **kw)

        def log_message(self, *a) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


def notices(viewer: Viewer, back: bool | None = None) -> list[dict]:
    return [m for m in list(viewer.events)
            if m["type"] == "stream" and (back is None or m["back"] is back)]  # fmt: skip


@needs_ffmpeg
def test_a_stream_room_captions_lives_through_a_drop_and_stops_while_reconnecting(
    server, clips, aishell_rows
):
    rows = by_id(aishell_rows)
    port = free_port()
    room = server.room(name="stream hall")
    viewer = Viewer(events_url(server, room), ended, seconds=120)
    assert viewer.ready.wait(30)
    encoder = Encoder(clips["before"], port)
    try:
        r = server.http.post(f"/api/rooms/{room['id']}/start/url", json={"url": encoder.url})
        assert r.status_code == 200, r.text
        assert server.http.get(f"/api/rooms/{room['id']}").json()["state"] == "live"
        # the encoder dies in the second sentence, once the first is captioned
        wait_for(lambda: viewer.finals(), 40, "the first caption")
        encoder.kill()
        wait_for(lambda: notices(viewer, back=False), 10, "the drop's notice")
        time.sleep(2.0)  # down for a while: tries go on meanwhile
        before = viewer.finals()
        encoder = Encoder(clips["after"], port)
        wait_for(lambda: notices(viewer, back=True), 15, "the stream's return")
        back = notices(viewer, back=True)[0]
        # after the second talk the stream ends for good: the room tries again, and a stop
        # while it does ends the room
        wait_for(
            lambda: (
                len(viewer.finals()) >= len(before) + len(AFTER)
                and notices(viewer)[-1]["back"] is False
            ),
            60,
            "the captions after the return, then the stream's end",
        )
    finally:
        encoder.kill()
    assert server.http.post(f"/api/rooms/{room['id']}/stop").status_code == 200
    viewer.join(30)
    assert ended(viewer.events[-1]), viewer.events[-3:]

    said = notices(viewer)
    drop = said[: said.index(back)]
    assert drop[0]["tries"] == 1 and "reconnecting (try 1)" in drop[0]["message"], drop
    assert drop[-1]["tries"] >= 2, drop  # tried again while the encoder was down
    # the sound lost is counted: the 2 s the encoder was down, and the time to notice
    assert back["gap_s"] >= 2.0 and "of sound lost" in back["message"], back
    assert cer([rows[BEFORE[0]]["reference_text"]], [before[0]["text"]]) < 0.3, before
    finals = viewer.finals()
    after = finals[len(before) :]
    assert cer([rows[u]["reference_text"] for u in AFTER], [s["text"] for s in after]) < 0.3
    # one session, its captions before the drop kept, and its clock the event's: the gap
    # sits between the last caption before the drop and the first after it
    assert after[0]["start"] >= before[-1]["end"] + back["gap_s"] * 0.8, (before, after)
    stored = server.http.get(f"/api/rooms/{room['id']}/segments").json()
    assert [s["text"] for s in stored] == [s["text"] for s in finals]
    assert len({s["session_id"] for s in stored}) == 1


def test_what_is_not_a_stream_is_refused_with_a_clear_status(server, html_page):
    room = server.room(name="refusals")
    start = f"/api/rooms/{room['id']}/start/url"
    for url in ("file:///etc/passwd", "/etc/passwd", "pipe:0", "concat:/etc/passwd|/etc/hosts"):
        r = server.http.post(start, json={"url": url})
        assert r.status_code == 400 and "cannot be listened to" in r.json()["detail"], r.text
    r = server.http.post(start, json={"url": html_page})
    assert r.status_code == 422 and "not an audio stream" in r.json()["detail"], r.text
    # a public address (TEST-NET-3) is outside the default hosts: this machine and the LAN
    r = server.http.post(start, json={"url": "rtmp://203.0.113.7/live/hall"})
    assert r.status_code == 403 and "TINGSHUO_STREAM_HOSTS" in r.json()["detail"], r.text
    r = server.http.post(start, json={"url": f"http://127.0.0.1:{free_port()}/live"})
    assert r.status_code == 422 and "cannot be opened" in r.json()["detail"], r.text
    assert server.http.get(f"/api/rooms/{room['id']}").json()["state"] == "idle"
    assert httpx.post(server.url + start, json={"url": html_page}).status_code == 401


def test_the_hosts_setting_takes_names_patterns_addresses_and_networks():
    assert host_allowed("192.168.1.20", "10.0.0.0/8,192.168.0.0/16")
    assert not host_allowed("8.8.8.8", "10.0.0.0/8,192.168.0.0/16")
    assert host_allowed("encoder.hall.example", "*.hall.example")
    assert host_allowed("localhost", "127.0.0.0/8,::1")  # a name: its addresses are checked
    assert host_allowed("8.8.8.8", "*")
    assert not host_allowed("::1", "127.0.0.1")


def test_listen_refuses_a_file_url_in_one_line(cli):
    r = cli("listen", "--url", "file:///etc/passwd")
    assert r.returncode != 0
    assert "file: URLs cannot be listened to" in r.stderr and "Traceback" not in r.stderr
