"""Serving: `tingshuo serve` (the server), `worker` (rooms for gateways) and `models`."""

from __future__ import annotations

import ipaddress
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit

import typer
from rich.console import Console

from ..errors import TingshuoError
from ..settings import Settings, get_settings
from .common import err

if TYPE_CHECKING:
    from ..server.tls import Certificate


def serve(
    host: Annotated[str | None, typer.Option("--host")] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", help="the server's port; with --https, it redirects to HTTPS"),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option("--token", help="organizer token (default: $TINGSHUO_TOKEN, else a new one)"),
    ] = None,
    https: Annotated[
        bool,
        typer.Option(
            "--https",
            help="serve over TLS (browsers give the microphone only to secure pages), with a "
            "certificate made once for this machine's names and LAN addresses",
        ),
    ] = False,
    https_port: Annotated[
        int | None, typer.Option("--https-port", help="the HTTPS port (default 8443)")
    ] = None,
    certfile: Annotated[
        Path | None, typer.Option("--certfile", help="your own certificate (PEM; implies --https)")
    ] = None,
    keyfile: Annotated[Path | None, typer.Option("--keyfile", help="its private key (PEM)")] = None,
) -> None:
    """Start the server: API, rooms, and the console, screen and phone pages."""
    import secrets

    import uvicorn

    from ..server.app import create_app
    from ..server.limits import log_config
    from ..store.connection import wait_for_database

    settings = get_settings()
    # on SIGTERM uvicorn closes the sockets (1012), stops, then raises the signal again:
    # a planned stop (a rolling restart) ends with status 0, not as killed by a signal
    signal.signal(signal.SIGTERM, _stopped)
    if settings.bus_url:  # a gateway started before its Redis waits for it
        from ..live.bus import wait_for_redis

        wait_for_redis(settings.bus_url)
    host, port = host or settings.host, port or settings.port
    certfile, keyfile = certfile or settings.certfile, keyfile or settings.keyfile
    secure = https or settings.https or certfile is not None or keyfile is not None
    https_port = https_port or settings.https_port
    if secure and https_port == port:
        raise TingshuoError(f"--https-port {https_port}: the same as --port; choose another")
    settings = settings.model_copy(  # links use them
        update={"host": host, "port": port, "https": secure, "https_port": https_port}
    )
    # a wrong certificate file is said before anything else
    cert = _certificate(settings, host, certfile, keyfile) if secure else None
    if token is not None:
        settings = settings.model_copy(update={"token": token})
    # a token the organizer chose is never printed where a service's output is kept (a log):
    # the links carry it only to a terminal; a new one is printed, or nobody could know it
    link_token = settings.token if sys.stderr.isatty() else None
    if not settings.token:
        settings = settings.model_copy(update={"token": secrets.token_urlsafe(18)})
        link_token = settings.token
        err.print(
            f"organizer token (choose one with --token or TINGSHUO_TOKEN): {settings.token}",
            highlight=False,
            soft_wrap=True,
        )
    # started before its database (a compose file, a reboot): wait for it, not exit
    wait_for_database(settings.database_url)
    if cert is None:
        _print_console_links(host, port, "http", link_token)
        if host not in ("127.0.0.1", "localhost", "::1"):
            err.print(
                "other machines' browsers give the microphone (console, /learn) only to secure "
                "pages: add --https",
                highlight=False,
                soft_wrap=True,
            )
        # tokens in logged URLs (?token=…) are redacted
        # on SIGTERM: sockets closed with 1012, then at most 10 s for requests under way
        uvicorn.run(create_app(settings), host=host, port=port, log_config=log_config(),
                    timeout_graceful_shutdown=10)  # fmt: skip
        return

    from ..server import https as serving_https

    app = create_app(settings)
    serving_https.enable(app, cert)
    main, redirect = serving_https.servers(
        app, cert, host, port, https_port, log_config=log_config()
    )
    _print_console_links(host, https_port, "https", link_token)
    err.print(
        f"certificate SHA-256 {cert.fingerprint}; http://…:{port} redirects to HTTPS",
        highlight=False,
        soft_wrap=True,
    )
    serving_https.run(main, redirect)


def _stopped(*_: object) -> None:
    raise SystemExit(0)


def _certificate(
    settings: Settings, host: str, certfile: Path | None, keyfile: Path | None
) -> Certificate:
    """The organizer's certificate, else the one kept in the data folder (made if need be)."""
    from ..server import tls
    from ..server.api_rooms import lan_address

    if certfile is not None or keyfile is not None:
        if certfile is None or keyfile is None:
            raise TingshuoError("--certfile and --keyfile go together: give both")
        return tls.own_certificate(certfile, keyfile)
    names, addresses = tls.machine_names(host, lan_address())
    if settings.public_url:  # the name phones are sent to must be in the certificate
        public = urlsplit(settings.public_url).hostname
        if public:
            try:
                addresses.append(ipaddress.ip_address(public))
            except ValueError:
                names.append(public.lower())
    try:
        return tls.local_certificate(settings.data_dir / "tls", names, addresses)
    except OSError as e:
        raise TingshuoError(
            f"{settings.data_dir / 'tls'}: cannot keep the certificate there ({e.strerror}); "
            "choose another folder with TINGSHUO_DATA_DIR"
        ) from None


def _print_console_links(host: str, port: int, scheme: str, token: str | None) -> None:
    """Links a person can open: not 0.0.0.0, but the LAN address and this machine's own;
    without `token`, the console asks for it."""
    from ..server.api_rooms import lan_address

    if host in ("", "0.0.0.0", "::"):
        lan = lan_address()
        hosts = ([lan] if lan else []) + ["localhost"]
    else:
        hosts = [f"[{host}]" if ":" in host else host]
    for name in hosts:
        where = " (on this machine)" if name == "localhost" and len(hosts) > 1 else ""
        err.print(
            f"console{where}: {scheme}://{name}:{port}/console"
            + (f"?token={token}" if token else ""),
            highlight=False,
            soft_wrap=True,
        )


def worker(
    rooms: Annotated[int, typer.Option("--rooms", min=1, help="live rooms held at once")] = 4,
) -> None:
    """Run live rooms for the gateways (`tingshuo serve`) that share TINGSHUO_BUS_URL and
    TINGSHUO_DATABASE_URL: holds the models, claims rooms, stores and publishes captions."""
    from ..live.room_worker import RoomWorker
    from ..store.connection import wait_for_database

    settings = get_settings()
    wait_for_database(settings.database_url)  # started before its database: wait, not exit
    room_worker = RoomWorker(settings, rooms)
    if settings.worker_metrics_port:  # its rooms' lags are measured here (docs/operations.md)
        from ..server.metrics import serve_worker_metrics

        serve_worker_metrics(room_worker)
    room_worker.run()


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
    Console(emoji=False).print(table)
