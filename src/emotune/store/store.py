"""The listener store's writes and the reads a session needs: every event is committed as it happens.

A session's rows (trace, plays, feedback) are each written in their own transaction, so a killed process loses at most
the trace point it was writing; the session stays, ``finished=false``. Learning (:meth:`ListenerStore.fold`) locks
the listener's row first, so two sessions of one listener that end at once fold one after the other and lose nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
from sqlalchemy import Engine, delete, func, insert, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as OrmSession

from emotune.store.engine import StoreSettings, open_engine
from emotune.store.schema import (
    EVENTS,
    PLAY_ENDINGS,
    FeedbackRecord,
    Listener,
    PlayRecord,
    PreferenceRecord,
    SessionRecord,
    TraceRecord,
    utcnow,
)
from emotune.utils.errors import ConfigError

PrefRow = tuple[str, str, float, float, float]  # model, feature, mean, var, n
VA = Sequence[float] | np.ndarray  # a (valence, arousal) pair


@dataclass
class Evidence:
    """What one session taught: its plays and its feedback (rows as written), for a preference model to fold."""

    session_id: int
    mode: str
    plays: list[PlayRecord]
    feedback: list[FeedbackRecord]


def _opt(x: Any) -> float | None:
    return None if x is None else float(x)


def check_name(name: str) -> str:
    """A listener's name: non-empty, at most 100 characters, no control characters."""
    clean = str(name).strip()
    if not clean or len(clean) > 100 or any(ord(c) < 32 for c in clean):
        raise ConfigError(
            f"listener={name!r} is not a usable name; give 1-100 printable characters, e.g. listener=ana."
        )
    return clean


