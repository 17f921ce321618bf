"""The browser pages: organizer console, projector screen, attendee phone.

Each page is a static shell served by tingshuo itself (no CDN, no web fonts); its script
reads the room id and token from the address and talks to the REST API and WebSockets.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"

router = APIRouter(include_in_schema=False)

# the shells hold no data: a page without a valid token shows the API's refusal
_NO_CACHE = {"Cache-Control": "no-cache"}


def _page(name: str) -> FileResponse:
    return FileResponse(STATIC / name, media_type="text/html; charset=utf-8", headers=_NO_CACHE)


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/console")


@router.get("/console")
def console() -> FileResponse:
    return _page("console.html")


@router.get("/room/{room_id}/screen")
def screen(room_id: str) -> FileResponse:  # noqa: ARG001 (read by the page's script)
    return _page("screen.html")


@router.get("/room/{room_id}")
def phone(room_id: str) -> FileResponse:  # noqa: ARG001
    return _page("phone.html")


# ReDoc as fastapi-offline ships it, less the one thing it still fetches from the internet:
# the Redocly logo in its footer (a page opened in a hall without a network tried a CDN)
_DOCS_ASSETS = "/static-offline-docs"
_REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@cache
def _redoc_js() -> bytes:
    import fastapi_offline

    bundle = Path(fastapi_offline.__file__).parent / "static" / "redoc.standalone.js"
    return bundle.read_bytes().replace(_REDOC_LOGO.encode(), f"{_DOCS_ASSETS}/favicon.png".encode())


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    return get_redoc_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=f"{root}/static/redoc.standalone.js",
        redoc_favicon_url=f"{root}{_DOCS_ASSETS}/favicon.png",
        with_google_fonts=False,
    )


@router.get("/static/redoc.standalone.js")
def redoc_js() -> Response:
    return Response(_redoc_js(), media_type="text/javascript", headers=_NO_CACHE)


def mount_static(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
