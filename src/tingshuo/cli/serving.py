"""Serving: `tingshuo serve` (the server), `worker` (rooms for gateways) and `models`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from ..errors import TingshuoError
from ..settings import get_settings
from .common import err


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

    from ..server.app import create_app
    from ..server.limits import log_config

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


def worker(
    rooms: Annotated[int, typer.Option("--rooms", min=1, help="live rooms held at once")] = 4,
) -> None:
    """Run live rooms for the gateways (`tingshuo serve`) that share TINGSHUO_BUS_URL and
    TINGSHUO_DATABASE_URL: holds the models, claims rooms, stores and publishes captions."""
    from ..live.room_worker import RoomWorker

    RoomWorker(get_settings(), rooms).run()


def models(
    verify: Annotated[
        bool, typer.Option("--verify", help="assemble and check every model")
    ] = False,
) -> None:
    """List the bundled models; with --verify, assemble them and check their SHA-256."""
    from rich.table import Table

    from ..models import BUNDLED, assemble

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
        from ..asr.homophones import homophone_fixer, index_path

        homophone_fixer(settings.cache_dir)
        path = index_path(settings.cache_dir)
        kept = path.is_file()
        size = f"{path.stat().st_size / 1e6:.0f} MB" if kept else ""
        status = f"ok: {path}" if kept else "[yellow]in memory only[/yellow]"
        table.add_row("pinyin index", "lexicon", size, "MIT (jieba, pypinyin)", status)
    Console().print(table)
