"""A room's recorded sound: the room's `record` setting, a session's `audio` state, and the
sound's chunks (Ogg/Opus pages, audio/opus.py).

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
    op.drop_column("sessions", "audio")
    op.drop_column("rooms", "record")
