"""`tingshuo anchor`: render a rundown as a video (heavy imports stay inside the command).

Here, in the feature, so that the voices (tts) never import the anchor; `tingshuo.cli`
registers the command.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..errors import TingshuoError
from ..tts.cli import writable

err = Console(emoji=False, stderr=True)


class Size(StrEnum):
    p720 = "720p"
    p1080 = "1080p"


def anchor(
    rundown: Annotated[Path, typer.Argument(help="a rundown: .yaml, or .md with front matter")],
    video: Annotated[Path, typer.Option("--video", help="the MP4 to write")] = Path("anchor.mp4"),
    size: Annotated[Size, typer.Option("--size")] = Size.p720,
    check: Annotated[
        bool, typer.Option("--check", help="only parse the rundown and list its segments")
    ] = False,
) -> None:
    """Render a rundown as a video: the anchor speaks, bilingual subtitles, audio muxed."""
    from ..settings import get_settings
    from .rundown import load_rundown

    plan = load_rundown(rundown)
    if check:
        out = Console(emoji=False, highlight=False)
        for seg in plan.segments:
            summary = seg.summary()
            summary = summary if len(summary) <= 90 else summary[:89] + "…"
            out.print(f"line {seg.line:>3}  {seg.kind:<8} {summary}", markup=False, soft_wrap=True)
        return
    from .render import render_video

    video = writable(video)
    if video.suffix.lower() != ".mp4":
        raise TingshuoError(f"{video}: the video is written as MP4; name the file *.mp4")
    report = render_video(plan, video, size.value, get_settings(), console=err)
    for failure in report.failures:
        err.print(f"[yellow]line {failure.line}:[/yellow] {failure.reason}", markup=True)
    err.print(
        f"[green]wrote[/green] {video} ({report.duration:.1f} s, {report.segments} segments"
        + (f", {len(report.failures)} failed and shown as a card" if report.failures else "")
        + ")"
    )
    if report.failures:
        raise typer.Exit(2)
