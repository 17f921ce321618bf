"""What the tests share, in one place: the data, a live server, a phone on a room's event
socket, headless Chromium, and a few checks run on more than one database.

Fixtures live in conftest.py; test modules import from here and never from one another.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import wave
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import av
import httpx
import numpy as np
import pytest
import uvicorn
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tingshuo.audio.decode import SAMPLE_RATE, load_audio
from tingshuo.settings import Settings

if TYPE_CHECKING:
    from tingshuo.events import Segment

# conftest.py imports this module for every test: the app and the store are imported where
# they are used, so a unit test needs only what it tests

# -- data

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("TINGSHUO_DATA", ROOT.parent / "shared" / "data"))
AISHELL = DATA / "aishell-asr0009-sample-2spk"
LJ = DATA / "ljspeech-subset-en"


def read_tsv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def by_id(aishell_rows: list[dict]) -> dict[str, dict]:
    return {r["utt_id"]: r for r in aishell_rows}


def write_wav(path: Path, audio: np.ndarray, rate: int = 16000) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def talk_wav(path: Path, utterances: list[str], rows: list[dict[str, str]]) -> Path:
    """AISHELL sentences (by utterance id) one after another, half a second of silence before
    the first and a second after each: a talk to play into a room as live."""
    rows_by_id = by_id(rows)
    gap = np.zeros(16000, dtype=np.float32)
    parts = [gap[:8000]]
    for utt in utterances:
        parts += [load_audio(AISHELL / rows_by_id[utt]["path"]), gap]
    return write_wav(path, np.concatenate(parts))


def similarity(a: np.ndarray, b: np.ndarray, reach: int = 400) -> float:
    """The normalized cross-correlation of two signals at their best lag (±`reach`)."""
    best = 0.0
    for lag in range(-reach, reach + 1, 2):
        x, y = (a[lag:], b) if lag >= 0 else (a, b[-lag:])
        n = min(x.size, y.size)
        x, y = x[:n], y[:n]
        best = max(best, float(np.dot(x, y) / (np.linalg.norm(x) * np.linalg.norm(y) + 1e-9)))
    return best


def speech(rows: list[dict], gap_s: float = 1.0) -> np.ndarray:
    """The clips one after another with a pause between: what a speaker does."""
    gap = np.zeros(int(gap_s * 16000), dtype=np.float32)
    parts = [gap[: gap.size // 2]]  # a speaker rarely starts on the first sample
    for row in rows:
        parts += [load_audio(AISHELL / row["path"]), gap]
    return np.concatenate(parts)


def pcm16(audio: np.ndarray) -> bytes:
    return (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()


def encode(
    path: Path | str,
    samples: np.ndarray,
    rate: int,
    codec: str,
    channels: int = 2,
    video: bool = False,
) -> None:
    """Write real speech into another container/codec/rate/layout with PyAV."""
    layout = "stereo" if channels == 2 else "mono"
    with av.open(str(path), "w") as out:
        if video:
            v = out.add_stream("mpeg4", rate=10)
            v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        stream = out.add_stream(codec, rate=rate, layout=layout)
        fmt = stream.codec_context.codec.audio_formats[0].name
        resampler = av.AudioResampler(format=fmt, layout=layout, rate=rate)
        frame_len = 1024
        src = av.AudioFrame.from_ndarray(
            samples[None, :].astype(np.float32), format="flt", layout="mono"
        )
        src.sample_rate = SAMPLE_RATE
        frames = resampler.resample(src) + resampler.resample(None)
        pts = 0
        for frame in frames:
            data = frame.to_ndarray()
            step = frame_len * (1 if frame.format.is_planar else channels)
            for i in range(0, data.shape[1], step):
                chunk = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(data[:, i : i + step]), format=fmt, layout=layout
                )
                chunk.sample_rate = rate
                chunk.pts = pts
                chunk.time_base = Fraction(1, rate)
                pts += chunk.samples
                for packet in stream.encode(chunk):
                    out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
        if video:
            img = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), dtype=np.uint8), format="rgb24")
            for i in range(10):
                img.pts = i
                for packet in v.encode(img.reformat(format="yuv420p")):
                    out.mux(packet)
            for packet in v.encode(None):
                out.mux(packet)


# -- a live server

ORG = "organizer-secret"
AUTH = {"Authorization": f"Bearer {ORG}"}


def free_port() -> int:
    """A loopback port nothing listens on now (a server started next takes it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """A real uvicorn server for `app` on a thread of this process, on a free loopback port."""

    def __init__(self, app: Any, settings: Settings) -> None:
        self.port = free_port()
        self.app = app
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws = f"ws://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        # a room's first start loads the speaker model: seconds on a busy 2-core machine
        self.http = httpx.Client(base_url=self.url, headers=AUTH, timeout=60)
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def room(self, **body: Any) -> dict:
        r = self.http.post("/api/rooms", json={"name": "test room", "lang": "zh", **body})
        assert r.status_code == 201, r.text
        return r.json()


@contextlib.contextmanager
def live_server(worker: Any, folder: Path, **overrides: Any) -> Iterator[LiveServer]:
    """The app on a LiveServer with the organizer token ORG and a private SQLite database in
    `folder` (unless `overrides` name another); `overrides` are Settings fields."""
    from tingshuo.server.app import create_app

    overrides.setdefault("database_url", f"sqlite:///{folder / 'tingshuo.db'}")
    settings = Settings(token=ORG, **overrides)
    with LiveServer(create_app(settings, worker=worker), settings) as live:
        yield live


# -- a phone on a room's sockets


class Listening(Protocol):
    """A LiveServer, or a `tingshuo serve` subprocess: what has a WebSocket base URL."""

    ws: str


def events_url(server: Listening, room: dict, since: int = 0, token: str | None = None) -> str:
    token = token or room["viewer_token"]
    return f"{server.ws}/ws/rooms/{room['id']}/events?token={token}&since={since}"


def audio_url(server: Listening, room: dict, token: str = ORG) -> str:
    return f"{server.ws}/ws/rooms/{room['id']}/audio?token={token}"


def stream(ws: Any, audio: np.ndarray, rate: int = 16000, speed: float = 1.0) -> None:
    """100 ms frames, paced at `speed`× real time (0: as fast as the socket takes them)."""
    step = rate // 10
    t0 = time.monotonic()
    for i in range(0, audio.size, step):
        ws.send(pcm16(audio[i : i + step]))
        if speed:
            delay = t0 + (i + step) / rate / speed - time.monotonic()
            if delay > 0:
                time.sleep(delay)


def idle(m: dict) -> bool:
    """The room went idle (a Viewer's default end)."""
    return m.get("type") == "state" and m["state"] == "idle"


def ended(m: dict) -> bool:
    """The room went idle with how its session ended: what a phone sees last of a talk."""
    return idle(m) and "status" in m


class Viewer(threading.Thread):
    """A phone on a room's event socket, read in the background from the moment it is made:
    every message in `events`, until `until(message)`, the socket's close, or `seconds`.
    Another failure (it could not connect) is left to the thread, so pytest reports it."""

    def __init__(
        self,
        url: str,
        until: Callable[[dict], bool] | None = None,
        *,
        seconds: float = 240,
        open_timeout: float = 30,
    ) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.until = until or idle
        self.seconds = seconds
        self.open_timeout = open_timeout
        self.events: list[dict] = []
        self.connected = threading.Event()  # open (or failed to open): safe to go on
        self.ready = threading.Event()  # caught up: what comes now is live
        self.start()

    def run(self) -> None:
        try:
            with connect(self.url, open_timeout=self.open_timeout) as ws:
                self.connected.set()
                deadline = time.monotonic() + self.seconds
                while time.monotonic() < deadline:
                    try:
                        # short reads, so that `seconds` ends a quiet socket too
                        m = json.loads(ws.recv(timeout=1))
                    except TimeoutError:
                        continue
                    self.events.append(m)
                    if m.get("type") == "caught_up":
                        self.ready.set()
                    if self.until(m):
                        return
        except ConnectionClosed:
            pass  # closed by the server, or its process killed: `events` is what the phone got
        finally:
            self.connected.set()

    def finals(self) -> list[dict]:
        # a copy first: the thread may still be appending
        return [m["segment"] for m in list(self.events) if m["type"] == "final"]


def play(server, room: dict, wav, speed: str = "0") -> list[dict]:
    """The file played into the room until it is idle again: the console's events."""
    console = Viewer(events_url(server, room, token=ORG), seconds=120)
    console.connected.wait(10)
    with wav.open("rb") as f:
        r = server.http.post(
            f"/api/rooms/{room['id']}/start/file",
            files={"file": ("talk.wav", f, "audio/wav")},
            data={"speed": speed},
        )
    assert r.status_code == 200, r.text
    console.join(120)
    deadline = time.monotonic() + 30
    while server.http.get(f"/api/rooms/{room['id']}").json()["state"] != "idle":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    return console.events


# -- headless Chromium (Debian's chromium + chromium-driver, driven by Selenium)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# what shows as an empty box where no emoji font is installed (🎤 ⏮ ⏭ ⚠ ✓ ✕ ▶ ↻ …): pages
# draw icons with static/icons.js instead
EMOJI = re.compile("[\U0001f000-\U0001faff\u2300-\u23ff\u25a0-\u25ff\u2600-\u27bf"
                   "\u2900-\u297f\u2b00-\u2bff\u21bb\ufe0f]")  # fmt: skip
# every icon on show, and its size
SHOWN_ICONS = """return [...document.querySelectorAll('svg.icon')]
  .filter((i) => i.checkVisibility())
  .map((i) => [i.getAttribute('class'), i.getBoundingClientRect().width,
    i.getBoundingClientRect().height])"""
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

needs_chromium = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(DRIVER).exists()),
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
)


