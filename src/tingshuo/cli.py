"""The `tingshuo` command line."""

from __future__ import annotations

import logging
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from .anchor.cli import anchor
from .errors import StoreError, TingshuoError
from .learn.cli import assess
from .mt.cli import translate
from .paths import check_writable
from .settings import get_settings
from .tts.cli import speak

if TYPE_CHECKING:
    from .speakers import Diarizer
    from .store.db import Store

app = typer.Typer(
    help="tingshuo (听说): offline live transcription for events and meetings.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("translate")(translate)
app.command("assess")(assess)
app.command("speak")(speak)
app.command("anchor")(anchor)
err = Console(stderr=True)
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


def _diarizer(speakers: bool | None) -> Diarizer | None:
    """The speaker labeller the flag (or else the settings) asks for, or None."""
    settings = get_settings()
    if not (settings.speakers if speakers is None else speakers):
        return None
    from .speakers import Diarizer, load_speaker_encoder, new_turns

    return Diarizer(load_speaker_encoder(settings), new_turns(settings))


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_path=False, show_time=False)],
    )
    logging.getLogger("faster_whisper").setLevel(logging.INFO if verbose else logging.WARNING)


def _lang(value: str) -> str | None:
    value = value.strip().lower()
    if value in ("auto", ""):
        return None
    if not value.isalpha() or len(value) not in (2, 3):
        raise TingshuoError(f"unknown language {value!r}: use zh, en or auto")
    return value


def _hotwords(words: list[str] | None, file: Path | None) -> list[str]:
    terms = [w for w in (words or []) if w.strip()]
    if file is not None:
        try:
            text = file.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as e:
            raise TingshuoError(f"{file}: cannot read the hot-word list ({e})") from e
        terms += [line.split(",")[0].strip() for line in text.splitlines() if line.strip()]
    return terms


def _write(data: bytes, output: Path | None, fmt: str, session_id: str | None = None) -> None:
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


def _store():
    from .store.db import open_store

    return open_store(get_settings().database_url)


def _recognizer(model: str | None, lang: str | None):
    from .asr import load_recognizer

    with err.status("loading the speech model…"):
        recognizer = load_recognizer(get_settings(), model)
    recognizer.check_language(lang)
    return recognizer


ToOpt = Annotated[
    list[str] | None, typer.Option("--to", help="translate each caption into (repeatable)")
]
GlossaryOpt = Annotated[
    Path | None,
    typer.Option(
        "--glossary", help="CSV 'source term,target term': for translations and hot words"
    ),
]


def _targets(to: list[str] | None, glossary: Path | None, language: str | None):
    """Target languages and glossary, checked before any model loads."""
    from .mt.base import LANGUAGE_NAMES

    targets = [t.strip().lower() for t in (to or []) if t.strip()]
    from .mt.base import check_pair
    from .mt.llm import PAIRS

    for target in targets:
        if target not in LANGUAGE_NAMES:
            raise TingshuoError(f"--to {target!r}: use one of {', '.join(LANGUAGE_NAMES)}")
        for source in [language] if language else ["zh", "en"]:
            if source != target:
                check_pair(source, target, PAIRS)
    if glossary is None:
        return targets, None
    from .mt import Glossary

    return targets, Glossary.load(glossary)


def _translator():
    from .mt import load_translator

    with err.status("loading the translation model…"):
        return load_translator(get_settings())


def _translate_segments(store: Store | None, segments, targets: list[str], glossary) -> None:
    """Translate a finished transcript caption by caption, each with the ones before it as
    context, and store each translation as it comes: an interruption keeps what is done."""
    from rich.progress import track

    from .mt.base import Turn

    engine = _translator()
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


def _rules(path: Path | None):
    from .rules import NO_RULES, Rules

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


