"""Tidying recognizer output: Simplified Chinese, full-width punctuation, a closing stop."""

from __future__ import annotations

import re

from ..text import tidy_zh
from .loops import unloop

_END = "。！？!?.…"


def tidy(text: str, lang: str, final: bool) -> str:
    # a character whose bytes the decode cut in two: never shown, stored or spoken
    text = text.replace("\ufffd", "").strip()
    # a phrase said over and over, or a run of symbols, never reaches a caption
    text = unloop(text)
    if lang in ("zh", "yue"):
        text = tidy_zh(text)
        if final and text and text[-1] not in _END + "，、；：”」』）":
            text += "。"
    else:
        text = re.sub(r"\s+", " ", text)
    return text
