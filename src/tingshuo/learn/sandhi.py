"""The expected reading of a prompt: one syllable per character, tone sandhi applied.

pypinyin gives each character its dictionary (citation) reading; the tone changes of
connected speech are applied here, in tingshuo's own rules:

- third tone before third tone: every third tone of a run but the last becomes rising
  (你好 ní hǎo, 展览馆 zhán lán guǎn); fluent readers join a run into one unit;
- 一 yī: yí before a fourth tone, yì before the others, but yī when counted or ordinal
  (第一, 十一, 一九九八), at the end of a word or phrase (统一, 之一), and light in 看一看;
- 不 bù: bú before a fourth tone, light between a repeated word (好不好);
- light (neutral) tones come from pypinyin's phrase dictionary (桌子 zi5, 的 de5, 吗 ma5).

Tone-numbered pinyin ("ni3 hao3") is read syllable by syllable and given the third-tone rule
(it has no characters for the others).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

# imported whole here, once, when the module loads (the server's app does, before it serves):
# two request threads importing pypinyin for the first time at once met its circular imports
# half done ("cannot import name 'tone_to_tone2' from partially initialized module")
import pypinyin.contrib.tone_convert  # noqa: F401

from ..errors import TingshuoError

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]+")
_NUMERALS = set("零〇一二三四五六七八九十百千万亿两")
_DIGIT_READING = set("零〇二三四五六七八九")  # after 一 these mean a digit string: 一九九八
# words that end in 一, read yī: 统一, 唯一, 之一, 星期一 (pypinyin's segmenter does not know them)
_YI_ENDS_WORD = set("统唯单专划初周期归合逐之")
# degree words that follow the complement marker 得 (跑得很快, 说得不好)
_AFTER_LIGHT_DE = set("很非越太真特挺不好快慢清多少对")
_PAUSE = set("，。！？；：、,.!?;:…—")
# syllable, optional tone digit (0 and 5 both mean light)
_PINYIN_TOKEN = re.compile(r"([a-zü:v]+)([0-5]?)")

SHAPES = {1: "level", 2: "rising", 3: "dipping", 4: "falling", 5: "light"}
SHAPES_ZH = {1: "平", 2: "升", 3: "降升", 4: "降", 5: "轻"}


@dataclass(frozen=True)
class Syllable:
    """One expected syllable."""

    text: str  # the character, or the pinyin as typed
    pinyin: str  # toneless, ü written v: "lv"
    tone: int  # 1-4, 5 = light; after sandhi
    citation_tone: int  # the dictionary tone, before sandhi
    pause_after: bool = False  # punctuation follows: a pause here is expected

    @property
    def numbered(self) -> str:
        return f"{self.pinyin}{self.tone}"

    @property
    def marked(self) -> str:
        """With a tone mark: ní, lǜ (light tone unmarked)."""
        from pypinyin.contrib.tone_convert import to_tone

        return to_tone(f"{self.pinyin}{self.tone if self.tone < 5 else ''}")

    @property
    def initial(self) -> str:
        return split_syllable(self.pinyin)[0]

    @property
    def final(self) -> str:
        return split_syllable(self.pinyin)[1]


def split_syllable(pinyin: str) -> tuple[str, str]:
    """(initial, final) of a toneless syllable; y/w count as part of the final (yu: "", "v")."""
    from pypinyin.contrib.tone_convert import to_finals, to_initials

    return to_initials(pinyin), to_finals(pinyin)


@lru_cache(maxsize=1)
def valid_syllables() -> frozenset[str]:
    """Every toneless syllable pypinyin knows (ü as v)."""
    from pypinyin.contrib.tone_convert import to_normal
    from pypinyin.pinyin_dict import pinyin_dict

    return frozenset(
        to_normal(p).replace("ü", "v") for v in pinyin_dict.values() for p in v.split(",")
    )


def has_han(text: str) -> bool:
    return bool(_HAN.search(text))


def reference_syllables(text: str) -> list[Syllable]:
    """The syllables a prompt asks for: Hanzi (with sandhi) or tone-numbered pinyin.

    Raises TingshuoError for a prompt with nothing to read.
    """
    text = text.strip()
    if has_han(text):
        return _from_hanzi(text)
    if _LATIN.search(text):
        return _from_pinyin(text)
    raise TingshuoError(
        f"the prompt {text[:30]!r} has no Chinese: give Hanzi (你好) or pinyin with tone "
        "numbers (ni3 hao3)"
    )


def heard_syllables(text: str) -> list[Syllable]:
    """Syllables of what the recognizer wrote (characters only; the rest is ignored)."""
    import cn2an

    try:
        text = cn2an.transform(text, "an2cn")
    except (ValueError, KeyError):  # cn2an gives up on some digit strings: read them as they are
        pass
    return [s for s in _hanzi_syllables(text) if s.text]


def _from_hanzi(text: str) -> list[Syllable]:
    import cn2an

    try:
        text = cn2an.transform(text, "an2cn")  # 2003年 -> 二零零三年, as it is read
    except (ValueError, KeyError):
        pass
    latin = _LATIN.findall(text)
    if latin:
        raise TingshuoError(
            f"the prompt mixes in Latin letters ({' '.join(latin[:3])}): write the whole "
            "prompt in Hanzi or the whole prompt in pinyin"
        )
    return _hanzi_syllables(text)


def _hanzi_syllables(text: str) -> list[Syllable]:
    from pypinyin import Style, lazy_pinyin

    chars: list[str] = []
    pause_after: list[bool] = []
    for c in text:
        if _HAN.match(c):
            chars.append(c)
            pause_after.append(False)
        elif chars and c in _PAUSE:
            pause_after[-1] = True
    if not chars:
        return []
    # pinyin of the whole string at once, so phrase readings (了解 liao3) are chosen
    readings = lazy_pinyin(
        "".join(chars), style=Style.TONE3, neutral_tone_with_five=True, errors="ignore"
    )
    if len(readings) != len(chars):  # never seen; keep a character-by-character reading
        readings = [
            lazy_pinyin(c, style=Style.TONE3, neutral_tone_with_five=True)[0] for c in chars
        ]
    pinyins, tones = [], []
    for c, r in zip(chars, readings, strict=True):
        p, t = r[:-1].replace("ü", "v"), int(r[-1]) if r[-1].isdigit() else 5
        # pypinyin's phrases already carry some 一/不 sandhi: start from the citation tone
        if c == "一":
            t = 1
        elif c == "不":
            t = 4
        pinyins.append(p)
        tones.append(t)
    for i, c in enumerate(chars):
        # 得 as a complement marker (唱得很好, 说得越来越好) is light; pypinyin says dé
        if c == "得" and i + 1 < len(chars) and chars[i + 1] in _AFTER_LIGHT_DE:
            tones[i] = 5
    citation = list(tones)
    tones = _yi_bu(chars, tones, pause_after)
    tones = _third_tones(tones, pause_after)
    return [
        Syllable(c, p, t, ct, pa)
        for c, p, t, ct, pa in zip(chars, pinyins, tones, citation, pause_after, strict=True)
    ]


def _yi_bu(chars: list[str], tones: list[int], pause_after: list[bool]) -> list[int]:
    out = list(tones)
    n = len(chars)
    for i, c in enumerate(chars):
        if c not in "一不":
            continue
        prev = chars[i - 1] if i > 0 else ""
        nxt = chars[i + 1] if i + 1 < n else ""
        last_of_phrase = i + 1 >= n or pause_after[i]
        if prev and prev == nxt and not pause_after[i] and (i == 0 or not pause_after[i - 1]):
            out[i] = 5  # 看一看, 好不好
            continue
        if c == "一":
            if (
                last_of_phrase
                or prev == "第"
                or prev in _NUMERALS
                or nxt in _DIGIT_READING
                or nxt == "月"
                or prev in _YI_ENDS_WORD
            ):
                out[i] = 1
            else:
                out[i] = 2 if tones[i + 1] in (4, 5) or nxt == "个" else 4
        else:  # 不
            out[i] = 2 if not last_of_phrase and tones[i + 1] == 4 else 4
    return out


def _third_tones(tones: list[int], pause_after: list[bool]) -> list[int]:
    """In a run of third tones inside one phrase, all but the last become second tones."""
    out = list(tones)
    for i in range(len(tones) - 1):
        if tones[i] == 3 and tones[i + 1] == 3 and not pause_after[i]:
            out[i] = 2
    return out


def _from_pinyin(text: str) -> list[Syllable]:
    from pypinyin.contrib.tone_convert import to_tone3

    syllables: list[Syllable] = []
    valid = valid_syllables()
    for phrase in re.split(r"[,，.。!！?？;；:：、]+", text.strip()):
        for token in re.split(r"[\s'’\-]+", phrase):
            if not token:
                continue
            token = token.lower()
            if any(not c.isascii() and c != "ü" for c in token):  # tone marks: nǐ
                token = to_tone3(token, neutral_tone_with_five=True, v_to_u=False)
            token = token.replace("ü", "v").replace("u:", "v")
            pos = 0
            for m in _PINYIN_TOKEN.finditer(token):
                if m.start() != pos or m.group(1) not in valid:
                    break
                pos = m.end()
                tone = int(m.group(2)) if m.group(2) else 5
                tone = 5 if tone == 0 else tone
                syllables.append(Syllable(m.group(0), m.group(1), tone, tone))
            if pos != len(token):
                raise TingshuoError(
                    f"the prompt has no Chinese: {token!r} is not pinyin; give Hanzi (你好) or "
                    "pinyin with tone numbers (ni3 hao3, 5 for a light tone)"
                )
        if syllables:
            syllables[-1] = _with_pause(syllables[-1], True)
    if not syllables:
        raise TingshuoError("the prompt has no syllables to read")
    tones = _third_tones([s.tone for s in syllables], [s.pause_after for s in syllables])
    return [
        Syllable(s.text, s.pinyin, t, s.citation_tone, s.pause_after)
        for s, t in zip(syllables, tones, strict=True)
    ]


def _with_pause(s: Syllable, pause: bool) -> Syllable:
    return Syllable(s.text, s.pinyin, s.tone, s.citation_tone, pause)
