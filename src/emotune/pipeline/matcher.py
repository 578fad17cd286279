"""MATCH: from a stabilized mood to songs.

Alignment (:mod:`.alignment`) puts the mood on the catalogue's reference; stations (:mod:`.stations`)
find the nearest songs with the design's GMM gating. The matcher keeps what every policy shares: a minimum
dwell per song, a longest play, a recent-song memory, the playlist with why each song was chosen. *When* to
switch and *toward what* is the policy's (:mod:`.policies`): ``validate`` (match the mood) or ``guide`` (a
session plan toward calm or energy).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast, overload

import numpy as np

from emotune.data.catalog import Catalog
from emotune.pipeline.alignment import build_alignment
from emotune.pipeline.guide import GuideSettings
from emotune.pipeline.policies import GuidePolicy, MatchPolicy, ValidatePolicy
from emotune.pipeline.stations import Stations, StationSettings
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
        mode: ``validate`` or ``guide`` (the policy, :mod:`.policies`).
        min_dwell_s: a song plays at least this long (unless the video or the song ends first).
        max_play_s: a song's longest play in validate mode (``None``: until it ends); guide mode uses
            ``guide.max_play_s``.
        memory: no song repeats within the last ``memory`` songs.
        switch_margin / settle_s / settle_radius: validate mode's switching rule (:class:`ValidatePolicy`).
        alignment: ``linear`` or ``quantile`` (FindingEmo label quantiles from ``source_labels``).
        stations: the GMM stations' settings (``matcher.stations``, a :class:`StationSettings` node).
        guide: guide mode's settings (``matcher.guide``, a :class:`GuideSettings` node).

    Every setting is required: ``conf/matcher/gmm.yaml`` is its one home.
    """

    def __init__(
        self,
        *,
        catalog: Catalog,
        mode: str,
        min_dwell_s: float,
        max_play_s: float | None,
        memory: int,
        switch_margin: float,
        settle_s: float,
        settle_radius: float,
        alignment: str,
        source_labels: str | None,
        stations: StationSettings,
        guide: GuideSettings,
    ) -> None:
        check_choice("matcher.mode", mode, MODES)
        self.min_dwell_s = check_range("matcher.min_dwell_s", min_dwell_s, 0.0)
        self.memory = int(check_range("matcher.memory", memory, 0))
        if len(catalog) <= self.memory:
            raise ConfigError(
                f"matcher.memory={memory} needs more songs than that, but the catalogue has "
                f"{len(catalog)}; lower matcher.memory below {len(catalog)}."
            )
        self.policy: MatchPolicy = (
            GuidePolicy(guide)
            if mode == "guide"
            else ValidatePolicy(switch_margin, settle_s, settle_radius, max_play_s)
        )
        if self.policy.max_play_s is not None:
            key = f"matcher.{'guide.' if mode == 'guide' else ''}max_play_s"
            check_range(key, self.policy.max_play_s, self.min_dwell_s)  # a cap below the dwell would break the dwell
        self.max_play_s = np.inf if self.policy.max_play_s is None else float(self.policy.max_play_s)
        self.catalog = catalog
        self.points = catalog.va_ref
        self.align = build_alignment(alignment, self.points, source_labels)
        self.stations = Stations(self.points, catalog.fingerprint(), stations)
        self.song_ids = catalog.songs["song_id"].astype(str).to_numpy()
        durations = catalog.songs["duration_s"].to_numpy(np.float64)
        self.durations = np.where(np.isfinite(durations) & (durations > 0), durations, np.inf)
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
        self.policy.reset()

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
    def find(self, target: np.ndarray, previous: None) -> tuple[int, float, list[int]]: ...
    @overload
    def find(self, target: np.ndarray, previous: Play) -> tuple[int, float, list[int]] | None: ...
    def find(self, target: np.ndarray, previous: Play | None) -> tuple[int, float, list[int]] | None:
        """The nearest song to ``target`` the policy allows outside the memory: ``(row, distance, stations)``;
        ``None`` when none is left after ``previous`` (for a first song, with no ``previous``, that is an error)."""
        exclude = {p.song_id for p in self.playlist[-self.memory :]} if self.memory else set()
        if previous is not None:
            exclude.add(previous.song_id)
        found = self.stations.query(target, self.policy.allowed(self, exclude, previous))
        if found is None and (looser := self.policy.relaxed(self, exclude)) is not None:
            found = self.stations.query(target, looser)
        if found is None and previous is None:
            raise ConfigError("No song left to play outside the recent-song memory; lower matcher.memory.")
        return found

    def switch(self, t_s: float, mood: np.ndarray, target: np.ndarray, found: tuple[int, float, list[int]]) -> Play:
        """Start the song ``found`` at ``t_s`` (ending the current one), recording why it was chosen."""
        row, dist, searched = found
        if self.current is not None:
            self.current.end_s = t_s
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
        """Dwell violations and repeats within the memory (this matcher's own rules), and the policy's block."""
        plays = self.playlist
        violations = sum(
            1
            for p in plays[:-1]  # closed plays: end_s is set
            if (cast(float, p.end_s) - p.start_s) + 1e-6 < min(self.min_dwell_s, self.durations[p.row], self.max_play_s)
        )
        ids = [p.song_id for p in plays]
        repeats = sum(1 for i, s in enumerate(ids) if s in ids[max(0, i - self.memory) : i])
        return {"dwell_violations": violations, "repeats_within_memory": repeats, **self.policy.report(self)}
