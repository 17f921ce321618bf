"""Speech recognition: engines behind the Recognizer protocol, the commit policy, streaming."""

from __future__ import annotations

from ..models import resolve
from ..settings import Settings
from .base import Recognizer
from .whisper import WhisperRecognizer


def load_recognizer(settings: Settings, model: str | None = None) -> Recognizer:
    """The configured recognizer (a bundled name or a faster-whisper folder), loaded once."""
    folder = resolve(model or settings.asr_model, settings.cache_dir)
    return WhisperRecognizer(folder, settings)
