"""Text helpers shared by the engines: Simplified Chinese with full-width punctuation.

Both the recognizer's captions (asr) and the translator's Chinese output (mt) are tidied the
same way; the helper lives here, below both, so that neither imports the other.
"""

from __future__ import annotations

import re

from opencc import OpenCC

t2s = OpenCC("t2s")  # Traditional → Simplified; one converter for the process

HAN = r"\u3400-\u9fff"
_ASCII_TO_FULL = {",": "，", "?": "？", "!": "！", ":": "：", ";": "；"}


def tidy_zh(text: str) -> str:
    text = t2s.convert(text.strip())
    # ASCII punctuation after a Han character becomes full-width
    text = re.sub(rf"(?<=[{HAN}])([,?!:;])", lambda m: _ASCII_TO_FULL[m.group(1)], text)
    text = re.sub(rf"(?<=[{HAN}])\.(?!\d)", "。", text)
    # Whisper sometimes separates Chinese clauses with a space instead of a comma
    text = re.sub(rf"(?<=[{HAN}])\s+(?=[{HAN}])", "，", text)
    return text
