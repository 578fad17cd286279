"""The listener store's first schema: listeners, sessions, trace, plays, feedback, preferences.

Revision ID: 0001_listener_store
Revises:
Create Date: 2026-05-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_listener_store"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the six tables."""
    op.create_table(
        "listeners",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("prefs_version", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_listeners"),
        sa.UniqueConstraint("name", name="uq_listeners_name"),
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("listener_id", sa.Integer, nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("ended_at", sa.DateTime, nullable=True),
        sa.Column("heartbeat_at", sa.DateTime, nullable=False),
        sa.Column("source", sa.String, nullable=False),
        sa.Column("mode", sa.String, nullable=False),
        sa.Column("model_set", sa.String, nullable=True),
        sa.Column("catalogue", sa.String, nullable=False),
        sa.Column("catalogue_fingerprint", sa.String, nullable=False),
        sa.Column("finished", sa.Boolean, nullable=False),
        sa.Column("learned", sa.Boolean, nullable=False),
        sa.Column("summary", sa.Text, nullable=True),
        sa.Column("run_dir", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_sessions"),
        sa.ForeignKeyConstraint(
            ["listener_id"], ["listeners.id"], ondelete="CASCADE", name="fk_sessions_listener_id_listeners"
        ),
    )
    op.create_index("ix_sessions_listener_id", "sessions", ["listener_id"])
    op.create_table(
        "trace",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("session_id", sa.Integer, nullable=False),
        sa.Column("t_s", sa.Float, nullable=False),
        sa.Column("valence", sa.Float, nullable=False),
        sa.Column("arousal", sa.Float, nullable=False),
        sa.Column("sigma_v", sa.Float, nullable=True),
        sa.Column("sigma_a", sa.Float, nullable=True),
        sa.Column("face", sa.Boolean, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_trace"),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], ondelete="CASCADE", name="fk_trace_session_id_sessions"
        ),
    )
    op.create_index("ix_trace_session_id", "trace", ["session_id"])
    op.create_table(
        "plays",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("session_id", sa.Integer, nullable=False),
        sa.Column("song_id", sa.String, nullable=False),
        sa.Column("start_s", sa.Float, nullable=False),
        sa.Column("end_s", sa.Float, nullable=True),
        sa.Column("ended", sa.String, nullable=True),
        sa.Column("why", sa.Text, nullable=False),
        *(
            sa.Column(c, sa.Float, nullable=True)
            for c in ("mood_start_v", "mood_start_a", "mood_end_v", "mood_end_a", "goal_v", "goal_a")
        ),
        sa.PrimaryKeyConstraint("id", name="pk_plays"),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], ondelete="CASCADE", name="fk_plays_session_id_sessions"
        ),
    )
    op.create_index("ix_plays_session_id", "plays", ["session_id"])
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("listener_id", sa.Integer, nullable=False),
        sa.Column("session_id", sa.Integer, nullable=True),
        sa.Column("song_id", sa.String, nullable=False),
        sa.Column("event", sa.String, nullable=False),
        sa.Column("t_s", sa.Float, nullable=True),
        sa.Column("valence", sa.Float, nullable=True),
        sa.Column("arousal", sa.Float, nullable=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("undone", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_feedback"),
        sa.ForeignKeyConstraint(
            ["listener_id"], ["listeners.id"], ondelete="CASCADE", name="fk_feedback_listener_id_listeners"
        ),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], ondelete="CASCADE", name="fk_feedback_session_id_sessions"
        ),
    )
    op.create_index("ix_feedback_listener_id", "feedback", ["listener_id"])
    op.create_index("ix_feedback_session_id", "feedback", ["session_id"])
    op.create_table(
        "preferences",
        sa.Column("listener_id", sa.Integer, nullable=False),
        sa.Column("model", sa.String, nullable=False),
        sa.Column("feature", sa.String, nullable=False),
        sa.Column("mean", sa.Float, nullable=False),
        sa.Column("var", sa.Float, nullable=False),
        sa.Column("n", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("listener_id", "model", "feature", name="pk_preferences"),
        sa.ForeignKeyConstraint(
            ["listener_id"], ["listeners.id"], ondelete="CASCADE", name="fk_preferences_listener_id_listeners"
        ),
    )


def downgrade() -> None:
    """Drop the six tables."""
    for table in ("preferences", "feedback", "plays", "trace", "sessions", "listeners"):
        op.drop_table(table)
