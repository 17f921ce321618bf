"""tingshuo's Mandarin voice reading given syllables with given tones (drills, training).

The voice reads characters through its own pinyin front end; a drill item typed as pinyin
(ma1, ni3 hao3) or a syllable with a deliberately changed tone needs the phones set
directly. The symbols are built here from the voice's own syllable table and go through its
acoustic model and vocoder under the voice's lock, exactly as its own readings do.
"""

from __future__ import annotations

import random
import re

import numpy as np

from ..errors import TingshuoError
from ..tts.base import Speech, Unit
from .sandhi import Syllable, has_han, reference_syllables


def read_pinyin(voice, pinyin: list[str]) -> Speech:
    """`voice` (a ZhFastSpeech, or a Voice around one) reading tone-numbered syllables."""
    engine = getattr(voice, "engine", voice)
    if not hasattr(engine, "_syllable") or not pinyin:
        raise TingshuoError("this voice cannot read pinyin: the Mandarin voice is needed")
    from ..tts.zh_fastspeech import HOP

    symbols = ["sil"]
    owner = [-1]
    for k, p in enumerate(pinyin):
        if k:
            symbols.append("#0")
            owner.append(k - 1)
        phones = engine._syllable(p)
        symbols += phones
        owner += [k] * len(phones)
    symbols.append("sil")
    owner.append(-1)
    try:
        ids = [engine._ids[s] for s in symbols] + [engine._ids["eos"]]
    except KeyError as e:
        raise TingshuoError(f"the voice cannot say {' '.join(pinyin)!r}") from e
    with engine._lock:
        mel, durations = engine._text2mel(ids)
        audio = engine._mel2audio(mel)
    rate = engine.sample_rate
    edges = np.concatenate([[0], np.cumsum(np.maximum(durations[: len(symbols)], 0))]) * HOP / rate
    audio = audio[: int(edges[-1] * rate) or None]
    units = []
    for k, p in enumerate(pinyin):
        idx = [i for i, o in enumerate(owner) if o == k and symbols[i] != "#0"]
        units.append(Unit(p, float(edges[idx[0]]), float(edges[idx[-1] + 1])))
    return Speech(" ".join(pinyin), "zh", engine.name, rate, audio.astype(np.float32), units)


def read_prompt(voice, text: str) -> Speech:
    """The model reading of a prompt: Hanzi through the voice's own front end; a pinyin
    prompt (ma3, ni3 hao3) with exactly the tones asked for."""
    if has_han(text):
        return voice.say(text)
    return read_pinyin(voice, [s.numbered for s in reference_syllables(text)])


def read_with_tones(voice, text: str, tones: list[int]):
    """The voice (a ZhFastSpeech) reading `text` with the given tone per Han character, at
    16 kHz: its own front end, with each syllable's tone replaced (wrong-tone readings)."""
    from ..audio.decode import SAMPLE_RATE
    from ..tts.audio_out import resample

    original = voice.phones

    def phones(spoken: str) -> list[tuple[str, list[str]]]:
        units = original(spoken)
        spoken_units = [u for u in units if u[0]]
        if len(spoken_units) != len(tones):
            raise TingshuoError("the voice's units do not match the syllables")
        it = iter(tones)
        out = []
        for unit_text, unit_phones in units:
            if unit_text:
                tone = next(it)
                unit_phones = [*unit_phones[:-1], re.sub(r"\d$", str(tone), unit_phones[-1])]
            out.append((unit_text, unit_phones))
        return out

    voice.phones = phones  # this reading only: the experiment sets the tones
    try:
        speech = voice.synthesize(text)
    finally:
        voice.phones = original
    return resample(speech.audio, speech.sample_rate, SAMPLE_RATE)


def changed_tones(expected: list[Syllable], rng: random.Random) -> tuple[list[int], set[int]]:
    """Another full tone for a third of the toned syllables (random): the tones and where."""
    candidates = [i for i, s in enumerate(expected) if s.tone != 5]
    changed = set(rng.sample(candidates, max(1, len(candidates) // 3))) if candidates else set()
    tones = [
        rng.choice([t for t in (1, 2, 3, 4) if t != s.tone]) if i in changed else s.tone
        for i, s in enumerate(expected)
    ]
    return tones, changed
