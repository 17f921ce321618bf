"""Fault suite (issue 12): hostile input and broken conditions, each with what a client sees.

Servers here are real uvicorn servers in this process (tests/helpers.py's LiveServer) sharing
the session's recognizer; each gets a private database.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def server_overrides() -> dict:
    """The `server` here has the default limits but a 2 MB upload limit."""
    return {"max_upload_mb": 2}
