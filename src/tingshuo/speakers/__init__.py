"""Automatic speaker turns: "Speaker 1", "Speaker 2"… on each final caption.

The streaming transcriber embeds each committed utterance's audio while the recognizer decodes
it; `SpeakerTurns` (model-free) clusters the embeddings online.
"""

from __future__ import annotations

import logging
import threading
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
        # the session labels and stores captions while an organizer renames or merges voices
        # from another thread: both hold this (re-entrant: storing notes the speaker)
        self.lock = threading.RLock()
        # names given up by a rename or merge → the voice's name now: a caption labelled just
        # before still gets the new name, and a stale stored label is not taken for a new one
        self.renamed: dict[str, str] = {}

    def voice(self, audio: np.ndarray) -> Voice:
        t = time.perf_counter()
        embedding = self.encoder.embed(audio)
        self.last_embed_s = time.perf_counter() - t
        return Voice(embedding, audio.size / SAMPLE_RATE)

    def label(self, voice: Voice) -> str | None:
        with self.lock:
            return self.turns.assign(voice)

    def current(self, name: str) -> str:
        """What the voice labelled `name` is called now."""
        with self.lock:
            if self.turns.index(name) is None:
                return self.renamed.get(name, name)
            return name

    def rename(self, old: str, new: str) -> int | None:
        """The voice called `old` is called `new` from now on; its index, or None when no
        voice is called `old` or another one is called `new`."""
        with self.lock:
            index = self.turns.index(old)
            if index is None or not self.turns.rename(index, new):
                return None
            self._gave_up(old, new)
            return index

    def merge(self, source: str, into: str) -> bool:
        """The voice `source` becomes part of the voice `into` (one person heard as two)."""
        with self.lock:
            gone, kept = self.turns.index(source), self.turns.index(into)
            if gone is None or kept is None or gone == kept:
                return False
            self.turns.merge(gone, kept)
            latest: dict[int, int] = {}
            for index, segment_id in self.latest_segment.items():
                index = kept if index == gone else index
                index = index - 1 if index > gone else index
                latest[index] = max(latest.get(index, 0), segment_id)
            self.latest_segment = latest
            self._gave_up(source, into)
            return True

    def _gave_up(self, old: str, new: str) -> None:
        for name, now in self.renamed.items():
            if now == old:
                self.renamed[name] = new
        self.renamed[old] = new
        self.renamed.pop(new, None)  # a name given back is a voice's own again
