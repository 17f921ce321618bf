"""The browser pages: organizer console, projector screen, attendee phone.

Each page is a static shell served by tingshuo itself (no CDN, no web fonts); its script
reads the room id and token from the address and talks to the REST API and WebSockets.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, RedirectResponse
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


def mount_static(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
