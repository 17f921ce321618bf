"""Translating subtitle and text files: SRT cues keep their numbers and times; text files and
streams keep their lines, one translation per line."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path

import srt

from ..errors import TingshuoError
from .base import Translator, Turn, detect_lang, join_pieces
from .glossary import Glossary

log = logging.getLogger(__name__)


def read_srt(path: Path) -> list[srt.Subtitle]:
    text = read_text(path)
    try:
        cues = list(srt.parse(text))
    except srt.SRTParseError as e:
        line = text.count("\n", 0, e.actual_start) + 1
        snippet = e.unmatched_content.strip().splitlines()[0][:40] if e.unmatched_content else ""
        raise TingshuoError(
            f"{path}: not a valid SRT file: unexpected {snippet!r} at line {line}"
        ) from e
    if not cues:
        raise TingshuoError(f"{path}: no subtitles found; is it an SRT file?")
    return cues


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as e:
        raise TingshuoError(f"{path}: file not found") from e
    except UnicodeDecodeError as e:
        raise TingshuoError(f"{path}: not UTF-8 text; convert it to UTF-8 first") from e
    except OSError as e:
        raise TingshuoError(f"{path}: cannot read it ({e.strerror})") from e


def translate_cues(
    cues: list[srt.Subtitle],
    translator: Translator,
    src: str | None,
    tgt: str,
    glossary: Glossary | None = None,
    bilingual: bool = False,
    context_size: int = 2,
) -> Iterator[srt.Subtitle]:
    """Each cue's text translated as one line, with the same index and times; with
    `bilingual`, the original line stays above its translation."""
    lang = src or detect_lang(" ".join(c.content for c in cues))
    context: deque[Turn] = deque(maxlen=context_size)
    for cue in cues:
        # a cue's line breaks are layout, not sentence ends
        text = join_pieces([line.strip() for line in cue.content.splitlines()], lang).strip()
        translated = ""
        if text:
            translated = translator.translate(text, lang, tgt, list(context), glossary)
            context.append(Turn(text, translated))
        content = f"{text}\n{translated}" if bilingual and text else translated
        yield srt.Subtitle(cue.index, cue.start, cue.end, content, cue.proprietary)


def translate_lines(
    lines: Iterable[str],
    translator: Translator,
    src: str | None,
    tgt: str,
    glossary: Glossary | None = None,
    context_size: int = 2,
) -> Iterator[str]:
    """One output line per input line, as each is done: blank lines stay blank, and lines
    already in the target language (when the source is auto-detected) pass through."""
    context: deque[Turn] = deque(maxlen=context_size)
    for raw in lines:
        text = raw.rstrip("\r\n").strip()
        if not text:
            yield ""
            continue
        lang = src or detect_lang(text)
        if lang == tgt:
            yield text
            continue
        if (lang, tgt) not in translator.pairs:
            log.warning("line in %s left as it is: no %s→%s translation", lang, lang, tgt)
            yield text
            continue
        translated = translator.translate(text, lang, tgt, list(context), glossary)
        context.append(Turn(text, translated))
        yield translated
