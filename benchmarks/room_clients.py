"""The pages' sockets as the rolling-restart benchmark drives them through a load balancer:
a phone that reconnects as `static/captions.js` does, a console's microphone as
`static/console.js` sends it, and the balancer in front of the gateways."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from dataclasses import dataclass

import numpy as np
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.sync.client import connect

FRAME = 1600  # 100 ms at 16 kHz
RESTART = 1012


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Balancer:
    """A TCP balancer on loopback: each connection goes to the first gateway that accepts
    (a gateway that stops closes its listening socket first)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.backends: list[int] = []
        self._loop = asyncio.new_event_loop()
        self._up = threading.Event()
        threading.Thread(target=self._loop.run_until_complete, args=(self._serve(),),
                         daemon=True).start()  # fmt: skip
        self._up.wait(10)

    async def _serve(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self._up.set()
        with contextlib.suppress(asyncio.CancelledError):
            await self._server.serve_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for port in list(self.backends):
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                continue
        else:
            writer.close()
            return

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except OSError:
                pass
            finally:
                with contextlib.suppress(Exception):
                    dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._server.close)


@dataclass
class Shown:
    id: int
    text: str
    start: float
    end: float
    at: float  # time.time() it arrived


class Phone(threading.Thread):
    """What captions.js does: reconnect with `since` (at once on 1012) until the room ends."""

    def __init__(self, base: str, room: dict) -> None:
        super().__init__(daemon=True)
        self.base, self.room = base, room
        self.finals: list[Shown] = []
        self.closes: list[int | None] = []
        self.connects = 0
        self.ready = threading.Event()
        self.done = threading.Event()
        self.start()

    def run(self) -> None:
        since = 0
        while not self.done.is_set():
            url = (f"{self.base}/ws/rooms/{self.room['id']}/events"
                   f"?token={self.room['viewer_token']}&since={since}")  # fmt: skip
            code: int | None = None
            try:
                with connect(url, open_timeout=10) as ws:
                    self.connects += 1
                    while True:
                        m = json.loads(ws.recv())
                        if m["type"] == "caught_up":
                            self.ready.set()
                        elif m["type"] == "final" and m["segment"].get("id"):
                            s = m["segment"]
                            self.finals.append(Shown(s["id"], s["text"], s["start"], s["end"],
                                                     time.time()))  # fmt: skip
                            since = max(since, s["id"])
                        elif m["type"] == "state" and m["state"] == "idle" and "status" in m:
                            self.done.set()
                            return
            except ConnectionClosed as e:
                code = e.rcvd.code if e.rcvd is not None else None
                self.closes.append(code)
            except (OSError, TimeoutError, WebSocketException):
                pass  # no gateway accepts for a moment
            if code != RESTART:
                time.sleep(0.5)


class Console(threading.Thread):
    """What console.js does with its microphone: frames in real time; while the socket is
    down they are kept, and sent once the room is ready again."""

    def __init__(self, base: str, room: dict, audio: np.ndarray, token: str) -> None:
        super().__init__(daemon=True)
        self.url = f"{base}/ws/rooms/{room['id']}/audio?token={token}"
        pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2")
        self.frames = [pcm[i : i + FRAME].tobytes() for i in range(0, pcm.size, FRAME)]
        self.sent = 0
        self.t0 = 0.0  # when the first frame went: the session's time 0
        self.closes: list[int | None] = []
        self.connects = 0
        self.finished = threading.Event()
        self.start()

    def run(self) -> None:
        while not self.finished.is_set():
            code: int | None = None
            try:
                with connect(self.url, open_timeout=10) as ws:
                    ws.send(json.dumps({"type": "start", "sample_rate": 16000}))
                    while json.loads(ws.recv(timeout=60))["type"] != "ready":
                        pass
                    self.connects += 1
                    if not self.t0:
                        self.t0 = time.time()
                    while self.sent < len(self.frames):
                        due = self.t0 + self.sent * FRAME / 16000
                        if due > time.time():
                            time.sleep(due - time.time())
                        ws.send(self.frames[self.sent])
                        self.sent += 1
                    ws.send(json.dumps({"type": "stop"}))
                    while json.loads(ws.recv(timeout=60))["type"] != "stopped":
                        pass
                    self.finished.set()
                    return
            except ConnectionClosed as e:
                code = e.rcvd.code if e.rcvd is not None else None
                self.closes.append(code)
            except (OSError, TimeoutError, WebSocketException):
                pass
            if code != RESTART:
                time.sleep(1.0)
