"""Mandarin text normalisation for the voice: write numbers, dates, money and symbols as they
are read aloud, so the voice never meets a digit.

`normalize("2026年GDP增长5.2%")` → "二零二六年GDP增长百分之五点二". Latin letters stay as
capitals; the phone front end spells them (G → ji4). Readings follow the PaddleSpeech text
normalisation cases in shared/data (years digit by digit, phone numbers and codes digit by
digit, other numbers as cardinals).
"""

from __future__ import annotations

import re
import warnings

from ..errors import TingshuoError

_DIGITS = "零一二三四五六七八九"
_MEASURE_FOR_LIANG = "个位种次家名件天周层条本只辆台点"  # 2个 → 两个
_CODE_WORDS = r"(?:电话|号码|编号|热线|尾号|代码|代号|拨打|致电|房间|航班|车次)"
_CURRENCY = {"¥": "元", "￥": "元", "$": "美元", "€": "欧元", "£": "英镑"}
_SYMBOLS = {
    "&": "和",
    "+": "加",
    "=": "等于",
    "@": "艾特",
    "#": "井号",
    "*": "星号",
    "℃": "摄氏度",
    "°C": "摄氏度",
    "°": "度",
    "‰": "千分之",
    "×": "乘",
    "÷": "除以",
}
# full-width digits, letters and signs as ASCII; full-width punctuation stays (it is a pause)
_FULLWIDTH = {0xFF10 + i: 0x30 + i for i in range(10)}
_FULLWIDTH |= {0xFF21 + i: 0x41 + i for i in range(26)} | {0xFF41 + i: 0x61 + i for i in range(26)}
_FULLWIDTH |= {ord("％"): ord("%"), ord("＋"): ord("+"), ord("．"): ord(".")}
# a pause the voice makes (kept for prosody); anything else non-spoken is an error
PAUSES = set("，。！？；：、,.!?;:…—–-·\"'“”‘’《》「」『』（）()[]【】〈〉/ \t\n")


def _cn(number: str) -> str:
    import cn2an

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cn2an.an2cn(number)


def digits(number: str) -> str:
    return "".join(_DIGITS[int(d)] for d in number if d.isdigit())


def cardinal(number: str) -> str:
    """123 → 一百二十三, 5.20 → 五点二零, .22 → 零点二二, -3 → 负三, 1,000 → 一千."""
    number = number.replace(",", "")
    sign = ""
    if number.startswith(("-", "−")):
        sign, number = "负", number[1:]
    if number.startswith("."):
        number = "0" + number
    whole, _, frac = number.partition(".")
    spoken = _cn(whole) if whole else "零"
    frac = frac.rstrip("0")  # 36.00元 is read 三十六元
    if frac:
        spoken += "点" + digits(frac)
    return sign + spoken


def _date(m: re.Match) -> str:
    year, month, day = m.group(1), m.group(2), m.group(3)
    return f"{digits(year)}年{cardinal(str(int(month)))}月{cardinal(str(int(day)))}日"


def _time(m: re.Match) -> str:
    hour, minute, second = m.group(1), m.group(2), m.group(3)
    spoken = cardinal(str(int(hour))) + "点"
    if int(minute):
        spoken += ("零" if int(minute) < 10 else "") + cardinal(str(int(minute))) + "分"
    if second and int(second):
        spoken += cardinal(str(int(second))) + "秒"
    return spoken


def _money(m: re.Match) -> str:
    unit = _CURRENCY[m.group(1)]
    if m.string.startswith(unit[-1], m.end()):  # ¥1,280元: the unit is written already
        unit = ""
    return cardinal(m.group(2)) + (m.group(3) or "") + unit


def _percent(m: re.Match) -> str:
    sign, value = m.group(1), m.group(2)
    return ("负" if sign else "") + "百分之" + cardinal(value)


