"""The `tingshuo` command line: one Typer app; each command lives with its kind."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from ..anchor.cli import anchor
from ..errors import TingshuoError
from ..learn.cli import assess
from ..mt.cli import translate
from ..tts.cli import speak
from .captions import listen, transcribe
from .common import err
from .database import db
from .serving import models, serve, worker
from .sessions import export, minutes, retranscribe, search, sessions

app = typer.Typer(
    help="tingshuo (听说): offline live transcription for events and meetings.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
for command in (
    translate, assess, speak, anchor, transcribe, listen, sessions, export, minutes, search,
    retranscribe, serve, worker, models,
):  # fmt: skip
    app.command(command.__name__)(command)
app.add_typer(db, name="db")


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_path=False, show_time=False)],
    )
    logging.getLogger("faster_whisper").setLevel(logging.INFO if verbose else logging.WARNING)


def run(args: list[str] | None = None) -> int:
    """Entry point: user errors become one line on stderr and a non-zero exit, no traceback."""
    import click

    try:
        code = app(args=args, standalone_mode=False)
    except TingshuoError as e:
        from rich.markup import escape

        err.print(f"[red]error:[/red] {escape(str(e))}", highlight=False, soft_wrap=True)
        return 1
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except (KeyboardInterrupt, click.Abort):
        err.print("stopped")
        return 130
    return code if isinstance(code, int) else 0


def entry() -> None:
    sys.exit(run())
