"""MATCH: the playing policy from a stabilized mood to songs.

Alignment (:mod:`.alignment`) puts the mood on the catalogue's reference; stations (:mod:`.stations`)
find the nearest songs with the design's GMM gating. This module decides *when* to switch and *toward
what*: a minimum dwell per song, an optional longest play, a recent-song memory, and two modes:
``validate`` (match the mood, switching once it has settled and another song is clearly closer) and
``guide`` (a session plan from :mod:`.guide`: start at the mood, step toward a calmer or more energetic
goal one song at a time). Every choice is recorded with why it was made.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from emotune.data.catalog import Catalog
from emotune.pipeline.alignment import build_alignment
from emotune.pipeline.guide import GuidePlan, GuideSettings
from emotune.pipeline.stations import Stations
from emotune.utils.errors import ConfigError, check_choice, check_range

MODES = ("validate", "guide")


@dataclass
class Play:
    """One song in the playlist, and why it was chosen."""

    song_id: str
    start_s: float
    end_s: float | None
    station: int
    target: np.ndarray  # catalogue reference V-A the song was chosen for
    distance: float  # song to target
    row: int = field(repr=False, default=-1)
    why: dict[str, Any] = field(default_factory=dict)


class SongMatcher:
    """When to switch and which song to play (Hydra-built; ``reset()`` per video).

    Args:
        catalog: the songs (any scale; matching happens on the reference scale).
        mode: ``validate`` or ``guide``.
        min_dwell_s: a song plays at least this long (unless the video or the song ends first).
        max_play_s: a song's longest play in validate mode (``None``: until it ends); guide mode uses
            ``guide.max_play_s``.
        memory: no song repeats within the last ``memory`` songs.
        switch_margin: validate mode switches after the dwell only to a song this much closer (reference units).
        settle_s / settle_radius: validate mode switches only once the mood has stayed within ``settle_radius``
            for ``settle_s`` seconds, so a song is not chosen for a point the mood is only passing through.
        alignment: ``linear`` or ``quantile`` (FindingEmo label quantiles from ``source_labels``).
        stations: settings of :class:`Stations` (``n_components``, ``k_range``, ``posterior_threshold``, ``k``,
            ``cache_dir``, ``seed``).
        guide: settings of :class:`GuideSettings`.
    """

    def __init__(
        self,
        catalog: Catalog,
        mode: str = "validate",
        min_dwell_s: float = 25.0,
        max_play_s: float | None = None,
        memory: int = 5,
        switch_margin: float = 0.15,
        settle_s: float = 2.0,
        settle_radius: float = 0.1,
        alignment: str = "linear",
        source_labels: str | None = None,
        stations: Mapping[str, Any] | None = None,
        guide: Mapping[str, Any] | None = None,
    ) -> None:
        self.mode = check_choice("matcher.mode", mode, MODES)
        self.min_dwell_s = check_range("matcher.min_dwell_s", min_dwell_s, 0.0)
        self.switch_margin = check_range("matcher.switch_margin", switch_margin, 0.0)
        self.settle_s = check_range("matcher.settle_s", settle_s, 0.0)
        self.settle_radius = check_range("matcher.settle_radius", settle_radius, 0.0, None, low_inclusive=False)
        self.memory = int(check_range("matcher.memory", memory, 0))
        if len(catalog) <= self.memory:
            raise ConfigError(
                f"matcher.memory={memory} needs more songs than that, but the catalogue has "
                f"{len(catalog)}; lower matcher.memory below {len(catalog)}."
            )
        self.guide = GuideSettings(**dict(guide or {}))
        play_cap = self.guide.max_play_s if self.mode == "guide" else max_play_s
        if play_cap is not None:
            key = "matcher.guide.max_play_s" if self.mode == "guide" else "matcher.max_play_s"
            check_range(key, play_cap, self.min_dwell_s)  # a cap below the dwell would break the dwell
        self.max_play_s = np.inf if play_cap is None else float(play_cap)
        self.catalog = catalog
        self.points = catalog.va_ref
        self.align = build_alignment(alignment, self.points, source_labels)
        self.stations = Stations(self.points, catalog.fingerprint(), **dict(stations or {}))
        self._ids = catalog.songs["song_id"].astype(str).to_numpy()
        durations = catalog.songs["duration_s"].to_numpy(np.float64)
        self.durations = np.where(np.isfinite(durations) & (durations > 0), durations, np.inf)
        self.reset()

    # -- state ---------------------------------------------------------------------------------
    def reset(self) -> None:
        """Start a new session (a new video)."""
        self.playlist: list[Play] = []
        self.plan: GuidePlan | None = None
        self.first_mood: np.ndarray | None = None
        self.last_mood: np.ndarray | None = None
        self._anchor: np.ndarray | None = None
        self._anchor_t = 0.0

    @property
    def n_stations(self) -> int:
        """How many GMM stations the catalogue has."""
        return len(self.stations)

    @property
    def current(self) -> Play | None:
        """The song playing now."""
        return self.playlist[-1] if self.playlist else None

    def settled(self, t_s: float, mood: np.ndarray) -> bool:
        """Whether the mood has stayed within ``settle_radius`` of one point for ``settle_s`` seconds."""
        if self._anchor is None or np.linalg.norm(mood - self._anchor) > self.settle_radius:
            self._anchor, self._anchor_t = mood.copy(), t_s
        return t_s - self._anchor_t >= self.settle_s

    # -- per frame ------------------------------------------------------------------------------
    def update(self, t_s: float, mood_fe_ref: np.ndarray) -> Play:
        """Advance to time ``t_s`` with the stabilized mood (FindingEmo reference); return the song playing."""
        mood = np.clip(self.align(np.asarray(mood_fe_ref, float)), -1, 1)
        self.last_mood = mood
        if self.first_mood is None:
            self.first_mood = mood.copy()
        cur = self.current
        if cur is None:
            return self._start(t_s, mood, self._first_target(mood))
        elapsed = t_s - cur.start_s
        limit = min(self.durations[cur.row], self.max_play_s)
        if elapsed < min(self.min_dwell_s, limit):
            return cur
        song_over = elapsed >= limit
        if self.mode == "guide":
            return self._guide_step(t_s, mood, cur, song_over)
        return self._validate_step(t_s, mood, cur, song_over)

    def _first_target(self, mood: np.ndarray) -> np.ndarray:
        if self.mode == "guide":
            self.plan = GuidePlan.from_mood(mood, self.guide)
            return self.plan.next_song(mood)
        return mood

    def _validate_step(self, t_s: float, mood: np.ndarray, cur: Play, song_over: bool) -> Play:
        settled = self.settled(t_s, mood)
        if not song_over and not settled:
            return cur  # the mood is still moving: wait for where it lands
        found = self._find(mood, cur)
        if found is None:
            return cur
        _, dist, _ = found
        if not song_over and dist + self.switch_margin >= float(np.linalg.norm(self.points[cur.row] - mood)):
            return cur  # still the right song: keep playing
        return self._switch(t_s, mood, mood, found)

    def _guide_step(self, t_s: float, mood: np.ndarray, cur: Play, song_over: bool) -> Play:
        plan = self.plan
        goal, name = self.guide.goal_for(mood)
        if plan.goal_name == "stay":  # nothing to steer away from: follow the mood, song by song
            self.plan = plan = GuidePlan(mood, goal, name, self.guide)
        elif name not in ("stay", plan.goal_name):  # distress turned into low mood (or back): re-plan from here
            self.plan = plan = GuidePlan(cur.target, goal, name, self.guide)
            plan.songs = self.guide.iso_songs  # already with the listener: no second iso phase
        if plan.done and not song_over:
            return cur  # at the goal: hold until the song ends or reaches its longest play
        target = plan.next_song(mood)
        found = self._find(target, cur)
        return cur if found is None else self._switch(t_s, mood, target, found)

    # -- choosing --------------------------------------------------------------------------------
    def _allowed(self, exclude: set[str], previous: Play | None) -> Any:
        """Candidate test: outside the memory; in guide mode never a step back from the goal."""
        ids = self._ids
        if self.mode != "guide" or previous is None or self.plan is None:
            return lambda r: ids[r] not in exclude
        goal, back = self.plan.goal, self.guide.max_backstep
        prev_gap = np.abs(self.points[previous.row] - goal)
        return lambda r: ids[r] not in exclude and bool(np.all(np.abs(self.points[r] - goal) <= prev_gap + back))

    def _find(self, target: np.ndarray, previous: Play | None) -> tuple[int, float, list[int]] | None:
        exclude = {p.song_id for p in self.playlist[-self.memory :]} if self.memory else set()
        if previous is not None:
            exclude.add(previous.song_id)
        found = self.stations.query(target, self._allowed(exclude, previous))
        if found is None and self.mode == "guide":  # nothing both new and no step back: new is what matters
            found = self.stations.query(target, lambda r: self._ids[r] not in exclude)
        if found is None and previous is None:
            raise ConfigError("No song left to play outside the recent-song memory; lower matcher.memory.")
        return found

    def _start(self, t_s: float, mood: np.ndarray, target: np.ndarray) -> Play:
        return self._switch(t_s, mood, target, self._find(target, None))

    def _switch(self, t_s: float, mood: np.ndarray, target: np.ndarray, found: tuple[int, float, list[int]]) -> Play:
        row, dist, searched = found
        if self.current is not None:
            self.current.end_s = t_s
        why = {
            "mood": np.round(mood, 3).tolist(),
            "target": np.round(target, 3).tolist(),
            "distance": round(dist, 3),
            "stations": [int(s) for s in searched],
            "mode": self.mode,
            "step": self.plan.describe() if self.plan is not None else "validate: match the mood",
        }
        play = Play(
            self._ids[row], float(t_s), None, int(self.stations.song_station[row]), np.asarray(target), dist, row, why
        )
        self.playlist.append(play)
        return play

    # -- end of a session ---------------------------------------------------------------------------
    def finish(self, t_end: float) -> list[Play]:
        """Close the last song at the end of the video and return the playlist."""
        if self.current is not None and self.current.end_s is None:
            self.current.end_s = max(t_end, self.current.start_s)
        return self.playlist

    def report(self) -> dict[str, Any]:
        """Dwell violations and repeats within the memory (this matcher's own rules), and the guide block."""
        plays = self.playlist
        violations = sum(
            1
            for p in plays[:-1]
            if (p.end_s - p.start_s) + 1e-6 < min(self.min_dwell_s, self.durations[p.row], self.max_play_s)
        )
        ids = [p.song_id for p in plays]
        repeats = sum(1 for i, s in enumerate(ids) if s in ids[max(0, i - self.memory) : i])
        out: dict[str, Any] = {"dwell_violations": violations, "repeats_within_memory": repeats}
        if self.mode == "guide" and self.plan is not None and plays:
            goal = self.plan.goal

            def gap(x: np.ndarray) -> float:
                return round(float(np.linalg.norm(np.asarray(x) - goal)), 3)

            out["guide"] = {
                "goal": self.plan.goal_name,
                "goal_va_ref": np.round(goal, 3).tolist(),
                "steps_planned": self.plan.n_steps,
                "steps_done": self.plan.index,
                "songs": len(plays),
                "song_distance_to_goal_start": gap(self.points[plays[0].row]),
                "song_distance_to_goal_end": gap(self.points[plays[-1].row]),
                "mood_distance_to_goal_start": gap(self.first_mood),
                "mood_distance_to_goal_end": gap(self.last_mood),
            }
        return out
