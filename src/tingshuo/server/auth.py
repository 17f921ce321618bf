"""Who may do what: the organizer token (everything) and each room's viewer token (watching).

Tokens come as `Authorization: Bearer …` or, where a browser cannot set headers (WebSocket,
links, downloads), as a `token` query parameter. Missing gives 401, wrong gives 403.
The console also gets the organizer token as an HttpOnly cookie (`POST /api/login`), which
its WebSockets and images send instead of a `?token=` that would end up in access logs; the
cookie counts only for reads and WebSockets from this server's own pages (SameSite=Strict,
and a WebSocket's Origin must be this host), so another site cannot act with it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from fastapi import HTTPException, Request
from starlette.requests import HTTPConnection

from ..store.db import RoomInfo

# WebSocket close codes, mirroring the HTTP statuses (documented in docs/protocol.md)
WS_UNAUTHORIZED = 4401
WS_FORBIDDEN = 4403
WS_NOT_FOUND = 4404

COOKIE = "tingshuo_organizer"


class Denied(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason

    @property
    def ws_code(self) -> int:
        return 4000 + self.status

    def http(self) -> HTTPException:
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else None
        return HTTPException(self.status, self.reason, headers=headers)


def presented_token(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return conn.query_params.get("token") or _cookie_token(conn)


def _cookie_token(conn: HTTPConnection) -> str | None:
    token = conn.cookies.get(COOKIE)
    if not token:
        return None
    if conn.scope["type"] == "http" and conn.scope.get("method") not in ("GET", "HEAD"):
        return None  # a cookie never authorizes a change: those need the header
    origin = conn.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc not in _own_hosts(conn):
        return None  # a page of another site opening a socket here
    return token


def _own_hosts(conn: HTTPConnection) -> set[str | None]:
    """The names this server is reached by: as asked, through a proxy, or as configured."""
    settings = getattr(conn.app.state, "settings", None)
    public = getattr(settings, "public_url", None)
    return {
        conn.headers.get("host"),
        conn.headers.get("x-forwarded-host"),
        urlsplit(public).netloc if public else None,
    } - {None}


def same(a: str, b: str) -> bool:
    return secrets.compare_digest(a.encode(), b.encode())


def check_organizer(conn: HTTPConnection) -> None:
    token = presented_token(conn)
    if token is None:
        raise Denied(401, "organizer token required: send 'Authorization: Bearer <token>'")
    if not same(token, conn.app.state.token):
        raise Denied(403, "wrong organizer token")


def check_viewer(conn: HTTPConnection, room: RoomInfo) -> bool:
    """Viewer or organizer; returns True for the organizer."""
    token = presented_token(conn)
    if token is None:
        raise Denied(401, "this room needs its viewer token: open the link the organizer shared")
    if same(token, conn.app.state.token):
        return True
    if not same(token, room.viewer_token):
        raise Denied(403, "wrong viewer token for this room")
    return False


def organizer(request: Request) -> None:
    """FastAPI dependency for organizer-only routes."""
    try:
        check_organizer(request)
    except Denied as e:
        raise e.http() from None


def stage_key(conn: HTTPConnection, room_id: str) -> str:
    """What the stage page's link carries besides the viewer token, so that only the stage
    (not a phone with the viewer link) reports the stage's sound. Derived from the organizer
    token: the same on every gateway and after a restart, nothing stored."""
    secret = str(conn.app.state.token).encode()
    return hmac.new(secret, f"stage {room_id}".encode(), hashlib.sha256).hexdigest()[:32]
