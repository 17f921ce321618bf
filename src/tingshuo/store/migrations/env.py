"""Alembic's environment: migrations run on the connection store/schema.py hands over (it holds
the lock), or, from the `alembic` command (alembic.ini at the repository root), on the
database TINGSHUO_DATABASE_URL names."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from tingshuo.store.tables import Base

config = context.config


def run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite changes most things by copying a table: later migrations can still alter
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    from tingshuo.settings import get_settings

    engine = create_engine(get_settings().database_url)
    with engine.begin() as opened:
        run(opened)
    engine.dispose()
