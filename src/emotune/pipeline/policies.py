"""MATCH's two playing policies behind one contract: ``validate`` (match the mood) and ``guide`` (a session plan
toward calm or energy). The matcher (:mod:`.matcher`) owns what both share (the dwell, the memory, the stations);
a policy decides the first target, what to do once a song's dwell is over, which songs it allows and what it
reports.

Hydra builds the policy (``conf/matcher/policy/<mode>.yaml``, chosen with ``matcher/policy=guide``) and passes it to
the matcher; a policy sees the matcher only through :class:`Matcher`, the few things it asks of it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from emotune.pipeline.guide import GuidePlan, GuideSettings
from emotune.pipeline.play import Found, Play
from emotune.utils.errors import check_range

MODES = ("validate", "guide")  # the policies' names: conf/matcher/policy/<mode>.yaml


class Matcher(Protocol):
    """What a policy asks of the matcher (:class:`~emotune.pipeline.matcher.SongMatcher`)."""

    song_ids: np.ndarray  # (N,) the catalogue's song ids, by row
    points: np.ndarray  # (N, 2) the catalogue's songs on the reference plane
    playlist: list[Play]  # this session's songs so far
    best_distance: float  # the nearest allowed song's distance at the last search
    first_mood: np.ndarray | None  # this session's first and latest aligned moods
    last_mood: np.ndarray | None

    @property
    def personal_active(self) -> bool:
        """A listener with evidence is attached."""

    def find(self, target: np.ndarray, previous: Play) -> Found | None:
        """The song to play next for ``target`` after ``previous`` (``None``: none left)."""

    def switch(self, t_s: float, mood: np.ndarray, target: np.ndarray, found: Found, ended: str | None = None) -> Play:
        """Start the song ``found`` at ``t_s``."""


class MatchPolicy(Protocol):
    """What :class:`~emotune.pipeline.matcher.SongMatcher` asks of a policy."""

    name: str
    max_play_s: float | None  # a song's longest play under this policy (``None``: until it ends)

    def reset(self) -> None:
        """A new session."""

    def first_target(self, mood: np.ndarray) -> np.ndarray:
        """The target of the session's first song."""

    def observe(self, t_s: float, mood: np.ndarray) -> None:
        """See every update's (aligned) mood, whether or not a song changes."""

    def retarget(self, mood: np.ndarray, cur: Play) -> np.ndarray:
        """The target of the song that replaces a skipped ``cur``."""

    def goal(self) -> np.ndarray | None:
        """Where the policy steers now (``None``: it follows the mood)."""

    def after_dwell(self, m: Matcher, t_s: float, mood: np.ndarray, cur: Play, song_over: bool) -> Play:
        """The song to play once ``cur``'s dwell is over (``cur`` itself, or a switch through ``m``)."""

    def allowed(self, m: Matcher, exclude: set[str], previous: Play | None) -> Callable[[int], bool]:
        """Which catalogue rows may be the next song."""

    def relaxed(self, m: Matcher, exclude: set[str]) -> Callable[[int], bool] | None:
        """A looser rule when :meth:`allowed` leaves nothing (``None``: no second try)."""

    def describe(self) -> str:
        """This song's place in the policy (the playlist's ``why.step``)."""

    def report(self, m: Matcher) -> dict[str, Any]:
        """The policy's block of ``summary.json`` (empty when it has none)."""


def outside_memory(m: Matcher, exclude: set[str]) -> Callable[[int], bool]:
    """Rows whose song is not among ``exclude``."""
    ids = m.song_ids
    return lambda r: ids[r] not in exclude


