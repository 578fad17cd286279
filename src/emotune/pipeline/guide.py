"""Guide mode as a listening session: the iso principle (start where the listener is), then a straight walk
toward a goal in bounded steps, one step per song, holding at the goal once there."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from emotune.utils.errors import ConfigError, check_range


@dataclass(kw_only=True)
class GuideSettings:
    """Where guide mode steers and how fast: the settings of :class:`~emotune.pipeline.policies.GuidePolicy`.

    Args:
        step: the largest move of the target per song (reference units; no validated value exists).
        iso_songs: songs at the listener's current mood before moving (the iso principle).
        calm_goal: the goal for distress (negative valence, positive arousal).
        energise_goal: the goal for low mood (negative valence, arousal <= 0).
        max_play_s: a song's longest play in guide mode, so a long song cannot freeze the session.
        max_backstep: how far a new song may lie farther from the goal than the last one, per axis.
        goal_radius: the mood has reached the goal within this distance (``time_to_goal_s`` in the summary).
        stall_lag: closed loop: the mood stalls when it lags the plan by this many steps or more.
        max_holds: closed loop: at most this many songs in a row hold a step while the mood stalls.

    Every field is required: ``conf/matcher/policy/guide.yaml`` is its one home (``matcher/policy=guide``; a field is
    set with ``matcher.policy.step=0.3``).
    """

    step: float
    iso_songs: int
    calm_goal: tuple[float, float]
    energise_goal: tuple[float, float]
    max_play_s: float | None
    max_backstep: float
    goal_radius: float
    stall_lag: float
    max_holds: int

    def __post_init__(self) -> None:
        self.step = check_range("matcher.policy.step", self.step, 0.0, 2.0, low_inclusive=False)
        self.iso_songs = int(check_range("matcher.policy.iso_songs", self.iso_songs, 0))
        self.max_backstep = check_range("matcher.policy.max_backstep", self.max_backstep, 0.0)
        self.goal_radius = check_range("matcher.policy.goal_radius", self.goal_radius, 0.0, 2.0, low_inclusive=False)
        self.stall_lag = check_range("matcher.policy.stall_lag", self.stall_lag, 0.0, None, low_inclusive=False)
        self.max_holds = int(check_range("matcher.policy.max_holds", self.max_holds, 0))
        for name in ("calm_goal", "energise_goal"):
            raw = getattr(self, name)
            try:
                goal = np.asarray([float(x) for x in raw], float)
            except (TypeError, ValueError):
                raise ConfigError(f"matcher.policy.{name}={raw!r} must be [valence, arousal] numbers.") from None
            if goal.shape != (2,) or np.abs(goal).max() > 1:
                raise ConfigError(f"matcher.policy.{name}={list(goal)} must be [valence, arousal] within [-1, 1].")
            setattr(self, name, (float(goal[0]), float(goal[1])))
        if self.max_play_s is not None:
            self.max_play_s = check_range("matcher.policy.max_play_s", self.max_play_s, 0.0, None, low_inclusive=False)

    def goal_for(self, mood: np.ndarray) -> tuple[np.ndarray, str]:
        """Where to steer from ``mood``: calmer for distress, more energy for low mood, else stay."""
        v, a = mood
        if v < 0 and a > 0:
            return np.asarray(self.calm_goal, float), "calm"
        if v < 0:
            return np.asarray(self.energise_goal, float), "energise"
        return np.asarray(mood, float), "stay"


class GuidePlan:
    """Targets from ``start`` to ``goal``: ``iso_songs`` at the start, then steps of at most ``step``."""

    def __init__(self, start: np.ndarray, goal: np.ndarray, goal_name: str, settings: GuideSettings) -> None:
        self.settings, self.goal_name = settings, goal_name
        self.start, self.goal = np.asarray(start, float), np.asarray(goal, float)
        dist = float(np.linalg.norm(self.goal - self.start))
        self.n_steps = math.ceil(dist / settings.step - 1e-9) if dist > 1e-9 else 0
        self.index = 0  # steps taken
        self.songs = 0  # songs chosen under this plan

    @classmethod
    def from_mood(cls, mood: np.ndarray, settings: GuideSettings) -> GuidePlan:
        """A plan that starts at ``mood`` and heads for its goal."""
        goal, name = settings.goal_for(mood)
        return cls(mood, goal, name, settings)

    @property
    def done(self) -> bool:
        """Whether the target has reached the goal."""
        return self.index >= self.n_steps

    @property
    def total_songs(self) -> int:
        """Songs the plan needs: the iso songs, then one per step."""
        return self.settings.iso_songs + self.n_steps

    def target(self) -> np.ndarray:
        """The current target point."""
        frac = 1.0 if self.n_steps == 0 else min(1.0, self.index / self.n_steps)
        return self.start + frac * (self.goal - self.start)

    def progress(self, mood: np.ndarray) -> float:
        """How far along the path ``mood`` already is, in steps (its projection on start -> goal)."""
        path = self.goal - self.start
        length2 = float(path @ path)
        if length2 < 1e-12:
            return float(self.n_steps)
        return float(np.clip((np.asarray(mood, float) - self.start) @ path / length2, 0, 1)) * self.n_steps

    def next_song(self, mood: np.ndarray) -> np.ndarray:
        """The target for the next song: hold at the start for the iso songs, then one step further; a
        listener already further along than planned is not pulled back."""
        if self.songs >= self.settings.iso_songs:
            self.index = min(self.n_steps, max(self.index, math.floor(self.progress(mood) + 1e-9)) + 1)
        self.songs += 1
        return self.target()

    def lag(self, mood: np.ndarray) -> float:
        """How many steps the plan is ahead of the mood (0 when the mood keeps up or leads)."""
        return max(0.0, self.index - self.progress(mood))

    def hold(self) -> np.ndarray:
        """The next song's target without a step: the current one (the mood has not followed yet)."""
        self.songs += 1
        return self.target()

    def describe(self) -> str:
        """``guide 2/5 toward calm``: this song's place in the plan."""
        return f"guide {min(self.songs, self.total_songs)}/{self.total_songs} toward {self.goal_name}"