def _number(m: re.Match) -> str:
    before, number = m.group(1), m.group(2)
    context = m.string[max(0, m.start(2) - 8) : m.start(2)]
    after = m.string[m.end() : m.end() + 1]
    then = m.string[m.end() : m.end() + 2]
    plain = number.replace(",", "")
    is_code = (
        "." not in plain
        and "," not in number
        and (
            len(plain) >= 7
            or (len(plain) > 1 and plain.startswith("0"))
            or (len(plain) >= 5 and (re.search(_CODE_WORDS + r"\D{0,3}$", context) or "号" in then))
        )
    )
    if is_code:
        return before + digits(plain)
    if plain == "2" and after and after in _MEASURE_FOR_LIANG:
        return before + "两"
    return before + cardinal(number)


_RULES: list[tuple[re.Pattern, object]] = [
    # 2026-03-05, 2026/3/5, 2026.3.5 → 二零二六年三月五日
    (re.compile(r"(?<!\d)(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)"), _date),
    # years: 2026年 and 86年8月 digit by digit; 3年 (a duration) stays cardinal
    (re.compile(r"(?<!\d)(\d{4})(?=年)"), lambda m: digits(m.group(1))),
    (re.compile(r"(?<!\d)(\d{2})(?=年\d{1,2}月)"), lambda m: digits(m.group(1))),
    (re.compile(r"(比分\D{0,4}\d+):(?=\d)"), lambda m: m.group(1) + "比"),
    (re.compile(r"(?<!\d)(\d{1,2}):(\d{2})(?::(\d{2}))?(?!\d)"), _time),
    (re.compile(r"-(\d+(?:\.\d+)?)\s*(?:°C|℃)"), lambda m: "零下" + cardinal(m.group(1)) + "度"),
    (re.compile(r"(\d+(?:\.\d+)?)\s*(?:°C|℃)"), lambda m: cardinal(m.group(1)) + "度"),
    (re.compile(r"([-−])?(\d+(?:\.\d+)?)\s*[%％]"), _percent),
    (re.compile(r"([¥￥$€£])\s*(\d[\d,]*(?:\.\d+)?)\s*(万亿|亿|万|千|百)?"), _money),
    (
        re.compile(r"(?<![\d/])(\d+)/(\d+)(?![\d/])"),
        lambda m: cardinal(m.group(2)) + "分之" + cardinal(m.group(1)),
    ),
    # ranges: 3-5 天, 10~20 人
    (
        re.compile(r"(?<!\d)([1-9]\d{0,3})\s*[-~～—–]\s*(?=[1-9]\d{0,3}(?!\d))"),
        lambda m: m.group(1) + "到",
    ),
    (re.compile(r"(?<![\d.])[-−](?=\d)"), lambda m: "负"),
    (re.compile(r"(^|[^\d.])(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"), _number),
]


def normalize(text: str) -> str:
    """Text as the voice should read it: no digits or symbols left, Latin letters in capitals."""
    text = text.translate(_FULLWIDTH)
    for pattern, repl in _RULES:
        text = pattern.sub(repl, text)
    for symbol, word in _SYMBOLS.items():
        text = text.replace(symbol, word)
    return text


def _is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def check_sayable(text: str, line: str) -> None:
    """Raise a clear error for characters the Mandarin voice cannot say."""
    bad = sorted({ch for ch in text if not (_is_cjk(ch) or ch.isascii() or ch in PAUSES)})
    bad = [ch for ch in bad if not (ch.isascii() and ch.isalnum())]
    if bad:
        shown = " ".join(f"{ch!r} (U+{ord(ch):04X})" for ch in bad[:5])
        raise TingshuoError(
            f"the Mandarin voice cannot say {shown} in {line!r}: "
            "write it in Chinese characters or remove it"
        )
    bad_ascii = sorted(
        {ch for ch in text if ch.isascii() and not ch.isalnum() and ch not in PAUSES}
    )
    if bad_ascii:
        raise TingshuoError(
            f"the Mandarin voice cannot say {' '.join(map(repr, bad_ascii))} in {line!r}: "
            "write it out in words"
        )