class ListenerStore:
    """The store behind ``store.url`` (opened, checked and migrated by :func:`open_engine`).

    Args:
        engine: an engine from :func:`open_engine`.
        settings: the ``store`` settings it was opened with.
    """

    def __init__(self, engine: Engine, settings: StoreSettings) -> None:
        self.engine, self.settings = engine, settings

    @classmethod
    def open(cls, settings: StoreSettings) -> ListenerStore:
        """Open (create, upgrade) the store at ``settings.url``."""
        return cls(open_engine(settings.url, settings.busy_timeout_s), settings)

    def close(self) -> None:
        """Release the connections."""
        self.engine.dispose()

    def orm(self) -> OrmSession:
        """An ORM session whose objects stay readable after commit."""
        return OrmSession(self.engine, expire_on_commit=False)

    # -- listeners --------------------------------------------------------------------------------------------
    def listener_id(self, name: str, create: bool) -> int | None:
        """The id of listener ``name`` (created when missing and ``create``; else ``None``)."""
        name = check_name(name)
        try:
            with self.orm() as s, s.begin():
                found = s.scalar(select(Listener.id).where(Listener.name == name))
                if found is not None or not create:
                    return found
                row = Listener(name=name, created_at=utcnow(), prefs_version=0)
                s.add(row)
                s.flush()
                return row.id
        except IntegrityError:  # another process created the same listener between the select and the insert
            with self.orm() as s:
                return s.scalar(select(Listener.id).where(Listener.name == name))

    def listener_names(self) -> list[str]:
        """Every listener's name, sorted."""
        with self.orm() as s:
            return list(s.scalars(select(Listener.name).order_by(Listener.name)))

    # -- one session's writes -----------------------------------------------------------------------------------
    def start_session(
        self,
        listener_id: int,
        *,
        source: str,
        mode: str,
        model_set: str | None,
        catalogue: str,
        fingerprint: str,
        run_dir: str | None = None,
    ) -> int:
        """A new, unfinished session; its id."""
        now = utcnow()
        with self.orm() as s, s.begin():
            row = SessionRecord(listener_id=listener_id, started_at=now, ended_at=None, heartbeat_at=now,
                                source=source, mode=mode, model_set=model_set, catalogue=catalogue,
                                catalogue_fingerprint=fingerprint, finished=False, learned=False, summary=None,
                                run_dir=run_dir)  # fmt: skip
            s.add(row)
            s.flush()
            return row.id

    def add_trace(self, session_id: int, t_s: float, va: VA, sigma: VA | None, face: bool | None) -> None:  # fmt: skip
        """One point of the mood trace (and the session's heartbeat), committed."""
        with self.engine.begin() as conn:
            conn.execute(insert(TraceRecord), {"session_id": session_id, "t_s": float(t_s), "valence": float(va[0]),
                         "arousal": float(va[1]), "sigma_v": None if sigma is None else _opt(sigma[0]),
                         "sigma_a": None if sigma is None else _opt(sigma[1]), "face": face})  # fmt: skip
            conn.execute(update(SessionRecord).where(SessionRecord.id == session_id).values(heartbeat_at=utcnow()))

    def start_play(
        self,
        session_id: int,
        song_id: str,
        start_s: float,
        why: dict[str, Any],
        mood: VA | None,
        goal: VA | None,
    ) -> int:
        """A song starts; its row's id."""
        with self.engine.begin() as conn:
            res = conn.execute(insert(PlayRecord).returning(PlayRecord.id), {
                "session_id": session_id, "song_id": str(song_id), "start_s": float(start_s), "end_s": None,
                "ended": None, "why": json.dumps(why), "mood_start_v": None if mood is None else float(mood[0]),
                "mood_start_a": None if mood is None else float(mood[1]), "mood_end_v": None, "mood_end_a": None,
                "goal_v": None if goal is None else float(goal[0]), "goal_a": None if goal is None else float(goal[1])})  # fmt: skip
            return int(res.scalar_one())

    def end_play(self, play_id: int, end_s: float, ended: str, mood: VA | None) -> None:
        """A song ends (``ended``: dwell_over, skipped, song_over or session_ended)."""
        assert ended in PLAY_ENDINGS, ended
        values: dict[str, Any] = {"end_s": float(end_s), "ended": ended}
        if mood is not None:
            values.update(mood_end_v=float(mood[0]), mood_end_a=float(mood[1]))
        with self.engine.begin() as conn:
            conn.execute(update(PlayRecord).where(PlayRecord.id == play_id).values(**values))

    def add_feedback(
        self,
        listener_id: int,
        session_id: int | None,
        song_id: str,
        event: str,
        t_s: float | None,
        mood: VA | None,
    ) -> int:
        """A like, skip or dislike; its row's id."""
        assert event in EVENTS, event
        with self.engine.begin() as conn:
            res = conn.execute(insert(FeedbackRecord).returning(FeedbackRecord.id), {
                "listener_id": listener_id, "session_id": session_id, "song_id": str(song_id), "event": event,
                "t_s": _opt(t_s), "valence": None if mood is None else float(mood[0]),
                "arousal": None if mood is None else float(mood[1]), "at": utcnow(), "undone": False})  # fmt: skip
            return int(res.scalar_one())

    def finish_session(self, session_id: int, summary: dict[str, Any]) -> None:
        """Mark a session finished with its summary."""
        with self.engine.begin() as conn:
            conn.execute(update(SessionRecord).where(SessionRecord.id == session_id).values(
                finished=True, ended_at=utcnow(), summary=json.dumps(summary)))  # fmt: skip

    # -- what a session reads ---------------------------------------------------------------------------------------
    def banned(self, listener_id: int) -> set[str]:
        """The songs this listener disliked (and did not undo): never played again."""
        with self.orm() as s:
            q = select(FeedbackRecord.song_id).where(
                FeedbackRecord.listener_id == listener_id, FeedbackRecord.event == "dislike", ~FeedbackRecord.undone
            )
            return set(s.scalars(q))

    def preferences(self, listener_id: int) -> list[PrefRow]:
        """Every learned weight of this listener."""
        with self.orm() as s:
            q = select(PreferenceRecord).where(PreferenceRecord.listener_id == listener_id)
            return [(p.model, p.feature, p.mean, p.var, p.n) for p in s.scalars(q)]

    def stale_sessions(self, listener_id: int) -> list[int]:
        """Unfinished, unlearned sessions with no write for ``stale_after_s``: killed; their evidence is still due."""
        cutoff = utcnow() - timedelta(seconds=self.settings.stale_after_s)
        with self.orm() as s:
            q = select(SessionRecord.id).where(SessionRecord.listener_id == listener_id, ~SessionRecord.finished,
                                               ~SessionRecord.learned, SessionRecord.heartbeat_at < cutoff)  # fmt: skip
            return sorted(s.scalars(q))

    # -- learning ---------------------------------------------------------------------------------------------------
    def fold(
        self,
        listener_id: int,
        session_ids: Iterable[int],
        fold_fn: Callable[[list[PrefRow], list[Evidence]], list[PrefRow]],
        feedback_ids: Sequence[int] = (),
    ) -> int:
        """Fold evidence into the listener's stored preferences in one transaction that holds the listener's row
        (concurrent folds wait their turn); ``fold_fn(stored, evidence)`` returns the changed rows.

        ``session_ids``: whole sessions (their plays and feedback), then marked learned (one already learned is
        skipped); ``feedback_ids``: single feedback events given after their session was learned (the page's
        feedback on a finished clip's playlist). Returns how many sessions were folded."""
        with self.orm() as s, s.begin():
            s.execute(update(Listener).where(Listener.id == listener_id)
                      .values(prefs_version=Listener.prefs_version + 1))  # fmt: skip  # the lock, first
            rows = s.scalars(select(SessionRecord).where(SessionRecord.id.in_(list(session_ids)),
                                                         ~SessionRecord.learned).order_by(SessionRecord.id)).all()  # fmt: skip
            ids = [r.id for r in rows]
            plays = s.scalars(select(PlayRecord).where(PlayRecord.session_id.in_(ids)).order_by(PlayRecord.id)).all()
            fb = s.scalars(select(FeedbackRecord).where(FeedbackRecord.session_id.in_(ids))
                           .order_by(FeedbackRecord.id)).all()  # fmt: skip
            evidence = [
                Evidence(
                    r.id, r.mode, [p for p in plays if p.session_id == r.id], [f for f in fb if f.session_id == r.id]
                )
                for r in rows
            ]
            if feedback_ids:
                extra = s.scalars(select(FeedbackRecord).where(FeedbackRecord.id.in_(list(feedback_ids)),
                                                               FeedbackRecord.listener_id == listener_id)).all()  # fmt: skip
                evidence.append(Evidence(-1, "validate", [], list(extra)))
            if not evidence:
                return 0
            stored = [(p.model, p.feature, p.mean, p.var, p.n) for p in s.scalars(
                select(PreferenceRecord).where(PreferenceRecord.listener_id == listener_id))]  # fmt: skip
            changed = fold_fn(stored, evidence)
            if changed:
                keys = [(m, f) for m, f, *_ in changed]
                for i in range(0, len(keys), 400):
                    s.execute(delete(PreferenceRecord).where(
                        PreferenceRecord.listener_id == listener_id,
                        tuple_(PreferenceRecord.model, PreferenceRecord.feature).in_(keys[i : i + 400])))  # fmt: skip
                s.execute(insert(PreferenceRecord), [
                    {"listener_id": listener_id, "model": m, "feature": f, "mean": mu, "var": v, "n": n}
                    for m, f, mu, v, n in changed])  # fmt: skip
            if ids:
                s.execute(update(SessionRecord).where(SessionRecord.id.in_(ids)).values(learned=True))
            return len(ids)

    def set_run_dir(self, session_id: int, run_dir: str) -> None:
        """Name the page's run folder of a session (where it lies once complete)."""
        with self.engine.begin() as conn:
            conn.execute(update(SessionRecord).where(SessionRecord.id == session_id).values(run_dir=run_dir))

    # -- History's edits ------------------------------------------------------------------------------------------
    def undo(self, listener_id: int, feedback_id: int) -> bool:
        """Undo a like or a dislike (History); whether one was undone."""
        with self.engine.begin() as conn:
            res = conn.execute(update(FeedbackRecord).where(
                FeedbackRecord.id == feedback_id, FeedbackRecord.listener_id == listener_id,
                FeedbackRecord.event.in_(("like", "dislike")), ~FeedbackRecord.undone).values(undone=True))  # fmt: skip
            return bool(res.rowcount)

    def forget(self, listener_id: int) -> list[str]:
        """Delete everything of a listener (sessions, trace, plays, feedback, preferences, the name); returns the
        run folders its sessions named (for the page to remove). SQLite's deleted pages are overwritten
        (``secure_delete``) and its write-ahead log emptied."""
        with self.orm() as s, s.begin():
            sessions = select(SessionRecord.id).where(SessionRecord.listener_id == listener_id).scalar_subquery()
            runs = [r for r in s.scalars(select(SessionRecord.run_dir).where(SessionRecord.listener_id == listener_id))
                    if r]  # fmt: skip
            for table in (TraceRecord, PlayRecord):
                s.execute(delete(table).where(table.session_id.in_(sessions)))
            s.execute(delete(FeedbackRecord).where(FeedbackRecord.listener_id == listener_id))
            s.execute(delete(PreferenceRecord).where(PreferenceRecord.listener_id == listener_id))
            s.execute(delete(SessionRecord).where(SessionRecord.listener_id == listener_id))
            s.execute(delete(Listener).where(Listener.id == listener_id))
        if self.engine.dialect.name == "sqlite":
            with self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return runs

    def count(self, listener_id: int) -> dict[str, int]:
        """Rows per table that belong to a listener (``forget`` leaves none)."""
        with self.orm() as s:
            sessions = select(SessionRecord.id).where(SessionRecord.listener_id == listener_id).scalar_subquery()
            return {
                "listeners": s.scalar(select(func.count()).where(Listener.id == listener_id)) or 0,
                "sessions": s.scalar(select(func.count()).where(SessionRecord.listener_id == listener_id)) or 0,
                "trace": s.scalar(select(func.count()).where(TraceRecord.session_id.in_(sessions))) or 0,
                "plays": s.scalar(select(func.count()).where(PlayRecord.session_id.in_(sessions))) or 0,
                "feedback": s.scalar(select(func.count()).where(FeedbackRecord.listener_id == listener_id)) or 0,
                "preferences": s.scalar(select(func.count()).where(PreferenceRecord.listener_id == listener_id)) or 0,
            }
