"""Online speaker turns: each utterance's voice joins the most similar known speaker or opens a
new one. Model-free (it takes embeddings), so it is tested with made-up vectors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LABEL = "Speaker {n}"


@dataclass
class Voice:
    """One utterance's embedding (None: too little voice to embed) and its length."""

    embedding: np.ndarray | None
    seconds: float


@dataclass
class _Speaker:
    name: str
    total: np.ndarray  # sum of its utterances' unit embeddings: points at the centroid
    utterances: int = 1

    def similarity(self, embedding: np.ndarray) -> float:
        return float(embedding @ self.total) / float(np.linalg.norm(self.total))


class SpeakerTurns:
    """Speakers met so far in a room or a recording, with their names.

    `threshold`: least cosine similarity to a speaker's centroid to be that speaker.
    `min_voice_s`: shorter utterances embed unreliably: they never open a speaker nor move a
    centroid; they go to the nearest speaker, or to the last one when there was too little voice
    to embed at all.
    """

    def __init__(self, threshold: float, min_voice_s: float, first_number: int = 1) -> None:
        self.threshold = threshold
        self.min_voice_s = min_voice_s
        self.speakers: list[_Speaker] = []
        self.last: int | None = None  # who spoke the previous utterance
        self._next_number = first_number

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.speakers]

    def index(self, name: str) -> int | None:
        for i, speaker in enumerate(self.speakers):
            if speaker.name == name:
                return i
        return None

    def assign(self, voice: Voice) -> str | None:
        """The name of who spoke `voice`; opens a new speaker for an unknown voice.

        None only for a first utterance with no voice to embed.
        """
        emb = voice.embedding
        best, score = None, -1.0
        if emb is not None:
            for i, speaker in enumerate(self.speakers):
                s = speaker.similarity(emb)
                if s > score:
                    best, score = i, s
        reliable = emb is not None and voice.seconds >= self.min_voice_s
        # a short voice scores low against everyone (median 0.63 to its own speaker for 1.2 s
        # of AISHELL speech) yet still lands nearest its own speaker (97 % of them)
        if best is not None and (score >= self.threshold or not reliable):
            chosen = best
            if reliable:
                self.speakers[chosen].total = self.speakers[chosen].total + emb
                self.speakers[chosen].utterances += 1
        elif emb is None and self.last is not None:
            chosen = self.last  # no voice to tell: a short "嗯" most likely continues the turn
        elif emb is None:
            return None
        else:
            chosen = self._open(emb)
        self.last = chosen
        return self.speakers[chosen].name

    def _open(self, embedding: np.ndarray) -> int:
        name = LABEL.format(n=self._next_number)
        self._next_number += 1
        while self.index(name) is not None:  # a person was already given that name
            name = LABEL.format(n=self._next_number)
            self._next_number += 1
        self.speakers.append(_Speaker(name, embedding.astype(np.float32)))
        return len(self.speakers) - 1

    def state(self, index: int) -> tuple[str, np.ndarray, int]:
        """A speaker's name, the sum of its embeddings and how many: what a restart needs."""
        speaker = self.speakers[index]
        return speaker.name, speaker.total, speaker.utterances

    def restore(self, name: str, total: np.ndarray, utterances: int) -> None:
        """Bring back a speaker from `state`, after those already known."""
        self.speakers.append(_Speaker(name, np.asarray(total, dtype=np.float32), utterances))

    def rename(self, index: int, name: str) -> bool:
        """Give a speaker a person's name; refused (False) if another speaker has it."""
        other = self.index(name)
        if other is not None and other != index:
            return False
        self.speakers[index].name = name
        return True

    def merge(self, source: int, into: int) -> None:
        """One person heard as two voices: `source` joins `into` (their sums add up, so either
        voice is recognised as `into` from now on) and leaves the list; later indices shift."""
        if source == into:
            return
        gone = self.speakers[source]
        kept = self.speakers[into]
        kept.total = kept.total + gone.total
        kept.utterances += gone.utterances
        del self.speakers[source]
        if self.last is not None:
            last = into if self.last == source else self.last
            self.last = last - 1 if last > source else last
