"""MATCH: from a stabilized mood to songs.

Alignment (:mod:`.alignment`) puts the mood on the catalogue's reference; stations (:mod:`.stations`)
find the nearest songs with the design's GMM gating. The matcher keeps what every policy shares: a minimum
dwell per song, a longest play, a recent-song memory, the playlist with why each song was chosen. *When* to
switch and *toward what* is the policy's (:mod:`.policies`, built by Hydra and passed in): ``validate`` (match the
mood) or ``guide`` (a session plan toward calm or energy). A listener's preferences (:mod:`.personal`, :meth:`SongMatcher.attach`) choose
among the songs nearly as close as the nearest; without one the matcher is exactly the non-personal one. Feedback:
:meth:`SongMatcher.skip` switches at once and keeps the skipped song out for the session.
"""

from __future__ import annotations

from typing import Any, cast, overload

import numpy as np

from emotune.data.catalog import Catalog
from emotune.pipeline.alignment import build_alignment
from emotune.pipeline.personal import PersonalRanker, PersonalSettings, SongFeatures
from emotune.pipeline.play import Found, Play
from emotune.pipeline.policies import MatchPolicy
from emotune.pipeline.stations import Stations, StationSettings
from emotune.utils.errors import ConfigError, DataError, check_range


class SongMatcher:
    """When to switch and which song to play (Hydra-built; ``reset()`` per video).

    Args:
        catalog: the songs (any scale; matching happens on the reference scale).
        policy: when to switch and toward what (``matcher.policy``: ``conf/matcher/policy/validate.yaml`` or
            ``guide.yaml``, a :class:`~emotune.pipeline.policies.MatchPolicy`); its ``max_play_s`` caps every play.
        min_dwell_s: a song plays at least this long (unless the video or the song ends first).
        memory: no song repeats within the last ``memory`` songs.
        alignment: ``linear`` or ``quantile`` (FindingEmo label quantiles from ``source_labels``).
        stations: the GMM stations' settings (``matcher.stations``, a :class:`StationSettings` node).
        personal: how a listener's preferences choose (``matcher.personal``, used once one is attached).

    Every setting is required: ``conf/matcher/gmm.yaml`` is its one home.
    """

    def __init__(
        self,
        *,
        catalog: Catalog,
        policy: MatchPolicy,
        min_dwell_s: float,
        memory: int,
        alignment: str,
        source_labels: str | None,
        stations: StationSettings,
        personal: PersonalSettings,
    ) -> None:
        self.min_dwell_s = check_range("matcher.min_dwell_s", min_dwell_s, 0.0)
        self.memory = int(check_range("matcher.memory", memory, 0))
        if len(catalog) <= self.memory:
            raise ConfigError(
                f"matcher.memory={memory} needs more songs than that, but the catalogue has "
                f"{len(catalog)}; lower matcher.memory below {len(catalog)}."
            )
        self.policy = policy
        if self.policy.max_play_s is not None:  # a cap below the dwell would break the dwell
            check_range("matcher.policy.max_play_s", self.policy.max_play_s, self.min_dwell_s)
        self.max_play_s = np.inf if self.policy.max_play_s is None else float(self.policy.max_play_s)
        self.catalog = catalog
        self.points = catalog.va_ref
        self.align = build_alignment(alignment, self.points, source_labels)
        self.stations = Stations(self.points, catalog.fingerprint(), stations)
        self.song_ids = catalog.songs["song_id"].astype(str).to_numpy()
        durations = catalog.songs["duration_s"].to_numpy(np.float64)
        self.durations = np.where(np.isfinite(durations) & (durations > 0), durations, np.inf)
        self.personal = personal
        self.ranker: PersonalRanker | None = None
        self._features: SongFeatures | None = None
        self.reset()

    # -- state ---------------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        """The policy's name: ``validate`` or ``guide``."""
        return self.policy.name

    def reset(self) -> None:
        """Start a new session (a new video)."""
        self.playlist: list[Play] = []
        self.first_mood: np.ndarray | None = None
        self.last_mood: np.ndarray | None = None
        self.skipped: set[str] = set()  # skipped this session: not back before the next
        self.best_distance = np.inf  # the nearest allowed song's distance at the last choice
        self.policy.reset()

    # -- a listener ---------------------------------------------------------------------------------------
    def song_features(self) -> SongFeatures:
        """The catalogue's songs as preference features (built once)."""
        if self._features is None:
            songs = self.catalog.songs
            self._features = SongFeatures(self.song_ids, songs["artist"].astype(str).tolist(),
                                          songs["genre"].astype(str).tolist(), self.stations.song_station.tolist(),
                                          self.catalog.fingerprint(), self.personal.regions)  # fmt: skip
        return self._features

    def attach(self, ranker: PersonalRanker | None) -> None:
        """Choose with a listener's preferences from now on (``None``: without, as before)."""
        self.ranker = ranker

    @property
    def personal_active(self) -> bool:
        """A listener with evidence is attached (a cold one chooses exactly as without)."""
        return self.ranker is not None and not self.ranker.cold

    @property
    def n_stations(self) -> int:
        """How many GMM stations the catalogue has."""
        return len(self.stations)

    @property
    def current(self) -> Play | None:
        """The song playing now."""
        return self.playlist[-1] if self.playlist else None

    # -- per frame ------------------------------------------------------------------------------
    def update(self, t_s: float, mood_fe_ref: np.ndarray) -> Play:
        """Advance to time ``t_s`` with the stabilized mood (FindingEmo reference); return the song playing."""
        mood = np.clip(self.align(np.asarray(mood_fe_ref, float)), -1, 1)
        self.last_mood = mood
        if self.first_mood is None:
            self.first_mood = mood.copy()
        self.policy.observe(t_s, mood)
        cur = self.current
        if cur is None:
            target = self.policy.first_target(mood)
            return self.switch(t_s, mood, target, self.find(target, None))
        elapsed = t_s - cur.start_s
        limit = min(self.durations[cur.row], self.max_play_s)
        if elapsed < min(self.min_dwell_s, limit):
            return cur
        return self.policy.after_dwell(self, t_s, mood, cur, song_over=elapsed >= limit)

    # -- choosing --------------------------------------------------------------------------------
    @overload
    def find(self, target: np.ndarray, previous: None) -> Found: ...
    @overload
    def find(self, target: np.ndarray, previous: Play) -> Found | None: ...
    def find(self, target: np.ndarray, previous: Play | None) -> Found | None:
        """The song to play for ``target`` among those the policy allows outside the memory (and, this session, not
        skipped; for a listener, not disliked): ``(row, distance, stations)``, the nearest unless a listener's
        preferences choose another candidate; ``None`` when none is left after ``previous`` (for a first song, with no
        ``previous``, that is an error)."""
        exclude = {p.song_id for p in self.playlist[-self.memory :]} if self.memory else set()
        exclude |= self.skipped
        if self.ranker is not None:
            exclude |= self.ranker.banned
        if previous is not None:
            exclude.add(previous.song_id)
        allowed = self.policy.allowed(self, exclude, previous)
        found = self.stations.query(target, allowed)
        if found is None and (looser := self.policy.relaxed(self, exclude)) is not None:
            allowed = looser
            found = self.stations.query(target, looser)
        if found is None and previous is None:
            raise ConfigError("No song left to play outside the recent-song memory; lower matcher.memory.")
        if found is None:
            return None
        self.best_distance = found[1]
        if self.personal_active:
            found = self._personal(target, allowed, found)
        return found

    def _personal(self, target: np.ndarray, allowed: Any, nearest: Found) -> Found:
        """The listener's choice among the allowed songs within ``personal.margin`` of the nearest."""
        assert self.ranker is not None
        rows, dists = self.stations.candidates(target, allowed, nearest[1] + self.personal.margin, nearest[2],
                                               self.personal.max_candidates)  # fmt: skip
        if len(rows) < 2 or rows[0] != nearest[0]:
            return nearest
        mood = self.last_mood if self.last_mood is not None else target
        pick = self.ranker.choose(rows, dists, mood, self.mode == "guide")
        return int(rows[pick]), float(dists[pick]), nearest[2]

    def skip(self, t_s: float) -> Play:
        """The listener skips the song playing: the next starts now (the dwell yields) and the skipped one does not
        come back this session; the same song keeps playing only when no other is left."""
        cur = self.current
        if cur is None or self.last_mood is None:
            raise DataError("nothing is playing yet to skip; send a mood reading first.")
        self.skipped.add(cur.song_id)
        target = self.policy.retarget(self.last_mood, cur)
        found = self.find(target, cur)
        if found is None:
            return cur
        return self.switch(max(t_s, cur.start_s), self.last_mood, target, found, ended="skipped")

    def switch(self, t_s: float, mood: np.ndarray, target: np.ndarray, found: Found, ended: str | None = None) -> Play:
        """Start the song ``found`` at ``t_s`` (ending the current one: ``ended``, else song over or dwell over),
        recording why it was chosen."""
        row, dist, searched = found
        cur = self.current
        if cur is not None:
            cur.end_s = t_s
            over = t_s - cur.start_s + 1e-9 >= min(self.durations[cur.row], self.max_play_s)
            cur.ended = ended or ("song_over" if over else "dwell_over")
            cur.mood_end = np.asarray(mood, float).copy()
        why = {
            "mood": np.round(mood, 3).tolist(),
            "target": np.round(target, 3).tolist(),
            "distance": round(dist, 3),
            "stations": [int(s) for s in searched],
            "mode": self.mode,
            "step": self.policy.describe(),
        }
        play = Play(
            self.song_ids[row],
            float(t_s),
            None,
            int(self.stations.song_station[row]),
            np.asarray(target),
            dist,
            row,
            why,
            mood_start=np.asarray(mood, float).copy(),
            goal=self.policy.goal(),
        )
        if self.personal_active:
            why["personal"] = {"nearest_distance": round(float(self.best_distance), 3)}
        self.playlist.append(play)
        return play

    # -- end of a session ---------------------------------------------------------------------------
    def finish(self, t_end: float) -> list[Play]:
        """Close the last song at the end of the video and return the playlist."""
        cur = self.current
        if cur is not None and cur.end_s is None:
            cur.end_s = max(t_end, cur.start_s)
            cur.ended = "session_ended"
            cur.mood_end = None if self.last_mood is None else self.last_mood.copy()
        return self.playlist

    def report(self) -> dict[str, Any]:
        """Dwell violations (skips aside) and repeats within the memory (this matcher's own rules), and the policy's
        block."""
        plays = self.playlist
        violations = sum(
            1
            for p in plays[:-1]  # closed plays: end_s is set; a skip is the listener's, not a violation
            if p.ended != "skipped"
            and (cast(float, p.end_s) - p.start_s) + 1e-6
            < min(self.min_dwell_s, self.durations[p.row], self.max_play_s)
        )
        ids = [p.song_id for p in plays]
        repeats = sum(1 for i, s in enumerate(ids) if s in ids[max(0, i - self.memory) : i])
        return {"dwell_violations": violations, "repeats_within_memory": repeats, **self.policy.report(self)}
