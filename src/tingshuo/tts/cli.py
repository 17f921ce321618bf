"""`tingshuo speak`: heavy imports stay inside the command."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..errors import TingshuoError

err = Console(emoji=False, stderr=True)
log = logging.getLogger(__name__)


def writable(path: Path) -> Path:
    """`path` as a file to write (~ expanded): not a folder, in a folder that exists."""
    path = path.expanduser()
    if path.is_dir():
        raise TingshuoError(f"{path}: is a folder; give a file name")
    if not path.resolve().parent.is_dir():
        raise TingshuoError(f"{path}: the folder {path.resolve().parent} does not exist")
    return path


def speak(
    text: Annotated[str, typer.Argument(help="what to say; '-' reads it from stdin")],
    lang: Annotated[str, typer.Option("--lang", "-l", help="zh, en, or an espeak-ng code")] = "zh",
    output: Annotated[Path, typer.Option("--output", "-o", help="a .wav file")] = Path(
        "speech.wav"
    ),
    fallback: Annotated[
        bool, typer.Option("--fallback", help="use the espeak-ng voice (robotic, instant)")
    ] = False,
    timings: Annotated[
        bool, typer.Option("--timings", help="print each unit's start and end (TSV)")
    ] = False,
) -> None:
    """Say a text with the offline voices: numbers, dates, % and acronyms are read out."""
    import sys

    from ..settings import get_settings
    from . import check_lang, load_voice
    from .audio_out import write_wav

    if text == "-":
        text = sys.stdin.read()
    if not text.strip():
        raise TingshuoError("nothing to say: the text is empty")
    code = check_lang(lang)
    output = writable(output)
    if output.suffix.lower() != ".wav":
        raise TingshuoError(f"{output}: only .wav output is written; name the file *.wav")
    settings = get_settings()
    with err.status(f"loading the {code} voice…"):
        voice = load_voice(code, settings, fallback)
    sentences = voice.sentences(text)
    parts = []
    with err.status("speaking…") as status:
        for i, part in enumerate(voice.stream(text), 1):
            status.update(f"speaking… sentence {i}/{len(sentences)}")
            parts.append(part)
    from .base import concatenate

    speech = concatenate(parts, settings.tts_pause_s)
    write_wav(output, speech.audio, speech.sample_rate)
    if timings:
        out = Console(emoji=False, highlight=False)
        for unit in speech.units:
            out.print(f"{unit.start:.3f}\t{unit.end:.3f}\t{unit.text}", markup=False)
    err.print(f"[green]wrote[/green] {output} ({speech.duration:.1f} s, {voice.name})")
