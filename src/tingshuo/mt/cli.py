"""`tingshuo translate`: a text, an SRT or text file, or stdin line by line."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, TextIO

import typer

from ..errors import TingshuoError
from ..paths import check_writable
from ..settings import get_settings
from .base import LANGUAGE_NAMES, check_pair, detect_lang
from .glossary import Glossary

log = logging.getLogger(__name__)

_TEXT_SUFFIXES = {".txt", ".text", ""}


def _language(value: str, option: str) -> str:
    code = value.strip().lower()
    if code not in LANGUAGE_NAMES:
        raise TingshuoError(
            f"{option} {value!r}: use one of {', '.join(LANGUAGE_NAMES)}"
            + (" or auto" if option == "--from" else "")
        )
    return code


def _write(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        output.expanduser().write_text(text, encoding="utf-8")
    except OSError as e:
        raise TingshuoError(f"cannot write {output}: {e.strerror}") from e
    log.info("wrote %s", output)


def translate(
    to: Annotated[str, typer.Option("--to", "-t", help="target language: en or zh")],
    text: Annotated[
        str | None, typer.Argument(help="the text; without it (and --file), lines from stdin")
    ] = None,
    source: Annotated[
        str, typer.Option("--from", "-s", help="source language: zh, en, ja, ko or auto")
    ] = "auto",
    file: Annotated[
        Path | None, typer.Option("--file", help="an .srt file (timing kept) or a .txt file")
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="default: stdout")] = None,
    glossary: Annotated[
        Path | None, typer.Option("--glossary", "-g", help="CSV of 'source term,target term'")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="qwen2.5-1.5b, qwen2.5-0.5b or a .gguf file"),
    ] = None,
    bilingual: Annotated[
        bool, typer.Option("--bilingual", help="SRT: keep the original line above each")
    ] = False,
) -> None:
    """Translate Chinese ↔ English (and Japanese or Korean → English), offline."""
    import srt

    from .llm import PAIRS, load_translator
    from .srt_io import read_srt, read_text, translate_cues, translate_lines

    tgt = _language(to, "--to")
    src = None if source.strip().lower() in ("auto", "") else _language(source, "--from")
    if text is not None and file is not None:
        raise TingshuoError("give the text or --file, not both")
    if text is not None:
        if not text.strip():
            raise TingshuoError("nothing to translate: the text is empty")
        src = src or detect_lang(text)
    if src is not None and src != tgt:
        check_pair(src, tgt, PAIRS)
    # every input is read and checked before the model loads
    terms = Glossary.load(glossary) if glossary is not None else None
    cues: list[srt.Subtitle] | None = None
    lines: list[str] | None = None
    if file is not None:
        if file.suffix.lower() == ".srt":
            cues = read_srt(file)
            src = src or detect_lang(" ".join(c.content for c in cues))
            if src != tgt:
                check_pair(src, tgt, PAIRS)
        elif file.suffix.lower() in _TEXT_SUFFIXES:
            lines = read_text(file).splitlines()
        else:
            raise TingshuoError(f"{file}: give an .srt or a plain .txt file")
    if output is not None:
        check_writable(output)

    settings = get_settings()
    translator = load_translator(settings, model)
    context = settings.mt_context_captions
    if text is not None:
        _write(translator.translate(text, src or tgt, tgt, glossary=terms) + "\n", output)
    elif cues is not None:
        done = list(translate_cues(cues, translator, src, tgt, terms, bilingual, context))
        _write(srt.compose(done, reindex=False), output)
    elif lines is not None:
        out = translate_lines(lines, translator, src, tgt, terms, context)
        _write("".join(f"{line}\n" for line in out), output)
    else:
        # stdin: each translation is written as soon as its line is done
        sink = sys.stdout if output is None else _open(output)
        try:
            for line in translate_lines(sys.stdin, translator, src, tgt, terms, context):
                sink.write(line + "\n")
                sink.flush()
        finally:
            if sink is not sys.stdout:
                sink.close()


def _open(path: Path) -> TextIO:
    try:
        return path.expanduser().open("w", encoding="utf-8")
    except OSError as e:
        raise TingshuoError(f"cannot write {path}: {e.strerror}") from e


def main() -> None:
    """`python -m tingshuo.mt.cli`: the command on its own, with the main CLI's error style."""
    import click

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(translate)
    try:
        app(standalone_mode=False)
    except TingshuoError as e:
        typer.echo(f"error: {e}", err=True)
        sys.exit(1)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)


if __name__ == "__main__":
    main()
