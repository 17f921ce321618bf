"""The schema as tingshuo had it before Alembic: sessions, captions and their revisions, rooms
with their voices, rundowns and prepared texts, id counters, server settings.

A database made by an older tingshuo has some of these tables already (no `alembic_version`):
what it lacks is added here (tables, columns with their defaults, indexes) and nothing it holds
is changed. The tables are written out as they stood, not taken from tables.py, so that this
migration says the same thing after the models change.

Revision ID: 0001
Revises:
Create Date: 2026-12-06
"""

from __future__ import annotations

import json
import logging

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

log = logging.getLogger("tingshuo.store.schema")

# info["fill"]: the model's default, given to rows stored before their column was added
schema = sa.MetaData()
sa.Table(
    "sessions",
    schema,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("source", sa.String(1000), nullable=False, info={"fill": ""}),
    sa.Column("lang", sa.String(16), nullable=False, info={"fill": "auto"}),
    sa.Column("hotwords", sa.JSON, nullable=False, info={"fill": []}),
    sa.Column("targets", sa.JSON, nullable=False, info={"fill": []}),
    sa.Column("status", sa.String(16), nullable=False, info={"fill": "live"}),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("duration", sa.Float, nullable=False, info={"fill": 0.0}),
    sa.Column("room_id", sa.String(64), nullable=True, index=True),
)
sa.Table(
    "rooms",
    schema,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(300), nullable=False),
    sa.Column("lang", sa.String(16), nullable=False, info={"fill": "auto"}),
    sa.Column("targets", sa.JSON, nullable=False, info={"fill": []}),
    sa.Column("hotwords", sa.JSON, nullable=False, info={"fill": []}),
    sa.Column("glossary", sa.JSON, nullable=False, info={"fill": []}),
    sa.Column("rules", sa.JSON, nullable=False, info={"fill": []}),
    sa.Column("viewer_token", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False, info={"fill": "idle"}),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
sa.Table(
    "rundowns",
    schema,
    sa.Column(
        "room_id", sa.String(64), sa.ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("format", sa.String(16), nullable=False),
    sa.Column("position", sa.Integer, nullable=False, info={"fill": -1}),
    sa.Column("cue", sa.Integer, nullable=False, info={"fill": 0}),
    sa.Column("skipped", sa.JSON, nullable=False, info={"fill": []}),
)
sa.Table(
    "voices",
    schema,
    sa.Column(
        "room_id", sa.String(64), sa.ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("total", sa.JSON, nullable=False),
    sa.Column("utterances", sa.Integer, nullable=False, info={"fill": 1}),
)
sa.Table(
    "counters",
    schema,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("next", sa.BigInteger, nullable=False),
)
sa.Table(
    "segments",
    schema,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "session_id",
        sa.String(32),
        sa.ForeignKey("sessions.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("start", sa.Float, nullable=False),
    sa.Column("end", sa.Float, nullable=False),
    sa.Column("lang", sa.String(16), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("speaker", sa.String(100), nullable=True),
    sa.Column("translations", sa.JSON, nullable=False, info={"fill": {}}),
    sa.Column("revision", sa.Integer, nullable=False, info={"fill": 0}),
    sa.Column("original", sa.Text, nullable=True),
    sa.Column("source", sa.String(16), nullable=True),
)
sa.Table(
    "room_texts",
    schema,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "room_id",
        sa.String(64),
        sa.ForeignKey("rooms.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("name", sa.String(300), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("lang", sa.String(16), nullable=False),
    sa.Column("pages", sa.Integer, nullable=False, info={"fill": 0}),
    sa.Column("passages", sa.JSON, nullable=False, info={"fill": []}),
    sa.Column("terms", sa.JSON, nullable=False, info={"fill": []}),
    sa.Column("glossary", sa.JSON, nullable=False, info={"fill": []}),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
sa.Table(
    "revisions",
    schema,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("segment_id", sa.BigInteger, nullable=False, index=True),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("by", sa.String(16), nullable=False),
    sa.Column("editor", sa.String(64), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
sa.Table(
    "server_settings",
    schema,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.JSON, nullable=False, info={"fill": []}),
)


def upgrade() -> None:
    bind = op.get_bind()
    present = set(sa.inspect(bind).get_table_names())
    for table in schema.sorted_tables:
        if table.name not in present:
            table.create(bind)
            continue
        # a table an older tingshuo made: what it lacks is added, nothing is changed
        reflected = sa.inspect(bind)
        columns = {c["name"] for c in reflected.get_columns(table.name)}
        for column in table.columns:
            if column.name not in columns:
                _add_column(table.name, column, bind.dialect)
        indexes = {i["name"] for i in reflected.get_indexes(table.name)}
        for index in table.indexes:
            if index.name not in indexes:
                index.create(bind)


def _add_column(table: str, column: sa.Column, dialect: sa.Dialect) -> None:
    """A column added since the table was made: rows stored before get its default, and it
    is NOT NULL where the default lets it be."""
    default = _literal_default(column, dialect)
    op.add_column(
        table,
        sa.Column(
            column.name,
            column.type,
            nullable=column.nullable or default is None,
            server_default=sa.text(default) if default is not None else None,
        ),
    )
    log.warning("database upgraded: %s.%s added", table, column.name)


def _literal_default(column: sa.Column, dialect: sa.Dialect) -> str | None:
    if "fill" not in column.info:
        return None
    value = column.info["fill"]
    if isinstance(column.type, sa.JSON):
        value = json.dumps(value, ensure_ascii=False)
    return str(sa.literal(value).compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def downgrade() -> None:
    schema.drop_all(op.get_bind())
