"""Resemblyzer's GE2E voice encoder (Apache-2.0): a 3-layer LSTM over 40 mel bands giving
256-d speaker embeddings; its weights, `resemblyzer/pretrained.pt`, ship inside the package."""

from __future__ import annotations

import logging
import threading
import warnings

import numpy as np

from ..errors import ModelError
from ..models import PackageFile, package_file, sha256_of
from ..priority import spinning_openmp

log = logging.getLogger(__name__)

WEIGHTS = PackageFile("resemblyzer", "pretrained.pt", "resemblyzer==0.1.4")
WEIGHTS_SIZE = 17_090_379
WEIGHTS_SHA256 = "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e"

# its partial windows are 1.6 s: below about a third of that it embeds mostly padding
_MIN_VOICE_S = 0.5
_SAMPLE_RATE = 16000
_SILENT = 1e-4  # peak below this: digital silence, which its volume normalisation divides by


class ResemblyzerEncoder:
    name = "resemblyzer-ge2e"
    dim = 256

    def __init__(self, threads: int = 1) -> None:
        path = package_file(WEIGHTS)
        size = path.stat().st_size
        if size != WEIGHTS_SIZE or sha256_of(path) != WEIGHTS_SHA256:
            raise ModelError(
                f"{path} is not the voice encoder resemblyzer 0.1.4 ships ({size} bytes): "
                "pip install --force-reinstall 'resemblyzer==0.1.4'"
            )
        with spinning_openmp():  # PyTorch's libgomp may be the one llama.cpp then uses
            import torch

        # a process-wide setting: the recognizer keeps the other core
        torch.set_num_threads(threads)
        with warnings.catch_warnings():
            # pkg_resources (webrtcvad), scipy.ndimage.morphology: notices from old packages
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            warnings.filterwarnings("ignore", "pkg_resources is deprecated", UserWarning)
            from resemblyzer import VoiceEncoder, preprocess_wav

            self._model = VoiceEncoder(device="cpu", verbose=False, weights_fpath=path)
        self._preprocess = preprocess_wav
        self._torch = torch
        self._lock = threading.Lock()  # rooms share one instance
        # the first mel spectrogram sets librosa up (about 1.5 s): here, not on a live caption
        rng = np.random.default_rng(0)
        with self._torch.inference_mode():
            self._model.embed_utterance(rng.standard_normal(_SAMPLE_RATE).astype(np.float32))
        log.info("loaded the speaker encoder %s (%s)", self.name, path)

    def embed(self, audio: np.ndarray) -> np.ndarray | None:
        audio = np.asarray(audio, dtype=np.float32)
        if audio.size < _MIN_VOICE_S * _SAMPLE_RATE or not np.any(np.abs(audio) > _SILENT):
            return None
        # volume up to -30 dBFS and pauses cut, as in its training
        wav = self._preprocess(audio)
        if wav.size < _MIN_VOICE_S * _SAMPLE_RATE:
            return None
        with self._lock, self._torch.inference_mode():
            return self._model.embed_utterance(wav).astype(np.float32)
