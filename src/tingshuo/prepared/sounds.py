"""Text as it sounds: the units a script and a caption are aligned by.

A unit is a stretch of the written text and the syllables (or words) it is read as: one Han
character and its toneless pinyin, a number and the pinyin of its reading (2008年 is read
二零零八, 3.5% 百分之三点五), an English word in lower case. Punctuation and spaces are no
unit: they lie between units and are copied from the script where its writing is shown.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from pypinyin import Style, lazy_pinyin

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_UNIT = re.compile(
    rf"(?P<num>\d+(?:[.,]\d+)*%?)|(?P<word>[A-Za-z]+(?:['’][A-Za-z]+)*)|(?P<han>[{_HAN}]+)"
)
# sounds Whisper and speakers confuse most: flat and retroflex, front and back nasals, n/l, f/h
_FUZZY = [
    (re.compile(r"^(z|c|s)h"), r"\1"),
    (re.compile(r"(i|e)ng$"), r"\1n"),
    (re.compile(r"^l"), "n"),
    (re.compile(r"^f"), "h"),
]


@dataclass(frozen=True)
class Unit:
    start: int  # where it is written: text[start:end]
    end: int
    sounds: tuple[str, ...]  # toneless pinyin syllables, or one lower-case word


def units(text: str) -> list[Unit]:
    """The units of `text`, in order."""
    out: list[Unit] = []
    for m in _UNIT.finditer(text):
        if m.group("han"):
            run = m.group("han")
            for k, syllable in enumerate(_pinyin(run)):
                out.append(Unit(m.start() + k, m.start() + k + 1, (syllable,)))
        elif m.group("num"):
            after = text[m.end() : m.end() + 1]
            out.append(Unit(m.start(), m.end(), tuple(_pinyin(_reading(m.group("num"), after)))))
        else:
            out.append(Unit(m.start(), m.end(), (m.group("word").lower().replace("’", "'"),)))
    return out


@functools.lru_cache(maxsize=65536)
def fuzzy(sound: str) -> str:
    """A syllable with the distinctions that are most often lost merged away."""
    for pattern, repl in _FUZZY:
        sound = pattern.sub(repl, sound)
    return sound


def _pinyin(han: str) -> list[str]:
    syllables = lazy_pinyin(han, style=Style.NORMAL, errors=lambda s: ["?"] * len(s))
    return syllables if len(syllables) == len(han) else [*syllables, *["?"] * len(han)][: len(han)]


def _reading(number: str, after: str) -> str:
    """How a number written in digits is read aloud in Mandarin."""
    import cn2an

    digits = number.replace(",", "")
    percent = digits.endswith("%")
    digits = digits.rstrip("%")
    if after == "年" and len(digits) == 4 and digits.isdigit() or len(digits) > 12:
        spoken = "".join("零一二三四五六七八九"[int(d)] if d.isdigit() else "点" for d in digits)
    else:
        try:
            spoken = cn2an.an2cn(digits)
        except (ValueError, KeyError):
            spoken = "".join(
                "零一二三四五六七八九"[int(d)] if d.isdigit() else "点" for d in digits
            )
    return ("百分之" if percent else "") + spoken
