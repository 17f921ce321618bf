"""`tingshuo assess`: score a reading of a prompt, or a whole class's readings (--batch)."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..errors import TingshuoError
from ..paths import check_writable
from ..settings import get_settings

log = logging.getLogger(__name__)


def _write(path: Path, text: str) -> None:
    try:
        path.expanduser().write_text(text, encoding="utf-8")
    except OSError as e:
        raise TingshuoError(f"cannot write {path}: {e.strerror}") from e


def read_batch(path: Path) -> list[tuple[Path, str]]:
    """Rows of `path<TAB>text`; a header row `path<TAB>text` is skipped; relative paths are
    taken from the list's folder when they do not exist from the current one."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise TingshuoError(f"{path}: cannot read the batch list ({e})") from e
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) < 2:
            raise TingshuoError(
                f"{path}:{number}: expected two tab-separated columns, path and text"
            )
        audio, text = fields[0].strip(), fields[1].strip()
        if number == 1 and audio.lower() == "path" and text.lower() == "text":
            continue
        audio_path = Path(audio).expanduser()
        if not audio_path.is_absolute() and not audio_path.exists():
            audio_path = path.parent / audio_path
        rows.append((audio_path, text))
    if not rows:
        raise TingshuoError(f"{path}: no rows (expected lines of path<TAB>text)")
    return rows


def assess(
    audio: Annotated[Path | None, typer.Argument(help="the recording (any audio file)")] = None,
    text: Annotated[
        str | None,
        typer.Option("--text", "-t", help='the prompt: Hanzi ("你好") or pinyin ("ni3 hao3")'),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
    html: Annotated[
        Path | None, typer.Option("--html", help="also write a report page with pitch contours")
    ] = None,
    batch: Annotated[
        Path | None,
        typer.Option("--batch", help="a TSV of path<TAB>text: one JSON line per row, in order"),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write the JSON lines of --batch here")
    ] = None,
) -> None:
    """Score a Mandarin reading syllable by syllable: initial, final, tone; fluency; overall."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    settings = get_settings()
    if batch is not None:
        if audio is not None or text is not None:
            raise TingshuoError("give either --batch list.tsv or one recording with --text")
        if output is not None:
            check_writable(output)
        _run_batch(read_batch(batch), output, settings)
        return
    if audio is None or text is None:
        raise TingshuoError('give a recording and its prompt: tingshuo assess a.wav --text "你好"')
    if not audio.is_file():
        raise TingshuoError(f"{audio}: no such file")
    if html is not None:
        check_writable(html, "--html")
    from .assess import assess_file, prompt_syllables

    prompt_syllables(text, settings)  # a bad prompt fails before the model loads
    result = assess_file(_recognizer(settings), audio, text, settings)
    from . import report

    if html is not None:
        _write(html, report.to_html(result))
        log.info("wrote %s", html)
    if as_json:
        sys.stdout.write(report.to_json(result) + "\n")
    else:
        from rich.console import Console

        report.print_table(result, Console(emoji=False))


def _recognizer(settings):
    from ..asr import load_recognizer

    return load_recognizer(settings)


def _run_batch(rows: list[tuple[Path, str]], output: Path | None, settings) -> None:
    from rich.console import Console
    from rich.progress import Progress

    from . import report
    from .assess import assess_file

    recognizer = _recognizer(settings)
    out = output.expanduser().open("w", encoding="utf-8") if output else sys.stdout
    try:
        with Progress(console=Console(emoji=False, stderr=True), transient=True) as progress:
            task = progress.add_task("assessing", total=len(rows))
            for path, text in rows:
                try:
                    result = assess_file(recognizer, path, text, settings)
                    line = json.dumps(
                        {"path": str(path), "text": text} | json.loads(report.to_json(result)),
                        ensure_ascii=False,
                    )
                except TingshuoError as e:
                    line = json.dumps(
                        {"path": str(path), "text": text, "error": str(e)}, ensure_ascii=False
                    )
                out.write(line + "\n")
                out.flush()
                progress.advance(task)
    finally:
        if output:
            out.close()
