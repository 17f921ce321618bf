"""tingshuo's Mandarin voice reading given syllables with given tones (drills, training).

The voice reads characters through its own pinyin front end; a drill item typed as pinyin
(ma1, ni3 hao3) or a syllable with a deliberately changed tone needs the phones set
directly. The symbols are built here from the voice's own syllable table and go through its
acoustic model and vocoder under the voice's lock, exactly as its own readings do.
"""

from __future__ import annotations

import numpy as np

from ..errors import TingshuoError
from ..tts.base import Speech, Unit


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
