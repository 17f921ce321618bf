"""The Synthesizer protocol: text in, audio plus per-unit timings out.

A *unit* is what a subtitle highlights and a mouth follows: a character (with its pinyin) in
Mandarin, a word in English. Each unit carries its phones with times, so the anchor can pick
mouth shapes without knowing which engine spoke.
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Phone:
    symbol: str  # engine's own phone: Baker pinyin part ("zh", "ong1") or IPA ("ɛ")
    start: float  # seconds from the start of the speech
    end: float


@dataclass(frozen=True)
class Unit:
    text: str  # as the listener reads it: "欢" / "welcome"
    start: float
    end: float
    phones: tuple[Phone, ...] = ()


@dataclass
class Speech:
    """Audio for one piece of text, with the units it says in order."""

    text: str
    lang: str
    voice: str
    sample_rate: int
    audio: np.ndarray  # float32 mono in [-1, 1]
    units: list[Unit] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return self.audio.size / self.sample_rate

    def shifted(self, offset: float) -> list[Unit]:
        """Units on a timeline where this speech starts at `offset` seconds."""
        return [
            Unit(
                u.text,
                u.start + offset,
                u.end + offset,
                tuple(Phone(p.symbol, p.start + offset, p.end + offset) for p in u.phones),
            )
            for u in self.units
        ]


class Synthesizer(Protocol):
    name: str  # the voice: "zh-baker-fastspeech2", "en-joe-piper", "espeak-ng:zh"
    languages: frozenset[str]
    sample_rate: int
    timings: str  # what its units are: "character", "word"

    def synthesize(self, sentence: str) -> Speech:
        """One sentence, already normalised for reading. Raises TingshuoError if unsayable."""
        ...


# sentence ends; a pause inside the sentence (，；：) stays inside it
_SENTENCE_END = re.compile(r"(?<=[。！？!?；;…])\s*|(?<=[.])\s+(?=[A-Z\"'“‘(\d])|\n+")


def split_sentences(text: str, max_chars: int = 80, first_chars: int = 24) -> list[str]:
    """Sentences in reading order; over-long ones are cut at commas, or at word boundaries
    where they have none (a voice model has a longest input), and the first one already
    past `first_chars`, so the first audio comes quickly."""
    pieces: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        sentence = sentence.strip()
        if not sentence:
            continue
        while len(sentence) > max_chars:
            cut = max(sentence.rfind(c, 0, max_chars) for c in "，,、：:")
            if cut <= 0:
                break
            pieces.append(sentence[: cut + 1].strip())
            sentence = sentence[cut + 1 :].strip()
        if sentence:
            pieces += split_words(sentence, max_chars)
    if pieces and len(pieces[0]) > first_chars:
        first = pieces[0]
        cuts = [i for i, c in enumerate(first) if c in "，,、：:；;" and 6 <= i < len(first) - 6]
        if cuts:
            pieces[0:1] = [first[: cuts[0] + 1].strip(), first[cuts[0] + 1 :].strip()]
    return pieces


def words(text: str) -> list[str]:
    """`text` as words, spaces kept, joining back to `text`: jieba's words where it is
    Chinese, else runs up to and including whitespace."""
    if re.search(r"[\u3400-\u9fff]", text):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # jieba imports the deprecated pkg_resources
            import jieba

        jieba.setLogLevel(logging.WARNING)
        return jieba.lcut(text, HMM=False)
    return re.findall(r"\S+\s*|\s+", text)


def split_words(text: str, max_chars: int) -> list[str]:
    """`text` in pieces of at most `max_chars` (of about equal length), cut between words;
    a single longer word is cut where it must."""
    if len(text) <= max_chars:
        return [text]
    target = math.ceil(len(text) / math.ceil(len(text) / max_chars))
    pieces: list[str] = []
    current = ""
    for word in words(text):
        if current and (len(current) >= target or len(current) + len(word) > max_chars):
            pieces.append(current)
            current = ""
        current += word
        while len(current) > max_chars:
            pieces.append(current[:max_chars])
            current = current[max_chars:]
    if current:
        pieces.append(current)
    return [p.strip() for p in pieces if p.strip()]


def concatenate(parts: list[Speech], pause_s: float) -> Speech:
    """One Speech from sentence Speeches, `pause_s` of silence between them."""
    if not parts:
        raise ValueError("nothing to concatenate")
    rate = parts[0].sample_rate
    gap = np.zeros(round(pause_s * rate), dtype=np.float32)
    audio: list[np.ndarray] = []
    units: list[Unit] = []
    offset = 0.0
    for i, part in enumerate(parts):
        if i:
            audio.append(gap)
            offset += gap.size / rate
        units += part.shifted(offset)
        audio.append(part.audio.astype(np.float32))
        offset += part.duration
    return Speech(
        text=" ".join(p.text for p in parts)
        if parts[0].lang == "en"
        else "".join(p.text for p in parts),
        lang=parts[0].lang,
        voice=parts[0].voice,
        sample_rate=rate,
        audio=np.concatenate(audio),
        units=units,
    )


def iter_sentences(synth: Synthesizer, sentences: list[str]) -> Iterator[Speech]:
    for sentence in sentences:
        yield synth.synthesize(sentence)
