"""The engine and its sessions, which the store's reads and writes share; a database error as
one StoreError line; a start's wait for a database that is not up yet. A database URL is
shown only through redact.hide_password."""

from __future__ import annotations

import functools
import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from ..errors import StoreError, TingshuoError
from ..redact import hide_password
from . import schema

P = ParamSpec("P")
T = TypeVar("T")

log = logging.getLogger(__name__)

_WAIT_S = (0.5, 1.0, 2.0, 4.0, 5.0)  # between tries while the database is not up yet
# what no retry mends: the URL's user, password or database name is wrong
_MISCONFIGURED = (
    "password authentication failed",
    "does not exist",
    "no password supplied",
    "pg_hba.conf",
    "authentication failed",
    "invalid dsn",
    "invalid connection option",
)


def wait_for_database(url: str) -> None:
    """Return once the database answers. One that is not up yet (refused, starting, a name
    not resolved) is waited for, with backoff, said in one log line; a misconfigured one (a
    bad URL, a wrong password, an unknown database) raises at once."""
    try:
        parsed = make_url(url)
        engine = create_engine(parsed, poolclass=NullPool)
    except (ArgumentError, ImportError, ValueError) as e:
        raise TingshuoError(f"{hide_password(url)}: not a database URL ({e})") from None
    if parsed.drivername.startswith("sqlite"):
        return  # a file: nothing to wait for
    began, tries = time.monotonic(), 0
    try:
        while True:
            try:
                with engine.connect() as connection:
                    connection.execute(text("SELECT 1"))
                break
            except OperationalError as e:
                reason = _reason(e)
                if any(words in reason.lower() for words in _MISCONFIGURED):
                    raise TingshuoError(
                        f"cannot open the database {hide_password(url)}: {_plain(reason)}"
                    ) from None
                if tries == 0:
                    log.warning(
                        "database %s is not up yet (%s); waiting for it",
                        hide_password(url),
                        _plain(reason),
                    )
                time.sleep(_WAIT_S[min(tries, len(_WAIT_S) - 1)])
                tries += 1
    finally:
        engine.dispose()
    if tries:
        log.warning(
            "database %s is up (after %.0f s); going on",
            hide_password(url),
            time.monotonic() - began,
        )


def _plain(reason: str) -> str:
    """psycopg's connection error without its preamble: 'password authentication failed for
    user "x"', 'Connection refused'."""
    return reason.rsplit("failed: ", 1)[-1].removeprefix("FATAL:").strip()


def failing(doing: str) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """A database error (a full disk, a lock, a lost server) becomes one StoreError line,
    "cannot {doing} the database: …"; a write's transaction is rolled back, so what was
    stored before stays."""

    def wrap(method: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(method)
        def call(*args: P.args, **kwargs: P.kwargs) -> T:
            try:
                return method(*args, **kwargs)
            except SQLAlchemyError as e:
                raise StoreError(f"cannot {doing} the database: {_reason(e)}") from e

        return call

    return wrap


def _reason(error: SQLAlchemyError) -> str:
    return str(getattr(error, "orig", None) or error).strip().splitlines()[0]


def _sqlite_wal(busy_timeout_s: float) -> Callable[..., None]:
    """Each new connection's file switched to WAL: readers never wait for a writer, and a
    writer for readers. The mode stays in the file, so only the first opener switches it;
    while another process holds the new file (several opening it at once, one of them
    creating the schema), SQLite answers "locked" at once rather than wait its busy timeout,
    so the switch is tried again until that timeout (8 processes on a new file: 6 of 120
    failed so, before)."""

    def switch(dbapi_connection, _record) -> None:
        deadline = time.monotonic() + busy_timeout_s
        while True:
            try:
                mode = dbapi_connection.execute("PRAGMA journal_mode").fetchone()[0]
                if str(mode).lower() != "wal":
                    dbapi_connection.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    return switch


def database_engine(url: str, busy_timeout_s: float = 5.0) -> Engine:
    """The engine for a database URL, as every part of tingshuo opens it."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as e:
        raise TingshuoError(f"{hide_password(url)}: not a database URL ({e})") from None
    if not parsed.drivername.startswith("sqlite"):
        # a connection the server dropped (a restart) is noticed before it is used
        return create_engine(parsed, pool_pre_ping=True)
    if parsed.database in (None, "", ":memory:"):
        return create_engine(parsed, connect_args={"timeout": busy_timeout_s})
    folder = Path(parsed.database).expanduser().parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise TingshuoError(f"cannot create the database folder {folder}: {e.strerror}") from e
    # a locked database is waited for this long before a statement gives up
    engine = create_engine(parsed, connect_args={"timeout": busy_timeout_s})
    event.listen(engine, "connect", _sqlite_wal(busy_timeout_s))
    return engine


def upgraded(engine: Engine) -> None:
    """The database brought to this tingshuo's schema (schema.py), or one line why not."""
    try:
        schema.upgrade(engine)
    except SQLAlchemyError as e:
        raise _cannot_open(engine, e) from e


def revision(engine: Engine) -> str | None:
    """The database's schema revision (None: no schema yet, or made before Alembic)."""
    try:
        return schema.current(engine)
    except OperationalError as e:
        raise _cannot_open(engine, e) from e


def _cannot_open(engine: Engine, error: SQLAlchemyError) -> TingshuoError:
    return TingshuoError(
        f"cannot open the database {hide_password(str(engine.url))}: {_plain(_reason(error))}"
    )


class Connection:
    """A database by URL, made or upgraded to this tingshuo's schema on opening."""

    def __init__(self, url: str, busy_timeout_s: float = 5.0) -> None:
        self.engine = database_engine(url, busy_timeout_s)
        upgraded(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def _db(self) -> Session:
        return self._sessions()
