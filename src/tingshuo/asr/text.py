"""Tidying recognizer output: Simplified Chinese, full-width punctuation, a closing stop."""

from __future__ import annotations

import re

from opencc import OpenCC

_t2s = OpenCC("t2s")

_HAN = r"\u3400-\u9fff"
_ASCII_TO_FULL = {",": "，", "?": "？", "!": "！", ":": "：", ";": "；"}
_END = "。！？!?.…"


def tidy_zh(text: str) -> str:
    text = _t2s.convert(text.strip())
    # ASCII punctuation after a Han character becomes full-width
    text = re.sub(rf"(?<=[{_HAN}])([,?!:;])", lambda m: _ASCII_TO_FULL[m.group(1)], text)
    text = re.sub(rf"(?<=[{_HAN}])\.(?!\d)", "。", text)
    # Whisper sometimes separates Chinese clauses with a space instead of a comma
    text = re.sub(rf"(?<=[{_HAN}])\s+(?=[{_HAN}])", "，", text)
    return text


def tidy(text: str, lang: str, final: bool) -> str:
    text = text.strip()
    if lang in ("zh", "yue"):
        text = tidy_zh(text)
        if final and text and text[-1] not in _END + "，、；：”」』）":
            text += "。"
    else:
        text = re.sub(r"\s+", " ", text)
    return text
