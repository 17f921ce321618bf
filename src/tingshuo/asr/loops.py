"""Whisper's loops: a phrase said over and over, one character or symbol held on, more words
than the speech had time for. Found in what a decode wrote, so that the recognizer can
decode again with repeats suppressed (asr/whisper.py); and cut out of any text that still
has one, since a loop on a hall's screen is worse than a missing caption."""

from __future__ import annotations

import re
from dataclasses import dataclass

# a phrase (2 characters or 2 words or more) said this many times in a row is a loop
PHRASE_REPEATS = 3
# one character held on: a run longer than this is a loop ("对对对" is speech)
CHARACTER_RUN = 3
# the fastest speech a caption may hold, per second the VAD heard speech, plus a margin:
# news is read at about 5 characters (3 words) a second
_RATES = {"zh": (9.0, 6), "yue": (9.0, 6), "ja": (9.0, 6), "en": (4.5, 3)}
_OTHER_RATE = (4.5, 3)  # spaced languages: words

_WORD = re.compile(r"[^\W_]", re.UNICODE)
_MARKS = ",.;:!?，。；：！？、"
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")


@dataclass(frozen=True)
class _Unit:
    """A character (unspaced scripts) or a word (spaced ones), and where it sits in the text."""

    key: str
    start: int
    end: int


def _units(text: str) -> list[_Unit]:
    units: list[_Unit] = []
    word_start: int | None = None
    for i, ch in enumerate(text):
        if _WORD.match(ch) and not _CJK.match(ch):
            if word_start is None:
                word_start = i
            continue
        if word_start is not None:
            units.append(_Unit(text[word_start:i].lower(), word_start, i))
            word_start = None
        if _CJK.match(ch):
            units.append(_Unit(ch, i, i + 1))
    if word_start is not None:
        units.append(_Unit(text[word_start:].lower(), word_start, len(text)))
    return units


def _repeat(keys: list[str]) -> tuple[int, int, int] | None:
    """The first loop among `keys`: (where it starts, its unit's length, how many times it is
    said in full), or None."""
    n = len(keys)
    for i in range(n):
        # phrases before a held character: "谢谢谢谢谢谢" is 谢谢 said three times
        for size in [*range(2, (n - i) // 2 + 1), 1]:
            times = 1
            while keys[i + times * size : i + (times + 1) * size] == keys[i : i + size]:
                times += 1
            if size == 1 and times > CHARACTER_RUN or size > 1 and times >= PHRASE_REPEATS:
                return i, size, times
    return None


def _symbol_runs(text: str) -> str:
    """A symbol repeated ("《《《《", "。。。") written once; "……", "——" and "..." kept."""
    text = re.sub(r"([^\w\s….—])\1+", r"\1", text)
    text = re.sub(r"([…—])\1{2,}", r"\1\1", text)
    return re.sub(r"\.{4,}", "...", text)


def loops(text: str) -> bool:
    """Whether `text` repeats a phrase, holds a character or a symbol on, or has no words."""
    if not text.strip():
        return False
    if _symbol_runs(text) != text:
        return True
    keys = [u.key for u in _units(text)]
    return not keys or _repeat(keys) is not None


def unloop(text: str) -> str:
    """`text` with every loop said once (a held character kept to `CHARACTER_RUN`), a last
    saying cut short dropped with it, symbol runs written once, and nothing if no word is."""
    text = _symbol_runs(text)
    while True:
        units = _units(text)
        if not units:
            return ""
        keys = [u.key for u in units]
        found = _repeat(keys)
        if found is None:
            return text.strip()
        i, size, times = found
        if size > 1:
            i, times = _at_clause(text, units, keys, i, size, times)
        end = i + times * size
        tail = keys[end : end + size - 1]
        if tail and end + len(tail) == len(keys) and keys[i : i + len(tail)] == tail:
            end = len(keys)
        keep = CHARACTER_RUN if size == 1 else size
        # from the end of what is kept to the end of the last saying: the marks after the
        # last saying stay, so the caption still ends as it did
        text = text[: units[i + keep - 1].end] + text[units[end - 1].end :]


def _at_clause(
    text: str, units: list[_Unit], keys: list[str], i: int, size: int, times: int
) -> tuple[int, int]:
    """The loop found at `i` may be read from any of its units ("死了我死了我" is also
    "我死了我死了"): from the first whose saying ends with a mark, so that what is kept is
    a whole clause. Where it starts and how many times it is said from there."""
    for j in range(i, i + size):
        count = 1
        while keys[j + count * size : j + (count + 1) * size] == keys[j : j + size]:
            count += 1
        end = units[j + size - 1].end
        if count >= PHRASE_REPEATS and end < len(text) and text[end] in _MARKS:
            return j, count
    return i, times


def said_twice(text: str) -> str:
    """A text that says the same words (3 characters or more) over again, the last time
    perhaps cut short, and nothing else but punctuation: said once (a shortened window now
    and then makes Whisper say an utterance twice). Any other text as it is."""
    bare = re.sub(r"[\W_]+", "", text)
    unit = next(
        (
            n
            for n in range(3, len(bare) // 2 + 1)
            if bare[n:] == (bare[:n] * (len(bare) // n + 1))[: len(bare) - n]
        ),
        0,
    )
    if not unit:
        return text
    # the first saying of it, with its own punctuation
    end, seen = 0, 0
    while seen < unit and end < len(text):
        if re.match(r"[\W_]", text[end]) is None:
            seen += 1
        end += 1
    while end < len(text) and re.match(r"[\W_]", text[end]):
        end += 1
    return text[:end].strip()


def most_units(lang: str, speech_s: float) -> int:
    """The most characters (or words, in a spaced language) `speech_s` seconds of speech can
    hold: a decode that writes more has looped or heard what was not said."""
    rate, margin = _RATES.get(lang, _OTHER_RATE)
    return int(rate * speech_s) + margin


def count_units(text: str) -> int:
    return len(_units(text))


def too_long(text: str, lang: str, speech_s: float | None) -> bool:
    return speech_s is not None and count_units(text) > most_units(lang, speech_s)


def cut_to(text: str, lang: str, speech_s: float) -> str:
    """`text` cut to what `speech_s` seconds of speech can hold, at a clause's end where
    one comes after at least half of it."""
    units = _units(text)
    most = most_units(lang, speech_s)
    if len(units) <= most:
        return text
    end = units[most - 1].end
    clause = max(text.rfind(mark, 0, end + 1) for mark in "。！？!?.，,；;")
    if clause >= units[most // 2].start:
        end = clause + 1
    return text[:end].strip()
