"""A room's recorded sound: the room's `record` setting, a session's `audio` state, the
sound's chunks (Ogg/Opus pages, audio/opus.py), and the state of its reading again.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "rooms", sa.Column("record", sa.Boolean, nullable=False, server_default=sa.true())
    )
    op.add_column(
        "sessions", sa.Column("audio", sa.String(16), nullable=False, server_default="none")
    )
    op.add_column("sessions", sa.Column("reread_state", sa.String(16), nullable=True))
    op.add_column("sessions", sa.Column("reread_progress", sa.Float, nullable=True))
    op.add_column("sessions", sa.Column("reread_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("sessions", sa.Column("reread_counts", sa.JSON, nullable=True))
    op.add_column("sessions", sa.Column("reread_note", sa.String(300), nullable=True))
    op.create_table(
        "sound_chunks",
        sa.Column(
            "session_id",
            sa.String(32),
            sa.ForeignKey("sessions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("first", sa.Integer, nullable=False),
        sa.Column("packets", sa.Integer, nullable=False),
        sa.Column("pre_skip", sa.Integer, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sound_chunks")
    for column in ("reread_note", "reread_counts", "reread_at", "reread_progress", "reread_state"):
        op.drop_column("sessions", column)
    op.drop_column("sessions", "audio")
    op.drop_column("rooms", "record")
