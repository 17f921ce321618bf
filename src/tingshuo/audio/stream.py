"""A network stream as a live source: whatever PyAV's FFmpeg opens (RTMP, RTSP, HLS, HTTP and
Icecast, UDP or RTP MPEG-TS; SRT where that FFmpeg has it) → 16 kHz mono float32 blocks.

A stream is checked before anything starts (`check_url`: a stream protocol, a host the
organizer allows) and opened once as its probe (`open_stream`): that first connection is
the one the room reads, since a stream server may take one client only. When the stream
drops, `StreamSource` reconnects every half second until it is back or the caller stops,
and fills the gap with silence in real time: the session's clock stays the event's clock
(captions after a drop are stamped when they were said, and the words before the drop
become final, as at a pause). `on_change` hears each drop, each try and the return.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fnmatch import fnmatch
from urllib.parse import urlsplit, urlunsplit

import av
import numpy as np

from ..errors import TingshuoError
from .decode import SAMPLE_RATE
from .sources import BLOCK_S

log = logging.getLogger(__name__)

# protocols that fetch a stream from the network; file:, pipe:, concat:, subfile: and the
# like read this machine and are never opened (FFmpeg checks nested protocols too: an HLS
# playlist cannot name a file: segment)
SCHEMES = ("http", "https", "rtmp", "rtmps", "rtmpt", "rtmpts", "rtsp", "rtsps", "srt",
           "udp", "rtp", "tcp", "mmsh", "mmst")  # fmt: skip
_WHITELIST = ",".join([*SCHEMES, "tls", "crypto", "httpproxy", "ffrtmphttp", "hls"])
# a dead stream is noticed in about this long; a stream that cannot be opened in this long
# (an address nobody answers) is tried again
OPEN_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 1.5
# HLS waits up to a segment's length for the next one: its drop is a playlist that stops
# growing (3 reloads without a new segment), or this long without any
HLS_READ_TIMEOUT_S = 15.0
# between tries: short, so the room captions again within a few seconds of the stream's return
# (a refused connection costs nothing; a host that does not answer takes OPEN_TIMEOUT_S a try)
RETRY_FIRST_S, RETRY_MAX_S = 0.25, 0.5
# a return counts once its sound has kept coming this long (not a stale burst and a hang-up)
PROVEN_S = 0.5
# how far a stream's sound may run ahead of the wall clock (bursts at connect, an HLS segment)
AHEAD_S = 8.0
# enough to find an audio stream in FLV or MPEG-TS without waiting FFmpeg's default 5 s
# (HLS: from the newest segment, so that a return repeats at most one)
_OPTIONS = {"protocol_whitelist": _WHITELIST, "analyzeduration": "700000", "probesize": "65536",
            "live_start_index": "-1", "m3u8_hold_counters": "3"}  # fmt: skip


class StreamError(TingshuoError):
    status = 400

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message  # in a few words, for a drop's notice


class HostNotAllowed(StreamError):
    status = 403


class NotAStream(StreamError):
    status = 422


@dataclass(frozen=True)
class StreamChange:
    """A drop (`back` False: `tries` so far, `gap_s` without sound so far) or the return
    (`back` True: `gap_s` the sound lost in this drop; `lost_s` in the whole run)."""

    back: bool
    tries: int
    gap_s: float
    lost_s: float
    reason: str = ""


def shown(url: str) -> str:
    """The URL as logs and sessions show it: without a user name or password."""
    parts = urlsplit(url)
    if not parts.username and not parts.password:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


def check_url(url: str, hosts: str) -> str:
    """Refuse what is not a network stream, or a host `hosts` does not allow (a comma list of
    host names, `*.domain` patterns, addresses and CIDR networks; `*`: any); the URL trimmed."""
    url = url.strip()
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        what = f"{scheme}: URLs" if scheme else "a path"
        raise StreamError(
            f"{shown(url)}: {what} cannot be listened to; give a stream's URL "
            f"({', '.join(SCHEMES[:7])}, udp, …)"
        )
    host = (parts.hostname or "").lower()
    if not host and scheme not in ("udp", "rtp"):
        raise StreamError(f"{shown(url)}: no host in this URL")
    # a UDP or RTP URL names where this machine listens (or a multicast group it joins): no
    # host, or any address, is this machine
    if scheme in ("udp", "rtp") and host.strip("[]") in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    if not host_allowed(host, hosts):
        raise HostNotAllowed(
            f"{shown(url)}: host {host!r} is not allowed; the organizer's setting "
            f"TINGSHUO_STREAM_HOSTS ({hosts}) says which are"
        )
    return url


def host_allowed(host: str, hosts: str) -> bool:
    rules = [r.strip().lower() for r in hosts.split(",") if r.strip()]
    if "*" in rules:
        return True
    networks, names = [], []
    for rule in rules:
        try:
            networks.append(ipaddress.ip_network(rule, strict=False))
        except ValueError:
            names.append(rule)
    if any(fnmatch(host, name) for name in names):
        return True
    try:
        addresses = {ipaddress.ip_address(host.strip("[]"))}
    except ValueError:  # a name: every address it has must be allowed
        try:
            infos = socket.getaddrinfo(host, None)
        except OSError:
            return False
        addresses = {ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos}
    return bool(addresses) and all(any(a in n for n in networks) for a in addresses)


def open_stream(url: str) -> av.container.InputContainer:
    """The stream opened, with sound in it, or one line that says why not."""
    hls = ".m3u8" in urlsplit(url).path.lower()
    container = _open(url, HLS_READ_TIMEOUT_S if hls else READ_TIMEOUT_S)
    if container.format.name == "hls" and not hls:  # a playlist at a URL that did not say so
        container.close()
        container = _open(url, HLS_READ_TIMEOUT_S)
    return container


def _open(url: str, read_timeout_s: float) -> av.container.InputContainer:
    try:
        container = av.open(
            url, timeout=(OPEN_TIMEOUT_S, read_timeout_s), options=dict(_OPTIONS),
            metadata_errors="ignore",
        )  # fmt: skip
    except av.error.ProtocolNotFoundError:
        raise StreamError(
            f"{shown(url)}: this server's FFmpeg cannot open {urlsplit(url).scheme}: streams"
        ) from None
    except av.error.InvalidDataError:
        raise NotAStream(
            f"{shown(url)}: not an audio stream (a web page?); give the stream's own URL, "
            "such as the .m3u8 playlist, the Icecast mount or the RTMP path",
            "not an audio stream",
        ) from None
    except (av.error.FFmpegError, OSError) as e:
        reason = _reason(e)
        raise NotAStream(f"{shown(url)}: the stream cannot be opened ({reason})", reason) from None
    if not container.streams.audio:
        container.close()
        raise NotAStream(f"{shown(url)}: this stream has no sound", "no sound in it")
    return container


def _reason(error: BaseException) -> str:
    text = getattr(error, "strerror", None) or str(error)
    if "Immediate exit requested" in str(text):  # PyAV's timeout interrupted the read
        return f"nothing heard for {READ_TIMEOUT_S:g} s"
    return " ".join(str(text).split())


class StreamSource:
    """The stream's blocks, across drops, until `stopping()` (checked at least once a
    block, and between tries); `first` is the probe's connection.

    The sound it yields, silence included, keeps to the wall clock: a drop is filled with
    silence as it passes, and a source that runs ahead (a recording served as fast as it
    downloads) is slowed to at most `AHEAD_S` in front. A return counts once its sound has
    kept coming for `PROVEN_S`: a server that hands out a stale burst and hangs up (an HLS
    playlist that stopped growing) is one more try, and its burst is dropped."""

    def __init__(
        self,
        url: str,
        first: av.container.InputContainer,
        on_change: Callable[[StreamChange], None],
        stopping: Callable[[], bool],
    ) -> None:
        self.url = url
        self._first: av.container.InputContainer | None = first
        self.on_change = on_change
        self.stopping = stopping
        self.lost_s = 0.0
        self._started = 0.0
        self._heard = 0.0  # seconds yielded, silence included: the session's clock

    def __iter__(self) -> Iterator[np.ndarray]:
        container, self._first = self._first, None
        self._started = opened_at = last_sound = time.monotonic()
        lost_at: float | None = None  # when the last sound before a drop arrived
        tries, wait_s, reason = 0, RETRY_FIRST_S, ""
        while not self.stopping():
            if container is None:
                assert lost_at is not None
                tries += 1
                self.on_change(StreamChange(False, tries, time.monotonic() - lost_at,
                                            self.lost_s, reason))  # fmt: skip
                try:
                    container = open_stream(self.url)
                    opened_at = time.monotonic()
                except StreamError as e:
                    reason = e.reason
                    log.info("stream %s: try %d: %s", shown(self.url), tries, reason)
                    yield from self._wait(wait_s)
                    wait_s = min(wait_s * 2, RETRY_MAX_S)
                    continue
            held: list[np.ndarray] = []  # a return's first sound, until it is proven
            first_at: float | None = None
            try:
                for block in _blocks(container):
                    if lost_at is not None:
                        held.append(block)
                        first_at = first_at or time.monotonic()
                        if time.monotonic() - first_at < PROVEN_S:
                            continue
                        gap = opened_at - lost_at
                        self.lost_s += gap
                        log.info("stream %s: back after %.1f s", shown(self.url), gap)
                        self.on_change(StreamChange(True, tries, gap, self.lost_s))
                        lost_at, tries, wait_s = None, 0, RETRY_FIRST_S
                        yield from self._silence(opened_at)
                    for sound in held or [block]:
                        yield from self._paced(sound)
                    held = []
                    last_sound = time.monotonic()
                    if self.stopping():
                        return
                reason = "the stream ended"
            except (av.error.FFmpegError, OSError) as e:
                reason = _reason(e)
            finally:
                container.close()
                container = None
            if lost_at is None:
                lost_at = last_sound
                log.warning("stream %s lost: %s", shown(self.url), reason)
            else:  # back only for a moment: one more try, after the wait
                yield from self._wait(wait_s)
                wait_s = min(wait_s * 2, RETRY_MAX_S)

    def _wait(self, seconds: float) -> Iterator[np.ndarray]:
        """Silence as time passes, for `seconds` (or until a stop)."""
        deadline = time.monotonic() + seconds
        while not self.stopping():
            yield from self._silence(time.monotonic())
            if time.monotonic() >= deadline:
                return
            time.sleep(BLOCK_S)

    def _silence(self, until: float) -> Iterator[np.ndarray]:
        """Silence up to the moment `until` on the session's clock, in whole blocks."""
        size = int(BLOCK_S * SAMPLE_RATE)
        while until - self._started - self._heard >= BLOCK_S:
            self._heard += BLOCK_S
            yield np.zeros(size, dtype=np.float32)

    def _paced(self, block: np.ndarray) -> Iterator[np.ndarray]:
        ahead = self._heard - (time.monotonic() - self._started)
        if ahead > AHEAD_S:
            time.sleep(ahead - AHEAD_S)
        self._heard += block.size / SAMPLE_RATE
        yield block


def _blocks(container: av.container.InputContainer) -> Iterator[np.ndarray]:
    """One connection's sound in `BLOCK_S` blocks, as it arrives."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    size = int(BLOCK_S * SAMPLE_RATE)
    rest = np.zeros(0, dtype=np.float32)
    for frame in container.decode(container.streams.audio[0]):
        for out in resampler.resample(frame):
            rest = np.concatenate([rest, out.to_ndarray().reshape(-1)])
        while rest.size >= size:
            block, rest = rest[:size], rest[size:]
            yield block