def chromium(tmp_path: Path, *extra: str, autoplay: bool = True) -> Any:
    """Headless Chromium; `autoplay=False` keeps the browser's own policy (sound only after a
    click on the page)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        *(["--autoplay-policy=no-user-gesture-required"] if autoplay else []),
        "--window-size=1280,900",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        *extra,
    ]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_script_timeout(30)
    return driver


def wait_for(driver: Any, script: str, timeout: float = 60, what: str = "") -> Any:
    """Poll a JS expression until it is truthy; its value is returned."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(f"return {script}")
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what or script}")


def fake_microphone(wav: Path) -> tuple[str, ...]:
    """Chromium's flags for a microphone that plays `wav`, allowed without asking."""
    return (
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}",
    )


def learn_reading(driver: Any, prompt: str, seconds: float) -> Any:
    """On /learn (open in `driver`, whose fake microphone plays a file of `seconds`): type
    `prompt`, record the file, and return the first syllable's card."""
    import time

    from selenium.webdriver.common.by import By

    text = driver.find_element(By.ID, "text")
    text.clear()
    text.send_keys(prompt)
    wait_for(driver, "document.getElementById('pinyin').textContent !== ''", 20)
    driver.find_element(By.ID, "record").click()  # the fake microphone starts
    wait_for(driver, "document.getElementById('record').classList.contains('rec')")
    time.sleep(seconds - 0.3)
    driver.find_element(By.ID, "record").click()
    wait_for(driver, "document.querySelector('#result .syl')", 60, "the card")
    return driver.find_element(By.CSS_SELECTOR, "#result .syl")


