"""Numbers around the model: Chinese scales (万, 亿) and Western ones (million, billion).

The bundled model reads 12亿 as "12 billion" and 3.5 billion as "3.5亿" in most sentences,
yet it copies a number it is given in the target language's own notation. So the source is
rewritten before translation (12亿 → "1.2 billion", 3.5 billion → "35亿"), and afterwards every
number of the source is looked for, by value, in the output; a value that came out with the
wrong power of ten is put right in place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
              "七": 7, "八": 8, "九": 9}  # fmt: skip
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN_SCALES = {"万": Decimal(10) ** 4, "亿": Decimal(10) ** 8, "万亿": Decimal(10) ** 12}
_EN_SCALES = {
    "thousand": Decimal(10) ** 3,
    "million": Decimal(10) ** 6,
    "billion": Decimal(10) ** 9,
    "bn": Decimal(10) ** 9,
    "trillion": Decimal(10) ** 12,
}
_EN_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty".split())}  # fmt: skip
_EN_WORDS.update({"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
                  "eighty": 80, "ninety": 90})  # fmt: skip
_SCALE_WORDS = {**_EN_WORDS, "a": 1}  # "a million"
_MONTHS = {m: i + 1 for i, m in enumerate(
    "January February March April May June July August September October November "
    "December".split())}  # fmt: skip
_CURRENCY_ZH = {"$": "美元", "US$": "美元", "DOLLARS": "美元", "USD": "美元", "€": "欧元",
                "EUROS": "欧元", "£": "英镑", "YUAN": "元", "RMB": "元", "¥": "元"}  # fmt: skip

_FULLWIDTH = str.maketrans("０１２３４５６７８９．％", "0123456789.%")

_NUM = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_CN_NUM = "零〇一二两三四五六七八九十百千"
# not inside a word or code ("LP700", "v2.5") nor the tail of another number
_START = r"(?<![A-Za-z0-9.,])"
_ARABIC = re.compile(
    rf"{_START}(?P<cur>(?:US\$|\$|€|£|¥)\s?)?(?P<num>{_NUM})"
    r"(?:\s?(?P<more1>多|余)?(?P<mul>[百千])?(?P<cn>万亿|亿|万)(?P<more2>多|余)?"
    r"(?P<tail>(?<=万)\d{1,4}(?!\d))?"  # 2万4801 = 24801
    rf"|\s?(?P<en>{'|'.join(_EN_SCALES)})(?![A-Za-z])(?P<cur2>\s(?:dollars|USD|yuan|RMB|euros))?)?",
)
_CHINESE = re.compile(
    rf"[一二两三四五六七八九十][{_CN_NUM}]*(?:点[{_CN_NUM}]+)?(?:万亿|亿|万)"
    rf"(?:[{_CN_NUM}]+(?:万)?)?(?P<more>多|余)?"
)
_WORD_SCALE = re.compile(
    rf"(?<![A-Za-z])(?P<word>{'|'.join(k for k in _SCALE_WORDS if k != 'zero')})\s"
    rf"(?P<en>thousand|million|billion|trillion)(?![A-Za-z])",
    re.IGNORECASE,
)
# ASCII word edges: a Chinese character right after "billion" is no part of the word
_WORD = re.compile(rf"(?<![A-Za-z])(?:{'|'.join(_EN_WORDS)})(?![A-Za-z])", re.IGNORECASE)
_MONTH = re.compile(rf"(?<![A-Za-z])(?:{'|'.join(_MONTHS)})(?![A-Za-z])")
_CN_YEAR = re.compile(r"[零〇一二三四五六七八九]{4}(?=年)")
_PERCENT_CN = re.compile(rf"百分之([{_CN_NUM}]+(?:点[{_CN_NUM}]+)?)")
# idioms that look like numbers: 十万火急 "most urgent"
_IDIOM_AFTER = ("火急",)


@dataclass(frozen=True)
class Quantity:
    start: int
    end: int
    value: Decimal
    more_than: bool = False  # 30余万, 一万多
    prefix: str = ""  # a currency sign as written: "$", "US$ "
    suffix: str = ""  # a currency word as written: " dollars"

    @property
    def currency_zh(self) -> str:
        return _CURRENCY_ZH.get(self.prefix.strip() or self.suffix.strip().upper(), "")


class _Approximate(ValueError):
    """七八十, 两三万: a range, not one number; left for the model."""


def _cn_int(text: str) -> int:
    """三百二十 → 320; 二〇二二 → 2022 (digit by digit when there are no units)."""
    if not any(c in _CN_UNITS for c in text):
        if len(text) > 1 and len(text) != 4 and not set(text) & {"零", "〇"}:
            raise _Approximate(text)  # 两三, 一二: years are the only digit strings
        return int("".join(str(_CN_DIGITS[c]) for c in text)) if text else 0
    total, digit = 0, 0
    for i, c in enumerate(text):
        if c in _CN_DIGITS:
            if i and text[i - 1] in _CN_DIGITS and text[i - 1] not in "零〇":
                raise _Approximate(text)
            digit = _CN_DIGITS[c]
        else:
            total += (digit or 1) * _CN_UNITS[c]
            digit = 0
    return total + digit


def _cn_number(text: str) -> Decimal:
    """一点五亿, 两千三百万, 一亿二千万, 三百万 → their value."""
    if "点" in text:
        head, rest = text.split("点", 1)
        frac = "".join(str(_CN_DIGITS[c]) for c in rest if c in _CN_DIGITS)
        scale = next((_CN_SCALES[s] for s in ("万亿", "亿", "万") if text.endswith(s)), 1)
        return Decimal(f"{_cn_int(head)}.{frac}") * scale
    value = Decimal(0)
    for mark in ("亿", "万"):
        if mark in text:
            head, text = text.split(mark, 1)
            # 万亿: the part before 万 multiplies 10^12 when 亿 follows directly
            value += _cn_int_or_scaled(head) * _CN_SCALES[mark]
    return value + _cn_int(text) if text else value


def _cn_int_or_scaled(text: str) -> Decimal:
    if "万" in text:
        head, rest = text.split("万", 1)
        return _cn_int(head) * _CN_SCALES["万"] + _cn_int(rest)
    return Decimal(_cn_int(text))


def _decimal(num: str) -> Decimal:
    return Decimal(num.replace(",", ""))


def find(text: str) -> list[Quantity]:
    """Every number in `text` with its value, in order; Chinese and English notations alike."""
    found: list[Quantity] = []
    taken: list[tuple[int, int]] = []

    def add(q: Quantity) -> None:
        if not any(q.start < e and s < q.end for s, e in taken):
            found.append(q)
            taken.append((q.start, q.end))

    for m in _CHINESE.finditer(text):
        if text.startswith(_IDIOM_AFTER, m.end()):
            continue
        try:
            value = _cn_number(m.group(0).rstrip("多余"))
        except _Approximate:
            taken.append((m.start(), m.end()))  # nor may a part of it count as a number
            continue
        add(Quantity(m.start(), m.end(), value, bool(m.group("more"))))
    for m in _ARABIC.finditer(text):
        value = _decimal(m.group("num"))
        if m.group("cn"):
            value *= _CN_SCALES[m.group("cn")] * {"百": 100, "千": 1000}.get(m.group("mul"), 1)
            if m.group("tail"):
                value += int(m.group("tail"))
        elif m.group("en"):
            value *= _EN_SCALES[m.group("en").lower()]
        more = bool(m.group("more1") or m.group("more2"))
        add(Quantity(m.start(), m.end(), value, more, m.group("cur") or "", m.group("cur2") or ""))
    for m in _WORD_SCALE.finditer(text):
        word = _SCALE_WORDS[m.group("word").lower()]
        add(Quantity(m.start(), m.end(), word * _EN_SCALES[m.group("en").lower()]))
    for m in _CN_YEAR.finditer(text):
        add(Quantity(m.start(), m.end(), Decimal(_cn_int(m.group(0)))))
    for m in _PERCENT_CN.finditer(text):
        try:
            add(Quantity(m.start(), m.end(), _cn_number(m.group(1))))
        except _Approximate:
            continue
    for m in _WORD.finditer(text):
        add(Quantity(m.start(), m.end(), Decimal(_EN_WORDS[m.group(0).lower()])))
    for m in _MONTH.finditer(text):
        add(Quantity(m.start(), m.end(), Decimal(_MONTHS[m.group(0)])))
    return sorted(found, key=lambda q: q.start)


def _plain(value: Decimal) -> str:
    """A Decimal without exponent or trailing zeros: 1.20 → 1.2, 5E+1 → 50."""
    text = format(value.normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def to_en(value: Decimal, more_than: bool = False) -> str:
    """1.7e6 → "1.7 million"; 268000 → "268,000"; 1.2e9 → "1.2 billion"."""
    for word, scale in (("trillion", 12), ("billion", 9), ("million", 6)):
        if value >= Decimal(10) ** scale:
            text = f"{_plain(value / Decimal(10) ** scale)} {word}"
            break
    else:
        whole = value == value.to_integral_value()
        # 268,000 but 2022: four-digit numbers are often years
        text = f"{int(value):,}" if whole and value >= 10_000 else _plain(value)
    return f"more than {text}" if more_than else text


def to_zh(value: Decimal, more_than: bool = False) -> str:
    """3.5e9 → 35亿; 1.7e6 → 170万; 2.5e12 → 2.5万亿; below 10,000: digits."""
    for mark, scale in (("万亿", 12), ("亿", 8), ("万", 4)):
        if value >= Decimal(10) ** scale:
            text = f"{_plain(value / Decimal(10) ** scale)}{mark}"
            break
    else:
        text = _plain(value)
    return f"{text}多" if more_than else text


def normalize_digits(text: str) -> str:
    """Full-width digits (２０１６年) become ASCII so that they are found and kept."""
    return text.translate(_FULLWIDTH)


_DATE_ZH = re.compile(r"(?:(?<!\d)(\d{4})年)?(?<!\d)(1[0-2]|0?[1-9])月([12]\d|3[01]|0?[1-9])[日号]")


def _date_en(m: re.Match[str]) -> str:
    """2022年5月20日 → May 20, 2022: the model copies a date it is given in English."""
    month = next(k for k, v in _MONTHS.items() if v == int(m.group(2)))
    day = f"{month} {int(m.group(3))}"
    return f"{day}, {m.group(1)}" if m.group(1) else day


def rewrite(text: str, src: str, tgt: str) -> str:
    """Write the source's scaled numbers in the target language's own notation.

    zh→en: 12亿 → 1.2 billion, 26.8万 → 268,000, 三百万 → 3 million, 百分之三十 → 30%,
    2022年5月20日 → May 20, 2022.
    en→zh: 3.5 billion → 35亿, $4.2 billion → 42亿美元, 1.7 million → 170万.
    Plain numbers (2016, 12.5%, 13) are left for the model, which copies them.
    """
    text = normalize_digits(text)
    if src == "zh" and tgt == "en":
        text = _DATE_ZH.sub(_date_en, text)
    out: list[str] = []
    pos = 0
    for q in find(text):
        span = text[q.start : q.end]
        if src == "en" and tgt == "zh":
            if not re.search(r"\d.*[a-z]|[a-z]+ [a-z]", span):  # only scaled ones
                continue
            new = to_zh(q.value, q.more_than) + q.currency_zh
        elif src == "zh" and tgt != "zh":
            if span.startswith("百分之"):
                new = f"{_plain(q.value)}%"
            elif re.fullmatch("[零〇一二三四五六七八九]{4}", span):  # 二〇二二(年)
                new = _plain(q.value)
            elif re.search("[万亿]", span):
                new = q.prefix + to_en(q.value, q.more_than)
            else:
                continue
        else:
            continue
        out.append(text[pos : q.start])
        out.append(new)
        pos = q.end
    out.append(text[pos:])
    return "".join(out)


def significant(text: str) -> list[Decimal]:
    """The values a translation must keep: anything but small whole numbers (often words)."""
    values = []
    for q in find(normalize_digits(text)):
        if q.value >= 10 or q.value != q.value.to_integral_value() or q.more_than:
            values.append(q.value)
    return values


def missing(source: str, output: str) -> list[Decimal]:
    """Values of `source` that appear nowhere in `output` (a date said twice in the source
    is often said once in a translation)."""
    have = {q.value for q in find(normalize_digits(output))}
    return list(dict.fromkeys(v for v in significant(source) if v not in have))


def repair(source: str, output: str, tgt: str) -> str:
    """Put right a value that the output wrote with the wrong power of ten (12 billion for
    1.2 billion, 3.5亿 for 35亿); other differences are left for a retry to settle."""
    text = normalize_digits(output) if missing(source, output) else output
    for value in missing(source, text):
        source_values = significant(source)
        for q in find(text):
            if q.value in source_values or not re.search(r"\d", text[q.start : q.end]):
                continue
            ratio = (q.value / value).log10()
            if ratio != 0 and ratio == ratio.to_integral_value() and abs(ratio) <= 4:
                number = to_zh(value, q.more_than) if tgt == "zh" else to_en(value, q.more_than)
                text = text[: q.start] + q.prefix + number + q.suffix + text[q.end :]
                break
    return text
