"""The SpeakerEncoder protocol: a voice in, one fixed-size unit vector out."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class SpeakerEncoder(Protocol):
    name: str
    dim: int  # length of an embedding

    def embed(self, audio: np.ndarray) -> np.ndarray | None:
        """16 kHz mono float32 → L2-normed embedding; None when it holds too little voice."""
        ...
