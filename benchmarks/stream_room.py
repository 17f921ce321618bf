"""Rooms from a network stream: is a stream room as quick as a file room, and how soon does it
caption again after its stream drops and returns?

    python -m benchmarks.stream_room                 # 60 s talks, 3 drops of 10 s
    python -m benchmarks.stream_room --seconds 30 --drops 1

Starts `tingshuo serve` in a subprocess (a private database and token) and plays the same
AISHELL talk (sentences one after another, a second apart) into two Mandarin rooms in turn:
one from `start/file` at 1×, one from `start/url` on Debian's ffmpeg serving the talk live
(`-re`, AAC in MPEG-TS over HTTP, one client). For every final, measured on a viewer socket
(the server's `ts` of each event):
- **final lag**: its publish time minus the moment its last word was played: for the file
  room from the start call's answer, for the stream room from the moment before its start
  call (the encoder starts its clock when the room connects, during the call), so the
  stream's figure includes what the encoder and the network hold back.

Then, per drop: a stream room hears a talk; 15 s in, the encoder is killed, and 10 s later
another encoder serves a second talk on the same address. Measured from that moment (the
stream is back):
- **reconnected**: the room's `stream` notice that it is back;
- **captioning again**: the first caption (a draft) of the second talk;
- the sound the room reports lost (its notice's `gap_s`).

Run time: about 2 minutes per 60 s of talk, and 40 s per drop.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from websockets.sync.client import connect

from tingshuo.asr.scoring import cer
from tingshuo.audio.decode import load_audio

from .common import DATA, median, read_tsv
from .server_load import Server, console, free_port, write_wav

AISHELL = DATA / "aishell-asr0009-sample-2spk"
DROP_AFTER_S, DOWN_S = 15.0, 10.0


def talk(rows: list[dict], seconds: float, folder: Path, name: str) -> tuple[Path, list[str]]:
    """Sentences a second apart (half a second before the first) up to `seconds`."""
    gap = np.zeros(16000, dtype=np.float32)
    parts, texts, total = [gap[:8000]], [], 0.5
    for row in rows:
        if total >= seconds:
            break
        audio = load_audio(AISHELL / row["path"])
        parts += [audio, gap]
        texts.append(row["reference_text"])
        total += audio.size / 16000 + 1
    path = folder / f"{name}.wav"
    write_wav(path, np.concatenate(parts))
    return path, texts


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


class Watcher(threading.Thread):
    """A viewer socket: every event, until the room is idle with its session's status."""

    def __init__(self, server: Server, room: dict) -> None:
        super().__init__(daemon=True)
        self.url = f"{server.ws}/ws/rooms/{room['id']}/events?token={room['viewer_token']}"
        self.events: list[dict] = []
        self.ready = threading.Event()
        self.start()

    def run(self) -> None:
        with connect(self.url, open_timeout=120, max_size=None) as ws:
            for message in ws:
                event = json.loads(message)
                self.events.append(event)
                if event["type"] == "caught_up":
                    self.ready.set()
                if event["type"] == "state" and event["state"] == "idle" and "status" in event:
                    return

    def of(self, kind: str) -> list[dict]:
        return [e for e in list(self.events) if e["type"] == kind]


def wait(check, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)


def lags(server: Server, kind: str, wav: Path, texts: list[str]) -> tuple[list[float], float]:
    """A room on the talk from a file or a stream: each final's lag, and the talk's CER."""
    room = server.room(f"{kind} room")
    watcher = Watcher(server, room)
    watcher.ready.wait(60)
    encoder = None
    if kind == "file":
        t0 = server.play(room, wav)
    else:
        encoder = Encoder(wav, free_port())
        t0 = time.time()
        r = server.http.post(f"/api/rooms/{room['id']}/start/url", json={"url": encoder.url})
        r.raise_for_status()
    try:
        if encoder is not None:  # a stream never ends by itself: the talk's end is a drop
            wait(lambda: watcher.of("stream"), 600, "the talk's end")
            server.http.post(f"/api/rooms/{room['id']}/stop").raise_for_status()
        watcher.join(600)
    finally:
        if encoder is not None:
            encoder.kill()
    finals = watcher.of("final")
    got = [f["ts"] - (t0 + f["segment"]["end"]) for f in finals]
    return got, cer(["".join(texts)], ["".join(f["segment"]["text"] for f in finals)])


def drop(server: Server, first: Path, second: Path) -> dict[str, float]:
    room = server.room("dropped stream")
    watcher = Watcher(server, room)
    watcher.ready.wait(60)
    port = free_port()
    encoder = Encoder(first, port)
    try:
        r = server.http.post(f"/api/rooms/{room['id']}/start/url", json={"url": encoder.url})
        r.raise_for_status()
        time.sleep(DROP_AFTER_S)
        encoder.kill()
        time.sleep(DOWN_S)
        encoder = Encoder(second, port)
        back_at = time.time()  # the stream is back: the encoder listens
        wait(lambda: any(e["back"] for e in watcher.of("stream")), 60, "the return")
        back = next(e for e in watcher.of("stream") if e["back"])
        wait(
            lambda: any(e["ts"] > back["ts"] for e in watcher.of("partial") + watcher.of("final")),
            60,
            "a caption after the return",
        )
        first_caption = min(
            e["ts"] for e in watcher.of("partial") + watcher.of("final") if e["ts"] > back["ts"]
        )
    finally:
        encoder.kill()
    server.http.post(f"/api/rooms/{room['id']}/stop").raise_for_status()
    watcher.join(120)
    return {
        "reconnected": back["ts"] - back_at,
        "captioning": first_caption - back_at,
        "lost": back["gap_s"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the talk")
    parser.add_argument("--drops", type=int, default=3)
    args = parser.parse_args()
    rows = read_tsv(AISHELL / "manifest.tsv")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        wav, texts = talk(rows, args.seconds, folder, "talk")
        first, _ = talk(rows[40:], DROP_AFTER_S + 10, folder, "first")
        second, _ = talk(rows[60:], 15, folder, "second")
        server = Server(folder)
        try:
            lags(server, "file", wav, texts)  # a first room loads the models: not measured
            results = {kind: lags(server, kind, wav, texts) for kind in ("file", "stream")}
            drops = [drop(server, first, second) for _ in range(args.drops)]
        finally:
            server.close()
    for kind, (got, error) in results.items():
        console.print(
            f"{kind:6} room: final lag median {median(got):.2f} s, max {max(got):.2f} s "
            f"({len(got)} finals, CER {error:.1%})"
        )
    gap = median(results["stream"][0]) - median(results["file"][0])
    console.print(f"stream − file, final lag median: {gap:+.2f} s (floor: ≤ 2 s)")
    for name in ("reconnected", "captioning", "lost"):
        values = [d[name] for d in drops]
        console.print(
            f"after a {DOWN_S:.0f}-s drop, {name}: median {median(values):.2f} s "
            f"({', '.join(f'{v:.2f}' for v in values)})"
            + (" (floor: captioning again ≤ 5 s)" if name == "captioning" else "")
        )


if __name__ == "__main__":
    main()
