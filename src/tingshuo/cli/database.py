"""`tingshuo db`: the database's schema for operators (every process also upgrades it when it
starts; store/schema.py)."""

from __future__ import annotations

import typer

from ..settings import get_settings
from .common import err

db = typer.Typer(
    help="The database's schema: which revision it is at, and upgrading it.",
    no_args_is_help=True,
)


@db.command()
def current() -> None:
    """The revision the database (TINGSHUO_DATABASE_URL) is at, and this tingshuo's."""
    from ..redact import hide_password
    from ..store import schema
    from ..store.connection import database_engine, revision

    url = get_settings().database_url
    engine = database_engine(url)
    try:
        at = revision(engine)
    finally:
        engine.dispose()
    head = schema.head()
    if at == head:
        state = "this tingshuo's"
    elif at is None:
        state = f"no schema yet, or made before Alembic: `tingshuo db upgrade` brings it to {head}"
    elif schema.known(at):
        state = f"older than this tingshuo's {head}: `tingshuo db upgrade`"
    else:
        state = f"newer than this tingshuo's {head}"
    typer.echo(f"{hide_password(url)}: {at or 'none'} ({state})")


@db.command()
def upgrade() -> None:
    """Bring the database to this tingshuo's schema now (under the lock every process takes),
    rather than at the next start."""
    from ..redact import hide_password
    from ..store import schema
    from ..store.connection import database_engine, revision, upgraded

    url = get_settings().database_url
    engine = database_engine(url)
    try:
        was = revision(engine)
        upgraded(engine)
    finally:
        engine.dispose()
    if was == schema.head():
        err.print(f"{hide_password(url)}: already at {was}", highlight=False, soft_wrap=True)
    else:
        err.print(
            f"{hide_password(url)}: upgraded from {was or 'none'} to {schema.head()}",
            highlight=False,
            soft_wrap=True,
        )
