"""The engine and its sessions, which the store's reads and writes share, and a database
error as one StoreError line."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ..errors import StoreError, TingshuoError
from .tables import Base, add_missing_columns

P = ParamSpec("P")
T = TypeVar("T")


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


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL: readers never wait for a writer, and a writer for readers
    dbapi_connection.execute("PRAGMA journal_mode=WAL")


class Connection:
    """A database by URL, made or upgraded to this tingshuo's tables on opening."""

    def __init__(self, url: str, busy_timeout_s: float = 5.0) -> None:
        parsed = make_url(url)
        if parsed.drivername.startswith("sqlite") and parsed.database not in (None, "", ":memory:"):
            folder = Path(parsed.database).expanduser().parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise TingshuoError(
                    f"cannot create the database folder {folder}: {e.strerror}"
                ) from e
        if parsed.drivername.startswith("sqlite"):
            # a locked database is waited for this long before a statement gives up
            self.engine = create_engine(url, connect_args={"timeout": busy_timeout_s})
            if parsed.database not in (None, "", ":memory:"):
                event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            # a connection the server dropped (a restart) is noticed before it is used
            self.engine = create_engine(url, pool_pre_ping=True)
        try:
            Base.metadata.create_all(self.engine)
            add_missing_columns(self.engine)
        except OperationalError as e:
            raise TingshuoError(
                f"cannot open the database {parsed.render_as_string()}: {e.orig}"
            ) from e
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def _db(self) -> Session:
        return self._sessions()
