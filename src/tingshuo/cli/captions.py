"""Captions from sound: `tingshuo transcribe` (a recording) and `tingshuo listen` (live)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..errors import StoreError, TingshuoError
from ..paths import check_writable
from ..settings import get_settings
from . import common
from .common import (
    Format,
    GlossaryOpt,
    HotwordsFileOpt,
    HotwordsOpt,
    LangOpt,
    ModelOpt,
    ScriptOpt,
    SpeakersOpt,
    ToOpt,
    err,
)


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
    script: ScriptOpt = None,
    fast: common.FastOpt = False,
) -> None:
    """Transcribe a recording into punctuated, timestamped captions."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from ..asr.worker import RecognizerWorker
    from ..audio.decode import SAMPLE_RATE, load_audio
    from ..live.transcription import transcribe_file
    from ..store.export import render

    language = common.parse_lang(lang)
    if output is not None:
        check_writable(output)
    terms = common.hot_words(hotword, hotwords)
    targets, terms_glossary = common.check_targets(to, glossary, language)
    if terms_glossary is not None:
        terms += [entry.source for entry in terms_glossary.entries]
    fixes = common.read_rules(rules)
    terms += [t for t in fixes.hotwords if t not in terms]
    following, script_terms = common.following(script, language)
    terms += [t for t in script_terms if t not in terms]
    samples = load_audio(audio)
    duration = samples.size / SAMPLE_RATE
    recognizer = common.recognizer(model, language)
    diarizer = common.diarizer(speakers)
    reviewer = common.second_pass(fast)
    store = common.open_db()
    with Progress(
        TextColumn("[bold]transcribing[/bold] {task.description}"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task(audio.name, total=duration)
        # stored as they come; the transcript goes on without the database if it refuses
        transcript = transcribe_file(
            samples,
            RecognizerWorker(recognizer),
            store,
            get_settings(),
            title=audio.name,
            source=str(audio),
            lang=language,
            hotwords=terms,
            targets=targets,
            diarizer=diarizer,
            rules=lambda: fixes,
            following=following,
            second_pass=reviewer,
            on_progress=lambda t: progress.update(task, completed=t),
            on_store_error=lambda e: err.print(
                f"[red]{e}[/red]: transcribing on, into the output only"
            ),
        )
        progress.update(task, completed=duration)
    info, segments, lost = transcript.info, transcript.segments, transcript.lost
    if transcript.status == "stopped":
        err.print(f"stopped: {len(segments)} segments kept in session {info.id}")
    if not segments and transcript.status == "done":
        raise TingshuoError(f"{audio}: no speech found (only silence or noise)")
    if targets and transcript.status == "done":
        common.translate_segments(None if lost else store, segments, targets, terms_glossary)
    meta = {"session": info.id, "source": str(audio), "duration": round(duration, 3)}
    body = render(segments, fmt.value, title=audio.name, meta=meta, languages=targets)
    common.write_out(body, output, fmt.value, info.id)
    if lost is not None:
        stored = sum(s.id is not None for s in segments)
        raise StoreError(
            f"{lost}; the whole transcript was written to {output or 'stdout'}, "
            f"{stored} of its {len(segments)} segments are in session {info.id}"
        )
    if transcript.status != "done":
        raise typer.Exit(130)


def listen(
    file: Annotated[Path | None, typer.Option("--file", help="play a file as if live")] = None,
    mic: Annotated[bool, typer.Option("--mic", help="listen to the sound input device")] = False,
    url: Annotated[
        str | None,
        typer.Option("--url", help="listen to a stream: rtmp://, rtsp://, http(s)://, udp://…"),
    ] = None,
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
    script: ScriptOpt = None,
) -> None:
    """Live captions: partials update in place, finals commit and are stored."""
    from rich.live import Live
    from rich.markup import escape
    from rich.text import Text

    from ..asr.worker import RecognizerWorker
    from ..audio.decode import probe
    from ..audio.sources import file_blocks, mic_blocks
    from ..events import Final, Partial, StreamNotice, Translation
    from ..live.recipe import Recipe, open_session

    if [file is not None, mic, url is not None].count(True) != 1:
        raise TingshuoError("give exactly one source: --file PATH, --mic or --url URL")
    language = common.parse_lang(lang)
    terms = common.hot_words(hotword, hotwords)
    following, _ = common.following(script, language)  # its terms near the speaker: hot words
    if file is not None:
        blocks = file_blocks(file, realtime)
        source = str(file)
        probe(file)  # a bad file fails now, not after the model has loaded
    elif url is not None:  # checked and opened now; a drop is reconnected, and said here
        from ..live import stream_room

        def told(event: StreamNotice) -> None:  # a drop's first try, every 20th, the return
            if event.back or event.tries % 20 == 1:
                err.print(event.message, style="yellow", markup=False)

        blocks = stream_room.open_room_stream(url, get_settings(), told, threading.Event())
        source = stream_room.label(url)
    else:
        dev: str | int | None = int(device) if device and device.isdigit() else device
        blocks = mic_blocks(dev)
        source = f"mic:{device or 'default'}"
    settings = get_settings()
    targets, terms_glossary = common.check_targets(to, glossary, language)
    if terms_glossary is not None:
        terms += [entry.source for entry in terms_glossary.entries]
    translator = None
    if targets:
        from ..mt import TranslationWorker

        translator = TranslationWorker(common.translator(), settings)
    worker = RecognizerWorker(common.recognizer(model, language), settings.asr_queue_size)
    from ..store.pending import open_buffered_store

    store = open_buffered_store(settings)  # captions never wait for the database
    recipe = Recipe(
        lang=language,
        hotwords=tuple(terms),
        targets=tuple(targets),
        glossary=terms_glossary,
        title=title or (file.name if file else source if url else "Microphone"),
        source=source,
    )
    session = open_session(
        recipe,
        worker,
        store,
        settings,
        translator=translator,
        diarizer=common.diarizer(speakers),
        following=following,
    )
    err.print(f"session [bold]{session.info.id}[/bold] — Ctrl-C to stop")
    out = Console(emoji=False)

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
