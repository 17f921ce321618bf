"""Silero VAD (v6, the ONNX file that ships inside faster-whisper), run frame by frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ModelError
from .decode import SAMPLE_RATE

FRAME = 512  # samples per VAD frame at 16 kHz (32 ms)
CONTEXT = 64  # samples of the previous frame the model sees before each frame
FRAME_S = FRAME / SAMPLE_RATE


def silero_path() -> Path:
    import faster_whisper

    path = Path(faster_whisper.__file__).parent / "assets" / "silero_vad_v6.onnx"
    if not path.is_file():
        raise ModelError(
            f"{path} is missing: reinstall faster-whisper (pip install faster-whisper==1.2.1)"
        )
    return path


class StreamingVAD:
    """Speech probability for each 32 ms frame of a stream, keeping the LSTM state."""

    def __init__(self) -> None:
        import onnxruntime

        opts = onnxruntime.SessionOptions()
        opts.inter_op_num_threads = 1
        opts.intra_op_num_threads = 1
        opts.log_severity_level = 4
        self._session = onnxruntime.InferenceSession(
            str(silero_path()), providers=["CPUExecutionProvider"], sess_options=opts
        )
        self.reset()

    def reset(self) -> None:
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(CONTEXT, dtype=np.float32)
        self._rest = np.zeros(0, dtype=np.float32)

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        """Probabilities for every complete frame now available (leftover samples wait)."""
        audio = np.concatenate([self._rest, audio.astype(np.float32, copy=False)])
        n = audio.size // FRAME
        self._rest = audio[n * FRAME :]
        if n == 0:
            return np.zeros(0, dtype=np.float32)
        frames = audio[: n * FRAME].reshape(n, FRAME)
        contexts = np.concatenate([self._context[None, :], frames[:-1, -CONTEXT:]], axis=0)
        self._context = frames[-1, -CONTEXT:].copy()
        batch = np.concatenate([contexts, frames], axis=1)
        out, self._h, self._c = self._session.run(
            None, {"input": batch, "h": self._h, "c": self._c}
        )
        return np.asarray(out, dtype=np.float32).reshape(-1)
