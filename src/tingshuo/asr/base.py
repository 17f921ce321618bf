"""The Recognizer protocol: what every speech recognition engine offers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

# the languages a meeting in this product mixes; auto-detection chooses among them
AUTO_LANGUAGES = ("zh", "en")


@dataclass(frozen=True)
class Hypothesis:
    text: str
    lang: str
    # a final's other readings that the recognizer weighed (its beam's), tidied, without the
    # text itself: what a second pass chooses among (empty where the engine has none)
    alternatives: tuple[str, ...] = ()


@dataclass(frozen=True)
class Request:
    """One utterance to decode."""

    audio: np.ndarray
    lang: str | None  # None: detect
    hotwords: Sequence[str] = field(default=())
    draft: bool = False  # a partial: cheaper decoding is fine
    live: bool = False  # a live caption's final: time counts as much as the last tenth of CER
    # seconds the VAD heard speech in it (None: all of it): a text longer than this much
    # speech can hold has looped (asr/loops.py)
    speech_s: float | None = None


class Recognizer(Protocol):
    name: str
    languages: frozenset[str]  # codes it can transcribe
    streaming: bool  # whether it decodes incrementally itself (else: VAD + redecode)

    def detect_language(self, audio: np.ndarray, among: Sequence[str]) -> str: ...

    def check_language(self, lang: str | None) -> None:
        """Raise TingshuoError for a language it cannot do (None: detect)."""
        ...

    def recognize(self, request: Request) -> Hypothesis: ...
