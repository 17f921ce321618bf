"""Automatic speaker turns: "Speaker 1", "Speaker 2"… on each final caption.

The streaming transcriber embeds each committed utterance's audio while the recognizer decodes
it; `SpeakerTurns` (model-free) clusters the embeddings online.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from ..audio.decode import SAMPLE_RATE
from ..settings import Settings
from .base import SpeakerEncoder
from .turns import LABEL, SpeakerTurns, Voice

log = logging.getLogger(__name__)

__all__ = ["LABEL", "Diarizer", "SpeakerEncoder", "SpeakerTurns", "Voice", "load_speaker_encoder"]


def load_speaker_encoder(settings: Settings) -> SpeakerEncoder:
    from .resemblyzer_ge2e import ResemblyzerEncoder

    return ResemblyzerEncoder(threads=settings.speaker_threads)


def new_turns(settings: Settings, first_number: int = 1) -> SpeakerTurns:
    return SpeakerTurns(settings.speaker_threshold, settings.speaker_min_voice_s, first_number)


class Diarizer:
    """One encoder (shared by all rooms) and the turns of one room (kept across its sessions)
    or of one recording."""

    def __init__(self, encoder: SpeakerEncoder, turns: SpeakerTurns) -> None:
        self.encoder = encoder
        self.turns = turns
        self.last_embed_s = 0.0  # time the latest embedding took: measured, not guessed
        # speaker index → id of its latest stored caption, where an organizer's rename shows
        self.latest_segment: dict[int, int] = {}

    def voice(self, audio: np.ndarray) -> Voice:
        t = time.perf_counter()
        embedding = self.encoder.embed(audio)
        self.last_embed_s = time.perf_counter() - t
        return Voice(embedding, audio.size / SAMPLE_RATE)

    def label(self, voice: Voice) -> str | None:
        return self.turns.assign(voice)
