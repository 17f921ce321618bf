"""Stored sessions: `tingshuo sessions`, `export`, `minutes` and `search`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..errors import TingshuoError
from ..paths import check_writable
from . import common
from .common import Format, err, log


def sessions(
    delete: Annotated[
        str | None,
        typer.Option(
            "--delete",
            metavar="ID",
            help="delete a session: its captions, revisions, translations and sound",
        ),
    ] = None,
) -> None:
    """List stored sessions (or delete one)."""
    from rich.table import Table

    if delete is not None:
        store = common.open_db()
        info = store.get_session(delete)
        store.delete_session(info.id)
        err.print(f"session {info.id} deleted ({info.title}: {info.segments} captions)")
        return
    table = Table("title", "created", "lang", "duration", "segments", "status")
    table.add_column("id", no_wrap=True)
    for s in common.open_db().list_sessions():
        table.add_row(
            s.title,
            f"{s.created_at:%Y-%m-%d %H:%M}",
            s.lang,
            f"{s.duration:.0f} s",
            str(s.segments),
            s.status,
            s.id,
        )
    Console(emoji=False).print(table)


def export(
    session: Annotated[str, typer.Argument(help="session id (or a unique prefix)")],
    fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.txt,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="default: stdout")] = None,
    bilingual: Annotated[
        bool, typer.Option("--bilingual", help="translations beside each caption")
    ] = False,
    fill: Annotated[
        bool,
        typer.Option(
            "--fill/--no-fill",
            help="translate captions whose live translation was skipped (and store them)",
        ),
    ] = True,
    original: Annotated[
        bool,
        typer.Option("--original", help="the machine's text, before anyone corrected it"),
    ] = False,
    audio: Annotated[
        Path | None,
        typer.Option("--audio", help="write the session's recorded sound (Ogg/Opus) here instead"),
    ] = None,
) -> None:
    """Export a stored session again (as corrected), or its recorded sound (--audio)."""
    from ..store.export import machine_text, render

    if output is not None:
        check_writable(output)
    store = common.open_db()
    info = store.get_session(session)
    if audio is not None:
        from ..store.sound import session_sound

        check_writable(audio)
        data = session_sound(store, info)
        audio.write_bytes(data)
        err.print(f"{audio}: the sound of session {info.id} ({len(data) / 1e6:.1f} MB)")
        return
    segments = store.segments(info.id)
    # a live room sheds translations it cannot keep up with: they are written now
    gaps = [
        s
        for s in segments
        if s.text.strip() and any(t != s.lang and t not in s.translations for t in info.targets)
    ]
    if fill and gaps:
        log.info("%d captions of %s lack a translation: translating them", len(gaps), info.id)
        for target in info.targets:
            todo = [s for s in gaps if target != s.lang and target not in s.translations]
            if todo:
                common.translate_segments(store, todo, [target], None)
    meta = {"session": info.id, "source": info.source, "duration": info.duration}
    languages = info.targets or sorted({lang for s in segments for lang in s.translations})
    if not bilingual and not info.targets:
        languages = []
    if original:
        segments = machine_text(segments)
    body = render(segments, fmt.value, title=info.title, meta=meta, languages=languages)
    common.write_out(body, output, fmt.value)


def retranscribe(
    session: Annotated[str, typer.Argument(help="session id (or a unique prefix)")],
    model: common.ModelOpt = None,
) -> None:
    """Read a session's recorded sound again at full quality: beam 5, the second pass, its
    room's hot words, rules and prepared texts. Captions an operator corrected stay as they
    are; the others get the new text as a revision (`export --original` still gives the live
    text), translated again. Runs at the lowest CPU priority, beside live rooms."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from ..live.retranscription import NICE, Busy, Counts, Job, check, load_second_pass
    from ..live.retranscription import retranscribe as read_again
    from ..priority import lower_priority
    from ..settings import get_settings
    from ..store.sound import session_sound_check

    lower_priority(NICE)  # this thread's models inherit it: a server's rooms go first
    settings = get_settings()
    store = common.open_db()
    info = store.get_session(session)
    check(info)
    session_sound_check(store, info)
    recognizer = common.recognizer(model, None)
    with err.status("loading the language model for the second pass…"):
        reviewer = load_second_pass(settings)
    translator = None
    if info.targets:
        from ..mt import TranslationWorker

        translator = TranslationWorker(common.translator(), settings)
    if not store.claim_retranscription(info.id):
        raise Busy(f"session {info.id} is already being read again")
    with Progress(
        TextColumn("[bold]reading again[/bold] {task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f} %"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task(info.title, total=1.0)

        def report(done: float, c: Counts) -> None:
            progress.update(task, completed=done)
            store.set_retranscription(info.id, "running", done, c.changed, c.kept)

        job = Job(info, store, settings, on_progress=report)
        try:
            counts = read_again(job, recognizer, reviewer, translator)
        except BaseException as e:
            why = "stopped" if isinstance(e, KeyboardInterrupt) else str(e)
            c = job.counts
            store.set_retranscription(info.id, "failed", 0.0, c.changed, c.kept, why)
            raise
        finally:
            if translator is not None:
                translator.close()
    store.set_retranscription(info.id, "done", 1.0, counts.changed, counts.kept)
    err.print(
        f"session {info.id} read again: {counts.captions} captions, {counts.changed} changed, "
        f"{counts.kept} kept as an operator corrected them"
        + (f", {counts.translations} translations redone" if counts.to_translate else "")
    )


def minutes(
    session: Annotated[str, typer.Argument(help="session id (or a unique prefix)")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="a .md or .docx file (default: Markdown to stdout)"),
    ] = None,
    lang: Annotated[
        str | None, typer.Option("--lang", help="zh or en (default: the meeting's language)")
    ] = None,
) -> None:
    """Meeting minutes (会议纪要) of a stored session: speakers, topics, key points, decisions
    and action items.

    Key points are the transcript's own captions; decisions and action items are asked of the
    bundled language model (about 20 s per 1,200 characters of transcript on 2 cores).
    """
    from rich.progress import Progress

    from ..minutes import to_docx, to_markdown, write_minutes

    if output is not None:
        check_writable(output)
    store = common.open_db()
    info = store.get_session(session)
    segments = store.segments(info.id)
    if not any(s.text.strip() for s in segments):
        raise TingshuoError(f"session {info.id} has no captions to take minutes of")
    chat = common.translator().llm
    with Progress(console=err, transient=True) as progress:
        task = progress.add_task("minutes", total=None)
        result = write_minutes(
            info,
            segments,
            chat,
            lang,
            on_chunk=lambda done, total: progress.update(task, completed=done, total=total),
        )
    docx = output is not None and output.suffix.lower() == ".docx"
    body = to_docx(result) if docx else to_markdown(result).encode("utf-8")
    common.write_out(body, output, "docx" if docx else "md")


def search(
    text: Annotated[str, typer.Argument(help="a word or phrase")],
    limit: Annotated[int, typer.Option("--limit")] = 50,
) -> None:
    """Find segments containing a word, across all sessions."""
    from rich.markup import escape

    hits = common.open_db().search(text, limit)
    out = Console(emoji=False)
    for hit in hits:
        seg = hit.segment
        shown = escape(seg.text).replace(escape(text), f"[bold yellow]{escape(text)}[/bold yellow]")
        out.print(
            f"[cyan]{hit.session.id}[/cyan] {escape(hit.session.title)} "
            f"[dim]{seg.start:7.1f}s[/dim]  {shown}"
        )
    if not hits:
        err.print(f"no segment contains {text!r}")
        raise typer.Exit(1)
