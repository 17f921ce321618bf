"""Speech synthesis: one engine per file behind the Synthesizer protocol, and `Voice`, which
reads a whole line sentence by sentence (first audio comes quickly) with a cache by
text and voice."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import TingshuoError
from ..settings import Settings
from .base import Phone, Speech, Synthesizer, Unit, concatenate, split_sentences

__all__ = [
    "Phone",
    "Speech",
    "Synthesizer",
    "Unit",
    "Voice",
    "check_lang",
    "load_voice",
    "make_voice",
]

log = logging.getLogger(__name__)

# engines with a real voice; any other code goes to espeak-ng if it has a voice for it
ENGINES = {"zh": "zh-baker-fastspeech2", "en": "en-joe-piper"}
# bump when an engine's output or timings change: cached speech from before is ignored
CACHE_VERSION = 4


def check_lang(lang: str) -> str:
    code = (lang or "").strip().lower().replace("_", "-")
    code = {"cmn": "zh", "zh-cn": "zh", "zh-hans": "zh", "en-us": "en", "en-gb": "en"}.get(
        code, code
    )
    if not code or not code.replace("-", "").isalpha() or len(code.split("-")[0]) not in (2, 3):
        raise TingshuoError(f"unknown language {lang!r}: use zh, en (or another espeak-ng code)")
    return code


@lru_cache(maxsize=8)
def _engine(
    lang: str, cache_dir: Path, threads: int, fallback: bool, pace: float = 1.2
) -> Synthesizer:
    if fallback or lang not in ENGINES:
        from .espeak import EspeakVoice

        return EspeakVoice(lang)
    if lang == "zh":
        from .zh_fastspeech import ZhFastSpeech

        return ZhFastSpeech(cache_dir, threads, pace)
    from .piper_en import PiperEnglish

    return PiperEnglish()


class Voice:
    """A synthesizer plus sentence splitting, pauses and the cache."""

    def __init__(self, engine: Synthesizer, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self._memory: OrderedDict[str, Speech] = OrderedDict()
        self._lock = threading.Lock()
        self._disk = settings.cache_dir / "tts" / engine.name if settings.tts_disk_cache else None

    @property
    def name(self) -> str:
        return self.engine.name

    def sentences(self, text: str) -> list[str]:
        text = (text or "").strip()
        if not text:
            raise TingshuoError("nothing to say: the text is empty")
        if len(text) > self.settings.tts_max_chars:
            raise TingshuoError(
                f"a line of {len(text)} characters is too long to speak at once "
                f"(limit {self.settings.tts_max_chars}): split it into shorter lines"
            )
        return split_sentences(text)

    def stream(self, text: str) -> Iterator[Speech]:
        """Speech for each sentence as soon as it is ready."""
        for sentence in self.sentences(text):
            yield self.sentence(sentence)

    def say(self, text: str) -> Speech:
        """The whole line as one Speech, sentences joined by a short pause."""
        return concatenate(list(self.stream(text)), self.settings.tts_pause_s)

    def sentence(self, sentence: str) -> Speech:
        pace = getattr(self.engine, "pace", "")  # a different pace is a different sound
        key = f"{CACHE_VERSION}\n{self.engine.name}\n{pace}\n{sentence}"
        key = hashlib.sha256(key.encode()).hexdigest()[:32]
        with self._lock:
            if key in self._memory:
                self._memory.move_to_end(key)
                return self._memory[key]
        speech = self._load(key, sentence)
        if speech is None:
            speech = self.engine.synthesize(sentence)
            self._store(key, speech)
        with self._lock:
            self._memory[key] = speech
            while len(self._memory) > self.settings.tts_cache_size:
                self._memory.popitem(last=False)
        return speech

    def _load(self, key: str, sentence: str) -> Speech | None:
        if self._disk is None:
            return None
        path = self._disk / f"{key}.npz"
        try:
            with np.load(path) as data:
                meta = json.loads(str(data["meta"]))
                audio = data["audio"].astype(np.float32)
        except (OSError, KeyError, ValueError):
            return None
        if meta.get("text") != sentence:
            return None
        units = [Unit(u[0], u[1], u[2], tuple(Phone(*p) for p in u[3])) for u in meta["units"]]
        return Speech(sentence, meta["lang"], self.engine.name, meta["rate"], audio, units)

    def _store(self, key: str, speech: Speech) -> None:
        if self._disk is None:
            return
        meta = {
            "text": speech.text,
            "lang": speech.lang,
            "rate": speech.sample_rate,
            "units": [
                [u.text, u.start, u.end, [[p.symbol, p.start, p.end] for p in u.phones]]
                for u in speech.units
            ],
        }
        try:
            self._disk.mkdir(parents=True, exist_ok=True)
            tmp = self._disk / f"{key}.tmp.npz"
            np.savez(tmp, audio=speech.audio.astype(np.float16), meta=json.dumps(meta))
            tmp.replace(self._disk / f"{key}.npz")
        except OSError as e:  # a read-only cache only costs speed
            log.warning("cannot cache speech in %s: %s", self._disk, e.strerror)


_voices: dict[tuple, Voice] = {}
_voices_lock = threading.Lock()


def make_voice(lang: str, settings: Settings, fallback: bool = False) -> Voice:
    """A new voice for a language: zh and en have real voices; other languages (or
    `fallback=True`) use espeak-ng. A server holds its voices in `live.models.Models`."""
    code = check_lang(lang)
    engine = _engine(code, settings.cache_dir, settings.tts_threads, fallback, settings.tts_zh_pace)
    return Voice(engine, settings)


def load_voice(lang: str, settings: Settings, fallback: bool = False) -> Voice:
    """The voice for a language, made once per command-line process (see `make_voice`)."""
    code = check_lang(lang)
    key = (
        code,
        settings.cache_dir,
        settings.tts_threads,
        settings.tts_disk_cache,
        settings.tts_zh_pace,
        fallback,
    )
    with _voices_lock:
        if key not in _voices:
            _voices[key] = make_voice(code, settings, fallback)
        return _voices[key]
