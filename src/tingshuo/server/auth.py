"""Who may do what: the organizer token (everything) and each room's viewer token (watching).

Tokens come as `Authorization: Bearer …` or, where a browser cannot set headers (WebSocket,
links, downloads), as a `token` query parameter. Missing gives 401, wrong gives 403.
"""

from __future__ import annotations

import secrets

from fastapi import HTTPException, Request
from starlette.requests import HTTPConnection

from ..store.db import RoomInfo

# WebSocket close codes, mirroring the HTTP statuses (documented in docs/protocol.md)
WS_UNAUTHORIZED = 4401
WS_FORBIDDEN = 4403
WS_NOT_FOUND = 4404


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
    return conn.query_params.get("token") or None


def _same(a: str, b: str) -> bool:
    return secrets.compare_digest(a.encode(), b.encode())


def check_organizer(conn: HTTPConnection) -> None:
    token = presented_token(conn)
    if token is None:
        raise Denied(401, "organizer token required: send 'Authorization: Bearer <token>'")
    if not _same(token, conn.app.state.token):
        raise Denied(403, "wrong organizer token")


def check_viewer(conn: HTTPConnection, room: RoomInfo) -> bool:
    """Viewer or organizer; returns True for the organizer."""
    token = presented_token(conn)
    if token is None:
        raise Denied(401, "this room needs its viewer token: open the link the organizer shared")
    if _same(token, conn.app.state.token):
        return True
    if not _same(token, room.viewer_token):
        raise Denied(403, "wrong viewer token for this room")
    return False


def organizer(request: Request) -> None:
    """FastAPI dependency for organizer-only routes."""
    try:
        check_organizer(request)
    except Denied as e:
        raise e.http() from None
