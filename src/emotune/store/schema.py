"""The store's tables as SQLAlchemy 2 ORM classes (the Alembic migrations in :mod:`.migrations` create them).

Times: ``*_at`` columns are UTC wall-clock times (naive, UTC by convention); ``t_s`` / ``*_s`` columns are seconds
from the session's start (the clock of the video, the webcam or the driver's input). V-A is on the [-1, 1] reference.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Constraint names fixed by convention, so a later migration can name what it alters (on SQLite and PostgreSQL alike).
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

PLAY_ENDINGS = ("dwell_over", "skipped", "song_over", "session_ended")
EVENTS = ("like", "skip", "dislike")


def utcnow() -> datetime:
    """Now, UTC, without a tzinfo (how the store keeps wall-clock times)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    """The store's declarative base."""

    metadata = MetaData(naming_convention=NAMING)


class Listener(Base):
    """A person who listens: a name chosen on the page or with ``listener=NAME``."""

    __tablename__ = "listeners"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String, unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    prefs_version: Mapped[int] = mapped_column(Integer)  # bumped by each fold: serialises concurrent learners


class SessionRecord(Base):
    """One listening session (a clip, a webcam or manual session, a session driver's input)."""

    __tablename__ = "sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    listener_id: Mapped[int] = mapped_column(ForeignKey("listeners.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[datetime] = mapped_column(DateTime)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime)  # last write: a stale unfinished session was killed
    source: Mapped[str] = mapped_column(String)  # driver | webcam | clip | manual
    mode: Mapped[str] = mapped_column(String)  # validate | guide
    model_set: Mapped[str | None] = mapped_column(String)
    catalogue: Mapped[str] = mapped_column(String)
    catalogue_fingerprint: Mapped[str] = mapped_column(String)
    finished: Mapped[bool] = mapped_column(Boolean)
    learned: Mapped[bool] = mapped_column(Boolean)  # its evidence is folded into the listener's preferences
    summary: Mapped[str | None] = mapped_column(Text)  # JSON
    run_dir: Mapped[str | None] = mapped_column(Text)  # the page's run folder of this session, if any


class TraceRecord(Base):
    """The stabilized mood at about 1 Hz."""

    __tablename__ = "trace"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    t_s: Mapped[float] = mapped_column(Float)
    valence: Mapped[float] = mapped_column(Float)
    arousal: Mapped[float] = mapped_column(Float)
    sigma_v: Mapped[float | None] = mapped_column(Float)
    sigma_a: Mapped[float | None] = mapped_column(Float)
    face: Mapped[bool | None] = mapped_column(Boolean)


class PlayRecord(Base):
    """A song played: when, why, how it ended, and the mood at its start and end (the measured response)."""

    __tablename__ = "plays"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    song_id: Mapped[str] = mapped_column(String)
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float | None] = mapped_column(Float)
    ended: Mapped[str | None] = mapped_column(String)  # PLAY_ENDINGS
    why: Mapped[str] = mapped_column(Text)  # JSON
    mood_start_v: Mapped[float | None] = mapped_column(Float)
    mood_start_a: Mapped[float | None] = mapped_column(Float)
    mood_end_v: Mapped[float | None] = mapped_column(Float)
    mood_end_a: Mapped[float | None] = mapped_column(Float)
    goal_v: Mapped[float | None] = mapped_column(Float)  # guide mode: the plan's goal while it played
    goal_a: Mapped[float | None] = mapped_column(Float)


class FeedbackRecord(Base):
    """A like, skip or dislike, with the mood when it was given; ``undone`` from History."""

    __tablename__ = "feedback"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    listener_id: Mapped[int] = mapped_column(ForeignKey("listeners.id", ondelete="CASCADE"), index=True)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    song_id: Mapped[str] = mapped_column(String)
    event: Mapped[str] = mapped_column(String)  # EVENTS
    t_s: Mapped[float | None] = mapped_column(Float)
    valence: Mapped[float | None] = mapped_column(Float)
    arousal: Mapped[float | None] = mapped_column(Float)
    at: Mapped[datetime] = mapped_column(DateTime)
    undone: Mapped[bool] = mapped_column(Boolean)


class PreferenceRecord(Base):
    """One learned weight of a listener's preference model: its posterior mean, variance and evidence count."""

    __tablename__ = "preferences"
    listener_id: Mapped[int] = mapped_column(ForeignKey("listeners.id", ondelete="CASCADE"), primary_key=True)
    model: Mapped[str] = mapped_column(String, primary_key=True)  # taste | response
    feature: Mapped[str] = mapped_column(String, primary_key=True)  # song:ID, artist:NAME, genre:NAME, ...
    mean: Mapped[float] = mapped_column(Float)
    var: Mapped[float] = mapped_column(Float)
    n: Mapped[float] = mapped_column(Float)
