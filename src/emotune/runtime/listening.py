"""One listening session of one listener, whatever drives it (the session driver, ``infer.py``'s webcam, the page).

:class:`Listening` sits beside a :class:`~emotune.pipeline.matcher.SongMatcher`: it attaches the listener's
preferences (learned in the store) before the first song, applies feedback (skip, like, dislike), writes the session
as it happens (the mood trace every ``store.trace_every_s``, each play when it starts and ends, each feedback event)
and, at the end, folds what the session taught into the stored preferences. Without a listener nothing is attached or
stored and feedback still works for the session (a skip switches; nothing is learned).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from omegaconf import DictConfig

from emotune.pipeline.matcher import SongMatcher
from emotune.pipeline.personal import PersonalRanker, PersonalSettings, SongFeatures
from emotune.pipeline.play import Play
from emotune.runtime.cli_config import instantiate
from emotune.store import ListenerStore
from emotune.store.store import Evidence, PrefRow
from emotune.utils.errors import DataError

if TYPE_CHECKING:  # the full chain imports torch: not for the session driver, which starts in about a second
    from emotune.pipeline.chain import TimelineRow

log = logging.getLogger(__name__)

EVENTS = ("skip", "like", "dislike")


def response_per_min(mood_start: Sequence[float | None], mood_end: Sequence[float | None],
                     goal: Sequence[float | None], seconds: float) -> float | None:  # fmt: skip
    """How far the mood moved toward ``goal`` during a play, reference units per minute (``None``: not measured)."""
    parts = [*mood_start, *mood_end, *goal]
    if any(x is None for x in parts) or seconds <= 1.0:
        return None
    g = np.asarray(goal, float)
    before = float(np.linalg.norm(np.asarray(mood_start, float) - g))
    after = float(np.linalg.norm(np.asarray(mood_end, float) - g))
    return (before - after) / (seconds / 60.0)


def fold_evidence(settings: PersonalSettings, features: SongFeatures, stored: list[PrefRow],
                  evidence: list[Evidence]) -> list[PrefRow]:  # fmt: skip
    """Stored preferences plus sessions' evidence: full plays, (guide) measured responses, likes, skips, dislikes;
    returns the changed rows."""
    ranker = PersonalRanker(settings, features, stored, set(), 0)
    for ev in evidence:
        for p in ev.plays:
            if p.end_s is None:  # cut off by a killed process: not evidence
                continue
            resp = None
            if ev.mode == "guide":
                resp = response_per_min((p.mood_start_v, p.mood_start_a), (p.mood_end_v, p.mood_end_a),
                                        (p.goal_v, p.goal_a), p.end_s - p.start_s)  # fmt: skip
            start = None if p.mood_start_v is None or p.mood_start_a is None else (p.mood_start_v, p.mood_start_a)
            ranker.learn_play(p.song_id, start, p.ended in ("song_over", "dwell_over"), resp)
        for f in ev.feedback:
            mood = None if f.valence is None or f.arousal is None else (f.valence, f.arousal)
            ranker.feedback(f.song_id, f.event, mood)
    return ranker.changed_rows()


class Listening:
    """A session's listener side (see the module docstring).

    Args:
        matcher: the session's matcher (``reset()`` by the caller before the first update).
        store: the listener store (``None`` with no listener).
        listener: the listener's name (``None``: nobody; no personalisation, nothing stored).
        source: what drives the session (driver, webcam, clip, manual).
        model_set: the models' folder, when there are models.
        run_dir: the page's run folder of this session, if any.
    """

    def __init__(self, matcher: SongMatcher, store: ListenerStore | None, listener: str | None, *, source: str,
                 model_set: str | None = None, run_dir: str | None = None) -> None:  # fmt: skip
        self.m, self.store, self.listener = matcher, store, listener
        self.listener_id: int | None = None
        self.session_id: int | None = None
        self._play_ids: list[int] = []
        self._next_trace: float | None = None
        self.counts = {e: 0 for e in EVENTS}
        self._dist_sum, self._dist_n = 0.0, 0
        self.trace_every_s = store.settings.trace_every_s if store is not None else 1.0
        if listener is None:
            matcher.attach(None)
            return
        if store is None:
            raise DataError("a listener needs a store: set store.url (conf/store/).")
        lid = store.listener_id(listener, create=True)
        assert lid is not None
        self.listener_id = lid
        features = matcher.song_features()
        stale = store.stale_sessions(lid)
        if stale:  # killed sessions: learn what they taught, now
            store.fold(lid, stale, lambda rows, ev: fold_evidence(matcher.personal, features, rows, ev))
        self.session_id = store.start_session(lid, source=source, mode=matcher.mode, model_set=model_set,
                                              catalogue=matcher.catalog.name,
                                              fingerprint=matcher.catalog.fingerprint(), run_dir=run_dir)  # fmt: skip
        ranker = PersonalRanker(matcher.personal, features, store.preferences(lid), store.banned(lid), self.session_id)
        matcher.attach(ranker)

    @property
    def ranker(self) -> PersonalRanker | None:
        """The listener's preferences attached to the matcher (``None`` without a listener)."""
        return self.m.ranker

    # -- as the session goes ----------------------------------------------------------------------------------
    def after_update(self, t_s: float, mood: np.ndarray, sigma: Sequence[float] | None, face: bool | None) -> None:
        """After each ``matcher.update``: the trace point when due, the plays that started or ended."""
        self._sync_plays()
        cur = self.m.current
        if cur is not None and self.m.last_mood is not None:
            self._dist_sum += float(np.linalg.norm(self.m.points[cur.row] - self.m.last_mood))
            self._dist_n += 1
        if self.session_id is None or self.store is None:
            return
        if self._next_trace is None or t_s + 1e-9 >= self._next_trace:
            self.store.add_trace(self.session_id, t_s, np.asarray(mood, float), sigma, face)
            self._next_trace = t_s + self.trace_every_s

    def after_row(self, row: TimelineRow) -> None:
        """:meth:`after_update` for a row of the full chain (the fused σ, whether a face was found)."""
        var = row.perception.fused_var
        sigma = None if var is None or not np.all(np.isfinite(var)) else np.sqrt(np.clip(var, 0, None)).tolist()
        self.after_update(row.t_s, row.stabilized, sigma, bool(row.perception.face_found))

    def feedback(self, t_s: float, event: str) -> Play:
        """The listener's ``skip``, ``like`` or ``dislike`` of the song playing; the song playing afterwards (a skip or
        a dislike switches at once)."""
        if event not in EVENTS:
            raise DataError(f"event={event!r} is not a feedback event; send one of: {', '.join(EVENTS)}.")
        cur = self.m.current
        if cur is None or self.m.last_mood is None:
            raise DataError(f"{event} before any song: send a mood reading first.")
        mood = self.m.last_mood.copy()
        self.counts[event] += 1
        if self.ranker is not None:
            self.ranker.feedback(cur.song_id, event, mood)
        if self.store is not None and self.listener_id is not None:
            self.store.add_feedback(self.listener_id, self.session_id, cur.song_id, event, t_s, mood)
        play = self.m.skip(t_s) if event in ("skip", "dislike") else cur
        self._sync_plays()
        return play

    def _sync_plays(self) -> None:
        plays = self.m.playlist
        if self.session_id is None or self.store is None:
            return
        for i in range(len(self._play_ids), len(plays)):
            if i > 0:
                self._end(i - 1)
            p = plays[i]
            mood = None if p.mood_start is None else p.mood_start.tolist()
            goal = None if p.goal is None else p.goal.tolist()
            self._play_ids.append(self.store.start_play(self.session_id, p.song_id, p.start_s, p.why, mood, goal))

    def _end(self, i: int) -> None:
        p = self.m.playlist[i]
        if self.store is not None and p.end_s is not None and p.ended is not None:
            self.store.end_play(
                self._play_ids[i], p.end_s, p.ended, None if p.mood_end is None else p.mood_end.tolist()
            )

    # -- the end ----------------------------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """The listener's side of the session summary."""
        return {
            "listener": self.listener,
            "session": self.session_id,
            "skips": self.counts["skip"],
            "likes": self.counts["like"],
            "dislikes": self.counts["dislike"],
            "personal": self.ranker is not None,
            "mean_song_mood_distance": round(self._dist_sum / self._dist_n, 4) if self._dist_n else None,
        }

    def finish(self, summary: dict[str, Any]) -> None:
        """Close the session (the caller has called ``matcher.finish``): the last play, the summary, the learning."""
        self._sync_plays()
        if self._play_ids:
            self._end(len(self._play_ids) - 1)
        if self.store is not None and self.session_id is not None and self.listener_id is not None:
            self.store.finish_session(self.session_id, summary)
            m = self.m
            features = m.song_features()
            self.store.fold(self.listener_id, [self.session_id],
                            lambda rows, ev: fold_evidence(m.personal, features, rows, ev))  # fmt: skip
        self.close()

    def close(self) -> None:
        """Detach the listener from the matcher (a session that was not finished stays unfinished in the store)."""
        self.m.attach(None)


def open_listening(cfg: DictConfig, matcher: SongMatcher, video: Any, out_dir: Any) -> Listening:
    """The listener side of an ``infer.py`` run: ``cfg.listener`` with ``cfg.store`` (a webcam index is a webcam
    session, anything else a clip), or nobody."""
    listener = cfg.get("listener")
    if not listener:
        return Listening(matcher, None, None, source="clip")
    store = ListenerStore.open(instantiate(cfg.store))
    live = str(video).isdigit()
    return Listening(matcher, store, str(listener), source="webcam" if live else "clip",
                     model_set=cfg.get("ckpt", {}).get("dir"), run_dir=str(out_dir))  # fmt: skip
