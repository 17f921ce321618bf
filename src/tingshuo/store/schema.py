"""The database's schema, brought to this tingshuo's by Alembic (migrations/): every process
upgrades on opening, one at a time (a PostgreSQL advisory lock, a lock file beside a SQLite
database), so that any number of gateways and workers can start at once on an empty database.

A database made before Alembic (tables, no `alembic_version`) is upgraded by the first
migration, which adds what it lacks and keeps every row.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import ResolutionError
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from ..errors import TingshuoError
from .tables import Base

log = logging.getLogger(__name__)
# Alembic says "Context impl …" at every opening; this module says what changed, once
logging.getLogger("alembic").setLevel(logging.WARNING)

MIGRATIONS = Path(__file__).with_name("migrations")
# pg_advisory_xact_lock's key: "tingshuo" as a number; locks are per database
_LOCK_KEY = int.from_bytes(b"tingshuo", "big") & 0x7FFF_FFFF_FFFF_FFFF


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def head() -> str:
    """The revision this tingshuo's models are at."""
    found = ScriptDirectory.from_config(_config()).get_current_head()
    assert found is not None
    return found


def current(engine: Engine) -> str | None:
    """The database's revision; None for an empty database or one made before Alembic."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def known(revision: str | None) -> bool:
    """A revision this tingshuo's migrations hold (None: an empty or pre-Alembic database)."""
    if revision is None:
        return True
    try:
        return ScriptDirectory.from_config(_config()).get_revision(revision) is not None
    except ResolutionError:
        return False


def upgrade(engine: Engine) -> bool:
    """Bring the database to head, waiting for any other process doing so; True if this one
    changed it."""
    was = current(engine)
    if was == head():  # the usual start: nothing to take a lock for
        return False
    with _locked(engine) as connection:
        was = MigrationContext.configure(connection).get_current_revision()
        if was == head():
            return False  # another process upgraded it while this one waited
        if not known(was):
            raise TingshuoError(
                f"the database's schema is {was}, newer than this tingshuo's ({head()}): "
                "run the newer tingshuo, or upgrade this one"
            )
        command.upgrade(_config(connection), "head")
    log.info("database schema: %s → %s", was or "none", head())
    return True


def differences(engine: Engine) -> list[Any]:
    """What the models have that the migrations did not make (Alembic's autogenerate diff):
    empty when every model change has its migration."""
    with engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), Base.metadata)


@contextlib.contextmanager
def _locked(engine: Engine) -> Iterator[Connection]:
    """A transaction that holds the database's upgrade lock until it ends."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            # PostgreSQL's DDL is transactional: the lock and the upgrade end together
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            yield connection
        return
    database = engine.url.database
    if engine.dialect.name != "sqlite" or database in (None, "", ":memory:"):
        with engine.begin() as connection:
            yield connection
        return
    with Path(database + ".lock").expanduser().open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # let go when the file closes
        with engine.begin() as connection:
            yield connection