class ValidatePolicy:
    """Match the mood: switch once it has settled and another song is clearly closer.

    Args:
        switch_margin: switch after the dwell only to a song this much closer (reference units).
        settle_s / settle_radius: switch only once the mood stayed within ``settle_radius`` for ``settle_s``
            seconds, so a song is not chosen for a point the mood is only passing through.
        max_play_s: a song's longest play (``None``: until it ends).

    Every setting is required: ``conf/matcher/policy/validate.yaml`` is its one home.
    """

    name = "validate"

    def __init__(
        self, *, switch_margin: float, settle_s: float, settle_radius: float, max_play_s: float | None
    ) -> None:
        self.switch_margin = check_range("matcher.policy.switch_margin", switch_margin, 0.0)
        self.settle_s = check_range("matcher.policy.settle_s", settle_s, 0.0)
        self.settle_radius = check_range("matcher.policy.settle_radius", settle_radius, 0.0, None, low_inclusive=False)
        if max_play_s is not None:
            max_play_s = check_range("matcher.policy.max_play_s", max_play_s, 0.0, None, low_inclusive=False)
        self.max_play_s = max_play_s
        self.reset()

    def reset(self) -> None:
        """Forget where the mood settled."""
        self._anchor: np.ndarray | None = None
        self._anchor_t = 0.0

    def settled(self, t_s: float, mood: np.ndarray) -> bool:
        """Whether the mood has stayed within ``settle_radius`` of one point for ``settle_s`` seconds."""
        if self._anchor is None or np.linalg.norm(mood - self._anchor) > self.settle_radius:
            self._anchor, self._anchor_t = mood.copy(), t_s
        return t_s - self._anchor_t >= self.settle_s

    def first_target(self, mood: np.ndarray) -> np.ndarray:
        """The mood itself."""
        return mood

    def observe(self, t_s: float, mood: np.ndarray) -> None:
        """Nothing to track beyond :meth:`settled`."""

    def retarget(self, mood: np.ndarray, cur: Play) -> np.ndarray:
        """The mood now."""
        return mood

    def goal(self) -> np.ndarray | None:
        """None: validate follows the mood."""
        return None

    def after_dwell(self, m: Matcher, t_s: float, mood: np.ndarray, cur: Play, song_over: bool) -> Play:
        """Keep the song while the mood moves or while it is still about as close as the best other."""
        settled = self.settled(t_s, mood)
        if not song_over and not settled:
            return cur  # the mood is still moving: wait for where it lands
        found = m.find(mood, cur)
        if found is None:
            return cur
        if not song_over and m.best_distance + self.switch_margin >= float(np.linalg.norm(m.points[cur.row] - mood)):
            return cur  # still the right song: keep playing
        return m.switch(t_s, mood, mood, found)

    def allowed(self, m: Matcher, exclude: set[str], previous: Play | None) -> Callable[[int], bool]:
        """Any song outside the memory."""
        return outside_memory(m, exclude)

    def relaxed(self, m: Matcher, exclude: set[str]) -> Callable[[int], bool] | None:
        """No looser rule than the memory."""
        return None

    def describe(self) -> str:
        """What validate does."""
        return "validate: match the mood"

    def report(self, m: Matcher) -> dict[str, Any]:
        """Nothing beyond the matcher's own counts."""
        return {}


