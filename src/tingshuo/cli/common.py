"""What the commands share: options, argument checks, loading the models they need, and
writing their output."""

from __future__ import annotations

import logging
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from ..errors import TingshuoError
from ..settings import get_settings

if TYPE_CHECKING:
    from ..live.scripts import Following
    from ..speakers import Diarizer
    from ..store.db import Store

err = Console(emoji=False, stderr=True)
log = logging.getLogger("tingshuo")


class Format(StrEnum):
    txt = "txt"
    srt = "srt"
    vtt = "vtt"
    json = "json"
    docx = "docx"


LangOpt = Annotated[str, typer.Option("--lang", "-l", help="zh, en or auto (per utterance)")]
HotwordsOpt = Annotated[
    list[str] | None,
    typer.Option("--hotword", "-w", help="a term to favour (repeatable), e.g. -w 科大讯飞"),
]
HotwordsFileOpt = Annotated[
    Path | None,
    typer.Option("--hotwords", help="a file of terms, one per line (or CSV: first column)"),
]
ScriptOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--script",
        help="a prepared text (TXT, Markdown, DOCX, PDF, PPTX) the speaker reads from "
        "(repeatable): captions follow it, its terms are hot words",
    ),
]
ModelOpt = Annotated[
    str | None,
    typer.Option("--model", "-m", help="base, tiny.en, or a faster-whisper model folder"),
]
SpeakersOpt = Annotated[
    bool | None,
    typer.Option(
        "--speakers/--no-speakers",
        help="label speaker turns (Speaker 1, Speaker 2…); default: TINGSHUO_SPEAKERS (on)",
    ),
]


SCRIPT_HOTWORDS = 30  # a file's terms given to the recognizer (its prompt has room for so many)


def following(paths: list[Path] | None, lang: str | None) -> tuple[Following | None, list[str]]:
    """The `--script` files, to follow; and their terms."""
    if not paths:
        return None, []
    from ..live.scripts import Following, texts_from_files

    texts = texts_from_files(paths, lang)
    terms = list(dict.fromkeys(t for text in texts for t in text.terms))
    return Following.of_texts(texts), terms[:SCRIPT_HOTWORDS]


def diarizer(speakers: bool | None) -> Diarizer | None:
    """The speaker labeller the flag (or else the settings) asks for, or None."""
    settings = get_settings()
    if not (settings.speakers if speakers is None else speakers):
        return None
    from ..speakers import Diarizer, load_speaker_encoder, new_turns

    return Diarizer(load_speaker_encoder(settings), new_turns(settings))


def parse_lang(value: str) -> str | None:
    value = value.strip().lower()
    if value in ("auto", ""):
        return None
    if not value.isalpha() or len(value) not in (2, 3):
        raise TingshuoError(f"unknown language {value!r}: use zh, en or auto")
    return value


def hot_words(words: list[str] | None, file: Path | None) -> list[str]:
    terms = [w for w in (words or []) if w.strip()]
    if file is not None:
        try:
            text = file.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as e:
            raise TingshuoError(f"{file}: cannot read the hot-word list ({e})") from e
        terms += [line.split(",")[0].strip() for line in text.splitlines() if line.strip()]
    return terms


def write_out(data: bytes, output: Path | None, fmt: str, session_id: str | None = None) -> None:
    if output is None:
        if fmt == "docx" and sys.stdout.isatty():
            raise TingshuoError("DOCX is binary: give an output file with -o")
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        output.expanduser().write_bytes(data)
    except OSError as e:
        kept = f"; the transcript is kept: tingshuo export {session_id}" if session_id else ""
        raise TingshuoError(f"cannot write {output}: {e.strerror}{kept}") from e
    err.print(f"[green]wrote[/green] {output}")


def open_db() -> Store:
    """The store the settings name (commands write to it directly: errors at once)."""
    from ..store.db import open_store

    return open_store(get_settings().database_url)


def recognizer(model: str | None, lang: str | None):
    from ..asr import load_recognizer

    with err.status("loading the speech model…"):
        recognizer = load_recognizer(get_settings(), model)
    recognizer.check_language(lang)
    return recognizer


FastOpt = Annotated[
    bool,
    typer.Option(
        "--fast",
        help="skip the second pass (the language model's reading of each caption): "
        "faster, about a sixth more errors in Mandarin",
    ),
]


def second_pass(fast: bool):
    """The second pass for file transcription (None: `--fast`, off, or it cannot load:
    captions are then as the recognizer wrote them, and the user is told)."""
    settings = get_settings()
    if fast or not settings.second_pass:
        return None
    from ..asr.second_pass import SecondPass

    try:
        with err.status("loading the language model for the second pass…"):
            # nothing else runs beside a file: both cores
            return SecondPass.load(
                settings, settings.second_pass_model or None, threads=settings.mt_threads
            )
    except TingshuoError as e:
        err.print(f"[yellow]no second pass[/yellow]: {e}")
        return None


ToOpt = Annotated[
    list[str] | None, typer.Option("--to", help="translate each caption into (repeatable)")
]
GlossaryOpt = Annotated[
    Path | None,
    typer.Option(
        "--glossary", help="CSV 'source term,target term': for translations and hot words"
    ),
]


def check_targets(to: list[str] | None, glossary: Path | None, language: str | None):
    """Target languages and glossary, checked before any model loads."""
    from ..mt.base import LANGUAGE_NAMES

    targets = [t.strip().lower() for t in (to or []) if t.strip()]
    from ..mt.base import check_pair
    from ..mt.llm import PAIRS

    for target in targets:
        if target not in LANGUAGE_NAMES:
            raise TingshuoError(f"--to {target!r}: use one of {', '.join(LANGUAGE_NAMES)}")
        for source in [language] if language else ["zh", "en"]:
            if source != target:
                check_pair(source, target, PAIRS)
    if glossary is None:
        return targets, None
    from ..mt import Glossary

    return targets, Glossary.load(glossary)


def translator():
    from ..mt import load_translator

    with err.status("loading the translation model…"):
        return load_translator(get_settings())


def translate_segments(store: Store | None, segments, targets: list[str], glossary) -> None:
    """Translate a finished transcript caption by caption, each with the ones before it as
    context, and store each translation as it comes: an interruption keeps what is done."""
    from rich.progress import track

    from ..mt.base import Turn

    engine = translator()
    context: dict[str, list[Turn]] = {t: [] for t in targets}
    for seg in track(segments, description="translating", console=err, transient=True):
        for target in targets:
            if target == seg.lang or not seg.text.strip():
                continue
            turns = context[target][-get_settings().mt_context_captions :]
            text = engine.translate(seg.text, seg.lang, target, turns, glossary)
            seg.translations[target] = text
            if store is not None and seg.id is not None:
                store.set_translation(seg.id, target, text)
            context[target].append(Turn(seg.text, text))


def read_rules(path: Path | None):
    from ..rules import NO_RULES, Rules

    if path is None:
        return NO_RULES
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise TingshuoError(f"{path}: cannot read the rules: {e}") from None
    try:
        return Rules.parse(text)
    except TingshuoError as e:
        raise TingshuoError(f"{path}: {e}") from None