@app.command()
def transcribe(
    audio: Annotated[Path, typer.Argument(help="any audio or video file PyAV decodes")],
    lang: LangOpt = "auto",
    fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.txt,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="default: stdout")] = None,
    hotword: HotwordsOpt = None,
    hotwords: HotwordsFileOpt = None,
    model: ModelOpt = None,
    to: ToOpt = None,
    glossary: GlossaryOpt = None,
    speakers: SpeakersOpt = None,
    rules: Annotated[
        Path | None,
        typer.Option(
            "--rules",
            help="correction rules, 'wrong => right' one per line: applied to every caption",
        ),
    ] = None,
) -> None:
    """Transcribe a recording into punctuated, timestamped captions."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from .asr.streaming import policy_config, transcribe_audio
    from .asr.worker import RecognizerWorker
    from .audio.decode import SAMPLE_RATE, load_audio
    from .events import Final, Segment
    from .live.captions import CaptionPath
    from .store.export import render

    language = _lang(lang)
    if output is not None:
        check_writable(output)
    terms = _hotwords(hotword, hotwords)
    targets, terms_glossary = _targets(to, glossary, language)
    if terms_glossary is not None:
        terms += [entry.source for entry in terms_glossary.entries]
    fixes = _rules(rules)
    terms += [t for t in fixes.hotwords if t not in terms]
    samples = load_audio(audio)
    duration = samples.size / SAMPLE_RATE
    recognizer = _recognizer(model, language)
    diarizer = _diarizer(speakers)
    store = _store()
    info = store.create_session(audio.name, str(audio), lang, terms, targets)
    segments: list[Segment] = []
    status = "failed"
    lost: StoreError | None = None  # the database refused a write: keep going without it
    # stored as they come; the transcript goes on without it
    captions = CaptionPath(store, rules=lambda: fixes)
    captions.on_store_error = lambda e: err.print(
        f"[red]{e}[/red]: transcribing on, into the output only"
    )
    try:
        with Progress(
            TextColumn("[bold]transcribing[/bold] {task.description}"),
            BarColumn(),
            TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
            TimeRemainingColumn(),
            console=err,
            transient=True,
        ) as progress:
            task = progress.add_task(audio.name, total=duration)
            pieces = transcribe_audio(
                RecognizerWorker(recognizer),
                samples,
                policy_config(get_settings()),
                language,
                terms,
                on_progress=lambda t: progress.update(task, completed=t),
                diarizer=diarizer,
            )
            for n, piece in enumerate(pieces):
                piece.session_id = info.id
                segments.append(captions.commit(Final(utterance=n, segment=piece)).segment)
            lost = captions.store_error
            progress.update(task, completed=duration)
        status = "done"
    except KeyboardInterrupt:
        status = "stopped"
        lost = captions.store_error
        err.print(f"stopped: {len(segments)} segments kept in session {info.id}")
    finally:
        if lost is None:
            try:
                store.finish_session(info.id, status, duration)
            except StoreError as e:
                lost = e
    if not segments and status == "done":
        raise TingshuoError(f"{audio}: no speech found (only silence or noise)")
    if targets and status == "done":
        _translate_segments(None if lost else store, segments, targets, terms_glossary)
    meta = {"session": info.id, "source": str(audio), "duration": round(duration, 3)}
    body = render(segments, fmt.value, title=audio.name, meta=meta, languages=targets)
    _write(body, output, fmt.value, info.id)
    if lost is not None:
        stored = sum(s.id is not None for s in segments)
        raise StoreError(
            f"{lost}; the whole transcript was written to {output or 'stdout'}, "
            f"{stored} of its {len(segments)} segments are in session {info.id}"
        )
    if status != "done":
        raise typer.Exit(130)


@app.command()
def listen(
    file: Annotated[Path | None, typer.Option("--file", help="play a file as if live")] = None,
    mic: Annotated[bool, typer.Option("--mic", help="listen to the sound input device")] = False,
    realtime: Annotated[
        bool, typer.Option("--realtime/--fast", help="pace --file at 1× (default) or run flat out")
    ] = True,
    device: Annotated[
        str | None, typer.Option("--device", help="sound device name or index")
    ] = None,
    lang: LangOpt = "auto",
    title: Annotated[str | None, typer.Option("--title")] = None,
    hotword: HotwordsOpt = None,
    hotwords: HotwordsFileOpt = None,
    model: ModelOpt = None,
    to: ToOpt = None,
    glossary: GlossaryOpt = None,
    speakers: SpeakersOpt = None,
) -> None:
    """Live captions: partials update in place, finals commit and are stored."""
    from rich.live import Live
    from rich.markup import escape
    from rich.text import Text

    from .asr.worker import RecognizerWorker
    from .audio.decode import probe
    from .audio.sources import file_blocks, mic_blocks
    from .events import Final, Partial, Translation
    from .live.session import LiveSession

    if (file is None) == (not mic):
        raise TingshuoError("give exactly one source: --file PATH or --mic")
    language = _lang(lang)
    terms = _hotwords(hotword, hotwords)
    if file is not None:
        blocks = file_blocks(file, realtime)
        source = str(file)
        probe(file)  # a bad file fails now, not after the model has loaded
    else:
        dev: str | int | None = int(device) if device and device.isdigit() else device
        blocks = mic_blocks(dev)
        source = f"mic:{device or 'default'}"
    settings = get_settings()
    targets, terms_glossary = _targets(to, glossary, language)
    if terms_glossary is not None:
        terms += [entry.source for entry in terms_glossary.entries]
    translator = None
    if targets:
        from .mt import TranslationWorker

        translator = TranslationWorker(_translator(), settings)
    worker = RecognizerWorker(_recognizer(model, language), settings.asr_queue_size)
    from .store.pending import open_buffered_store

    store = open_buffered_store(settings)  # captions never wait for the database
    session = LiveSession(
        worker,
        store,
        settings,
        language,
        terms,
        title or (file.name if file else "Microphone"),
        source,
        targets=targets,
        translator=translator,
        glossary=terms_glossary,
        diarizer=_diarizer(speakers),
    )
    err.print(f"session [bold]{session.info.id}[/bold] — Ctrl-C to stop")
    out = Console()

    def stamp(t: float) -> str:
        return f"[dim]{int(t // 60):02d}:{t % 60:04.1f}[/dim]"

    voice: list[str | None] = [None]  # the speaker of the caption shown last

    with Live(Text(""), console=out, transient=True, auto_refresh=False) as live:

        def show(event: Partial | Final | Translation) -> None:
            if isinstance(event, Translation):
                out.print(f"        [{event.lang}] {event.text}", style="cyan", markup=False)
            elif isinstance(event, Final):
                seg = event.segment
                live.update(Text(""), refresh=True)
                # the speaker's name where the voice changes, as subtitles mark a new voice
                who = ""
                if seg.speaker and seg.speaker != voice[0]:
                    who = f"[bold]{escape(seg.speaker)}:[/bold] "
                voice[0] = seg.speaker
                out.print(f"{stamp(seg.start)} {who}{escape(seg.text)}")
            else:
                line = Text.assemble(
                    (event.stable, "bold"), (event.unstable, "italic dim"), style=""
                )
                live.update(Text.assemble(("… ", "dim"), line), refresh=True)

        try:
            info = session.run(blocks, show)
            if translator is not None:
                translator.close()  # let the last captions' translations arrive
        except KeyboardInterrupt:
            info = store.get_session(session.info.id)
        finally:
            store.close(timeout=10)
    err.print(f"session {info.id}: {info.segments} segments, {info.duration:.1f} s ({info.status})")


@app.command()
def sessions() -> None:
    """List stored sessions."""
    from rich.table import Table

    table = Table("title", "created", "lang", "duration", "segments", "status")
    table.add_column("id", no_wrap=True)
    for s in _store().list_sessions():
        table.add_row(
            s.title,
            f"{s.created_at:%Y-%m-%d %H:%M}",
            s.lang,
            f"{s.duration:.0f} s",
            str(s.segments),
            s.status,
            s.id,
        )
    Console().print(table)


@app.command()
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
) -> None:
    """Export a stored session again (as corrected)."""
    from .store.export import machine_text, render

    if output is not None:
        check_writable(output)
    store = _store()
    info = store.get_session(session)
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
                _translate_segments(store, todo, [target], None)
    meta = {"session": info.id, "source": info.source, "duration": info.duration}
    languages = info.targets or sorted({lang for s in segments for lang in s.translations})
    if not bilingual and not info.targets:
        languages = []
    if original:
        segments = machine_text(segments)
    body = render(segments, fmt.value, title=info.title, meta=meta, languages=languages)
    _write(body, output, fmt.value)


@app.command()
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

    from .minutes import to_docx, to_markdown, write_minutes

    if output is not None:
        check_writable(output)
    store = _store()
    info = store.get_session(session)
    segments = store.segments(info.id)
    if not any(s.text.strip() for s in segments):
        raise TingshuoError(f"session {info.id} has no captions to take minutes of")
    chat = _translator().llm
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
    _write(body, output, "docx" if docx else "md")


@app.command()
def search(
    text: Annotated[str, typer.Argument(help="a word or phrase")],
    limit: Annotated[int, typer.Option("--limit")] = 50,
) -> None:
    """Find segments containing a word, across all sessions."""
    from rich.markup import escape

    hits = _store().search(text, limit)
    out = Console()
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


@app.command()
def serve(
    host: Annotated[str | None, typer.Option("--host")] = None,
    port: Annotated[int | None, typer.Option("--port")] = None,
    token: Annotated[
        str | None,
        typer.Option("--token", help="organizer token (default: $TINGSHUO_TOKEN, else a new one)"),
    ] = None,
) -> None:
    """Start the server: API, rooms, and the console, screen and phone pages."""
    import secrets

    import uvicorn

    from .server.app import create_app
    from .server.limits import log_config

    settings = get_settings()
    if token is not None:
        settings = settings.model_copy(update={"token": token})
    if not settings.token:
        settings = settings.model_copy(update={"token": secrets.token_urlsafe(18)})
        err.print(
            f"organizer token (choose one with --token or TINGSHUO_TOKEN): {settings.token}",
            highlight=False,
            soft_wrap=True,
        )
    host, port = host or settings.host, port or settings.port
    settings = settings.model_copy(update={"host": host, "port": port})  # links use them
    url = f"http://{host}:{port}/console?token={settings.token}"
    err.print(f"console: {url}", highlight=False, soft_wrap=True)
    # tokens in logged URLs (?token=…) are redacted
    uvicorn.run(create_app(settings), host=host, port=port, log_config=log_config())


@app.command()
def worker(
    rooms: Annotated[int, typer.Option("--rooms", min=1, help="live rooms held at once")] = 4,
) -> None:
    """Run live rooms for the gateways (`tingshuo serve`) that share TINGSHUO_BUS_URL and
    TINGSHUO_DATABASE_URL: holds the models, claims rooms, stores and publishes captions."""
    from .live.room_worker import RoomWorker

    RoomWorker(get_settings(), rooms).run()


@app.command()
def models(
    verify: Annotated[
        bool, typer.Option("--verify", help="assemble and check every model")
    ] = False,
) -> None:
    """List the bundled models; with --verify, assemble them and check their SHA-256."""
    from rich.table import Table

    from .models import BUNDLED, assemble

    settings = get_settings()
    table = Table("name", "kind", "size", "licence", "status")
    for spec in BUNDLED.values():
        status = ""
        if verify:
            try:
                status = f"ok: {assemble(spec, settings.cache_dir)}"
            except TingshuoError as e:
                status = f"[red]{e}[/red]"
        table.add_row(spec.name, spec.kind, f"{spec.size / 1e6:.0f} MB", spec.licence, status)
    if verify:
        # built here once, so the first Mandarin caption does not wait for it
        from .asr.homophones import homophone_fixer, index_path

        homophone_fixer(settings.cache_dir)
        path = index_path(settings.cache_dir)
        kept = path.is_file()
        size = f"{path.stat().st_size / 1e6:.0f} MB" if kept else ""
        status = f"ok: {path}" if kept else "[yellow]in memory only[/yellow]"
        table.add_row("pinyin index", "lexicon", size, "MIT (jieba, pypinyin)", status)
    Console().print(table)


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