class GuidePolicy(GuideSettings):
    """A session plan (music therapy's iso principle): start at the mood, step toward a calmer or more energetic
    goal one song at a time, never a step back beyond ``max_backstep``, re-planned if distress turns into low mood.

    Closed loop, for a listener with evidence (:attr:`Matcher.personal_active`): while the measured mood lags the
    plan by ``stall_lag`` steps or more, the next song holds the current step (at most ``max_holds`` songs in a row),
    and the listener's preferences pick, among the songs near each step, those that moved this listener before.

    Its settings are :class:`~emotune.pipeline.guide.GuideSettings`' fields (the policy is its settings plus one
    session's plan); ``conf/matcher/policy/guide.yaml`` is their one home.
    """

    name = "guide"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.reset()

    def reset(self) -> None:
        """No plan yet."""
        self.plan: GuidePlan | None = None
        self.t_start: float | None = None
        self.time_to_goal: float | None = None
        self.holds = 0  # songs that held a step while the mood stalled
        self._held_in_row = 0

    def first_target(self, mood: np.ndarray) -> np.ndarray:
        """The plan's first song (the mood itself during the iso songs)."""
        self.plan = GuidePlan.from_mood(mood, self)
        return self.plan.next_song(mood)

    def observe(self, t_s: float, mood: np.ndarray) -> None:
        """Note when the mood first comes within ``goal_radius`` of the goal."""
        if self.t_start is None:
            self.t_start = t_s
        plan = self.plan
        if plan is None or plan.goal_name == "stay" or self.time_to_goal is not None:
            return
        if float(np.linalg.norm(mood - plan.goal)) <= self.goal_radius:
            self.time_to_goal = t_s - self.t_start

    def retarget(self, mood: np.ndarray, cur: Play) -> np.ndarray:
        """The skipped song's step: another song for the same place in the plan."""
        return np.asarray(cur.target, float)

    def goal(self) -> np.ndarray | None:
        """The plan's goal (``None`` before the first song, or when there is nothing to steer away from)."""
        if self.plan is None or self.plan.goal_name == "stay":
            return None
        return self.plan.goal.copy()

    def after_dwell(self, m: Matcher, t_s: float, mood: np.ndarray, cur: Play, song_over: bool) -> Play:
        """The plan's next step once a song's dwell is over (hold at the goal until the song ends)."""
        plan = self.plan
        assert plan is not None  # first_target made it (a song is playing)
        goal, name = self.goal_for(mood)
        if plan.goal_name == "stay":  # nothing to steer away from: follow the mood, song by song
            self.plan = plan = GuidePlan(mood, goal, name, self)
        elif name not in ("stay", plan.goal_name):  # distress turned into low mood (or back): re-plan from here
            self.plan = plan = GuidePlan(cur.target, goal, name, self)
            plan.songs = self.iso_songs  # already with the listener: no second iso phase
        if plan.done and not song_over:
            return cur
        if m.personal_active and plan.lag(mood) >= self.stall_lag and self._held_in_row < self.max_holds:
            target = plan.hold()  # the mood does not follow: stay with it a song longer
            self.holds, self._held_in_row = self.holds + 1, self._held_in_row + 1
        else:
            target = plan.next_song(mood)
            self._held_in_row = 0
        found = m.find(target, cur)
        return cur if found is None else m.switch(t_s, mood, target, found)

    def allowed(self, m: Matcher, exclude: set[str], previous: Play | None) -> Callable[[int], bool]:
        """Outside the memory, and never farther from the goal than the last song by more than ``max_backstep``."""
        new = outside_memory(m, exclude)
        if previous is None or self.plan is None:
            return new
        goal, back = self.plan.goal, self.max_backstep
        prev_gap = np.abs(m.points[previous.row] - goal)
        return lambda r: new(r) and bool(np.all(np.abs(m.points[r] - goal) <= prev_gap + back))

    def relaxed(self, m: Matcher, exclude: set[str]) -> Callable[[int], bool] | None:
        """Nothing both new and no step back: new is what matters."""
        return outside_memory(m, exclude)

    def describe(self) -> str:
        """``guide 2/5 toward calm``."""
        return self.plan.describe() if self.plan is not None else "guide"

    def report(self, m: Matcher) -> dict[str, Any]:
        """The ``guide`` block: goal, steps planned and done, distances to the goal at the start and the end, the time
        the mood took to come within ``goal_radius`` of the goal (``None``: it did not) and the steps held."""
        plays = m.playlist
        if self.plan is None or not plays:
            return {}
        goal = self.plan.goal
        assert m.first_mood is not None and m.last_mood is not None  # set by the updates that chose the songs

        def gap(x: np.ndarray) -> float:
            return round(float(np.linalg.norm(np.asarray(x) - goal)), 3)

        return {
            "guide": {
                "goal": self.plan.goal_name,
                "goal_va_ref": np.round(goal, 3).tolist(),
                "steps_planned": self.plan.n_steps,
                "steps_done": self.plan.index,
                "songs": len(plays),
                "song_distance_to_goal_start": gap(m.points[plays[0].row]),
                "song_distance_to_goal_end": gap(m.points[plays[-1].row]),
                "mood_distance_to_goal_start": gap(m.first_mood),
                "mood_distance_to_goal_end": gap(m.last_mood),
                "goal_radius": self.goal_radius,
                "time_to_goal_s": None if self.time_to_goal is None else round(self.time_to_goal, 2),
                "holds": self.holds,
            }
        }