def create_room(driver: Any, server: LiveServer, name: str) -> dict:
    from selenium.webdriver.common.by import By

    driver.get(f"{server.url}/console")
    driver.find_element(By.ID, "token").send_keys(ORG)
    driver.find_element(By.ID, "save-token").click()
    driver.find_element(By.ID, "room-name").send_keys(name)
    driver.find_element(By.ID, "create-room").click()
    wait_for(driver, "window.tsConsole.room && window.tsConsole.events", 20, "the new room")
    room = driver.execute_script("return window.tsConsole.room")
    assert room["name"] == name and room["lang"] == "zh"
    wait_for(driver, "document.getElementById('room-state').textContent === 'idle'", 20)
    return room


# -- the fault suite: what a server in this process costs while it is attacked


def rss_mb() -> float:
    """This process's resident memory now (the servers under test run in it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def health_latency(url: str, seconds: float, stop: Callable[[], bool]) -> float:
    """The slowest /health answer while `stop()` is false (at most `seconds`)."""
    worst = 0.0
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=url, timeout=30) as client:
        while time.monotonic() < deadline and not stop():
            t0 = time.monotonic()
            assert client.get("/health").status_code == 200
            worst = max(worst, time.monotonic() - t0)
            time.sleep(0.02)
    return worst


# -- the store's checks, run on SQLite (test_store_export) and PostgreSQL (test_store_postgres)


def check_sessions_segments_and_search(db_url: str, transcript: list[Segment]) -> None:
    from tingshuo.errors import TingshuoError
    from tingshuo.events import Segment
    from tingshuo.store.db import open_store

    store = open_store(db_url)
    first = store.create_session("董事会", "board.m4a", "zh", ["科大讯飞"])
    other = store.create_session("weekly", "mic", "auto")
    saved = [store.add_segment(s.model_copy(update={"session_id": first.id})) for s in transcript]
    store.add_segment(Segment(session_id=other.id, start=0, end=1, lang="zh", text="指标很重要。"))
    store.finish_session(first.id, "done", 42.0)

    assert [s.id for s in saved] == sorted(s.id for s in saved)
    listed = {s.id: s for s in store.list_sessions()}
    assert listed[first.id].segments == len(transcript) and listed[first.id].status == "done"
    assert listed[first.id].hotwords == ["科大讯飞"]
    assert store.get_session(first.id[:6]).id == first.id
    back = store.segments(first.id)
    assert [s.text for s in back] == [s.text for s in transcript]
    assert back[-1].speaker == "Guest"
    assert [s.id for s in store.segments(first.id, after_id=saved[1].id)] == [
        s.id for s in saved[2:]
    ]

    hits = store.search("指标")
    assert {h.session.id for h in hits} == {first.id, other.id}
    assert all("指标" in h.segment.text for h in hits)
    assert store.search("100%") == []  # LIKE wildcards are escaped
    with pytest.raises(TingshuoError):
        store.search("  ")
    with pytest.raises(TingshuoError, match="no session"):
        store.get_session("ffffffffffff")


def check_translations_stored_beside_the_caption(db_url: str, transcript: list[Segment]) -> None:
    from tingshuo.store.db import open_store

    store = open_store(db_url)
    info = store.create_session("t")
    seg = store.add_segment(transcript[0].model_copy(update={"session_id": info.id}))
    store.set_translation(seg.id, "en", "Two of them are internal indicators.")
    assert store.segments(info.id)[0].translations == {"en": "Two of them are internal indicators."}


def room_impulses(distances: tuple[float, ...]) -> list[np.ndarray]:
    """A 12 × 9 × 4 m hall, RT60 ≈ 0.9 s as measured on its impulse responses (Sabine's
    0.6 s: a shoebox's image sources decay slower than Sabine says), a talker at 1.6 m and
    microphones `distances` metres in front; each response starts at its direct sound."""
    import pyroomacoustics as pra

    dim = [12.0, 9.0, 4.0]
    absorption, max_order = pra.inverse_sabine(0.6, dim)
    room = pra.ShoeBox(
        dim,
        fs=SAMPLE_RATE,
        materials=pra.Material(absorption),
        max_order=max_order,
        air_absorption=False,
    )
    room.add_source([3.0, 4.5, 1.6])
    room.add_microphone_array(np.array([[3.0 + d, 4.5, 1.5] for d in distances]).T)
    room.compute_rir()
    out = []
    for m in range(len(distances)):
        h = np.asarray(room.rir[m][0], dtype=np.float64)
        out.append(h[max(0, int(np.argmax(np.abs(h))) - 20) :])
    return out


def heard_through(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    from scipy.signal import fftconvolve

    y = fftconvolve(x, h)[: x.size]
    return (y * np.sqrt(np.mean(x**2) / np.mean(y**2))).astype(np.float32)


class Served:
    """`tingshuo serve` as a user starts it, on a private database."""

    def __init__(self, db: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "TINGSHUO_DATABASE_URL": f"sqlite:///{db}"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tingshuo", "serve", "--port", str(self.port), "--token", ORG],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log.open("ab"),
        )
        self.http = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {ORG}"}, timeout=30
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                if self.http.get("/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert self.proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)

    def close(self) -> None:
        self.http.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)
