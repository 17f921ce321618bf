"""HTTPS on the LAN: what `tingshuo serve --https` adds to the app, and its two servers.

The app is served over TLS on the HTTPS port. The plain HTTP port only redirects, to the same
path and query on the HTTPS port, so links and QR codes printed before still work; and it
hands out the certificate phones install, which over HTTPS they could fetch only past a
warning. Both servers run in one process on one event loop: one app, one set of models.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel
from starlette.types import Receive, Scope, Send

from .api_rooms import public_base
from .tls import Certificate

TRUST_PATH = "/tingshuo-ca.crt"
# what phones take for a certificate to install (Android's and iOS's installers open it)
_CERT_TYPE = "application/x-x509-ca-cert"

router = APIRouter()


class TlsOut(BaseModel):
    """The console's certificate panel: what a phone shows, and what it installs."""

    fingerprint: str  # SHA-256 of the server's certificate
    names: list[str]
    trust_url: str  # public: the certificate phones install
    # the same over plain HTTP, for phones (the HTTP port serves it: no warning before it is
    # trusted), and as a QR code
    trust_link: str
    trust_qr: str
    trust_fingerprint: str  # SHA-256 of that one (the local authority's)
    own: bool  # the organizer's certificate (--certfile)


@router.get("/api/tls")
def tls_info(request: Request) -> TlsOut:
    """This server's certificate: its fingerprint, and where phones get what they trust."""
    cert: Certificate = request.app.state.tls
    return TlsOut(
        fingerprint=cert.fingerprint,
        names=list(cert.names),
        trust_url=TRUST_PATH,
        trust_link=trust_link(request),
        trust_qr="/api/tls/qr.svg",
        trust_fingerprint=cert.trust_fingerprint,
        own=cert.own,
    )


@router.get("/api/tls/qr.svg", include_in_schema=False)
def trust_qr(request: Request) -> Response:
    import segno

    out = io.BytesIO()
    segno.make(trust_link(request), error="m").save(
        out, kind="svg", scale=6, border=2, xmldecl=False
    )
    return Response(out.getvalue(), media_type="image/svg+xml")


def trust_link(request: Request) -> str:
    """Where a phone downloads the certificate to trust: the plain HTTP port, by the address
    viewers are sent to (TINGSHUO_PUBLIC_URL as it is: its HTTP port is not ours to know)."""
    settings = request.app.state.settings
    if settings.public_url:
        return settings.public_url.rstrip("/") + TRUST_PATH
    host = urlsplit(public_base(request)).hostname or "localhost"
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.port}{TRUST_PATH}"


@router.get(TRUST_PATH, include_in_schema=False)
def trust(request: Request) -> Response:
    return _trust_response(request.app.state.tls)


def enable(app: FastAPI, cert: Certificate) -> None:
    """The app, served over TLS with `cert`: its certificate panel and download."""
    app.state.tls = cert
    app.include_router(router)


def redirect_app(https_port: int, cert: Certificate) -> Any:
    """The plain HTTP port's ASGI app: the certificate download, else a redirect to HTTPS."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            # an old page's socket: closed before it opens (403); the page reloads as HTTPS
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":
            return
        if scope["path"] == TRUST_PATH:
            await _trust_response(cert)(scope, receive, send)
            return
        host = _host(scope)
        query = scope.get("query_string", b"").decode("latin-1")
        path = scope.get("raw_path", scope["path"].encode()).decode("latin-1") or "/"
        url = f"https://{host}:{https_port}{path}" + (f"?{query}" if query else "")
        # 307, not 301/308: a browser caches a permanent redirect, and the same address might
        # be served without --https another day; 307 keeps the method and body too
        await RedirectResponse(url, status_code=307)(scope, receive, send)

    return app


def _host(scope: Scope) -> str:
    """The name the browser used, without its port (an IPv6 address keeps its brackets)."""
    for name, value in scope.get("headers", []):
        if name == b"host":
            host = value.decode("latin-1")
            if host.startswith("["):
                return host.split("]")[0] + "]"
            return host.rsplit(":", 1)[0] if ":" in host else host
    server = scope.get("server") or ("localhost", 0)
    return f"[{server[0]}]" if ":" in server[0] else server[0]


def _trust_response(cert: Certificate) -> Response:
    return Response(
        cert.trust_pem,
        media_type=_CERT_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{TRUST_PATH[1:]}"'},
    )


class _Follower(uvicorn.Server):
    """The redirecting server: stops when the app's server stops; the signals are that one's."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def servers(
    app: FastAPI,
    cert: Certificate,
    host: str,
    port: int,
    https_port: int,
    **config: Any,
) -> tuple[uvicorn.Server, uvicorn.Server]:
    """The app's server (TLS on `https_port`) and the redirecting one (plain, on `port`)."""
    main = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=https_port,
            ssl_certfile=str(cert.certfile),
            ssl_keyfile=str(cert.keyfile),
            **config,
        )
    )
    redirect = _Follower(
        uvicorn.Config(
            redirect_app(https_port, cert), host=host, port=port, lifespan="off", **config
        )
    )
    return main, redirect


async def serve_both(main: uvicorn.Server, redirect: uvicorn.Server) -> None:
    task = asyncio.create_task(redirect.serve())
    try:
        await main.serve()
    finally:
        redirect.should_exit = True
        await task


def run(main: uvicorn.Server, redirect: uvicorn.Server) -> None:
    """Both servers until the app's stops (Ctrl-C, SIGTERM), as `uvicorn.run` runs one."""
    with asyncio.Runner(loop_factory=main.config.get_loop_factory()) as runner:
        runner.run(serve_both(main, redirect))
