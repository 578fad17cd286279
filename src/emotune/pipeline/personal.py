"""Personal ranking that keeps the mood first: among the songs close enough to the target, a listener's preference
model chooses.

MATCH's stations and k-NN still find the nearest allowed song; every allowed song within ``personal.margin`` of that
distance is a candidate; each candidate's score is one Thompson sample of the listener's preference model (its song,
its song in this region of the mood plane, its artist, genre and station; in guide mode plus what moved this listener
toward the goal before) minus a cost for the distance it gives up. With no evidence the nearest song wins, exactly as
without a listener. Learning: likes, dislikes and skips at once (:meth:`PersonalRanker.feedback`); full plays and, in
guide mode, the measured response when the session is folded into the store (:meth:`PersonalRanker.learn_play`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from emotune.pipeline.preference import FactorModel
from emotune.utils.errors import ConfigError, check_range

TASTE_KINDS = ("song", "song_region", "artist", "genre", "station")
RESPONSE_KINDS = ("song", "artist", "genre", "station")
EVIDENCE = ("like", "dislike", "skip", "full_play")  # the rewards' keys


@dataclass(kw_only=True)
class PersonalSettings:
    """``matcher.personal``: how a listener's preferences choose among the songs near the target.

    Args:
        margin: a song is a candidate when it is at most this much farther from the target than the nearest allowed
            song (reference units): the mood comes first.
        max_candidates: at most this many candidates, nearest first.
        distance_weight: the score a candidate loses for lying a whole ``margin`` farther than the nearest.
        regions: the mood plane cut into ``regions x regions`` cells: a like counts for the song in its cell.
        prior_sd: the prior s.d. of a feature's weight, per kind (song, song_region, artist, genre, station).
        rewards: the observed value of each kind of evidence (like, dislike, skip, full_play: a song played through).
        taste_noise: the noise s.d. of one observation of taste (larger: each event counts less).
        response_noise: the noise s.d. of a measured response (guide: mood moved toward the goal, per minute).
        response_prior_sd: the prior s.d. of a feature's response weight.
        response_weight: the response model's weight in a guide-mode score.
        explore: the s.d. of the sampler's draws as a share of the posterior's (1: plain Thompson sampling; smaller
            leans on what is known).
        seed: the sampler's seed (each session draws from its own stream).

    Every field is required: ``conf/matcher/gmm.yaml`` (``personal:``) is its one home.
    """

    margin: float
    max_candidates: int
    distance_weight: float
    regions: int
    prior_sd: dict[str, float]
    rewards: dict[str, float]
    taste_noise: float
    response_noise: float
    response_prior_sd: float
    response_weight: float
    explore: float
    seed: int

    def __post_init__(self) -> None:
        self.margin = check_range("matcher.personal.margin", self.margin, 0.0)
        self.max_candidates = int(check_range("matcher.personal.max_candidates", self.max_candidates, 1))
        self.distance_weight = check_range("matcher.personal.distance_weight", self.distance_weight, 0.0)
        self.regions = int(check_range("matcher.personal.regions", self.regions, 1, 20))
        self.prior_sd = _table("prior_sd", self.prior_sd, TASTE_KINDS)
        self.rewards = _table("rewards", self.rewards, EVIDENCE, positive=False)
        self.taste_noise = check_range("matcher.personal.taste_noise", self.taste_noise, 0, None, False)
        self.response_noise = check_range("matcher.personal.response_noise", self.response_noise, 0, None, False)
        self.response_prior_sd = check_range("matcher.personal.response_prior_sd", self.response_prior_sd, 0, None, False)  # fmt: skip
        self.response_weight = check_range("matcher.personal.response_weight", self.response_weight, 0.0)
        self.explore = check_range("matcher.personal.explore", self.explore, 0.0)
        self.seed = int(check_range("matcher.personal.seed", self.seed, 0))


def _table(name: str, raw: Mapping[str, Any], keys: Sequence[str], positive: bool = True) -> dict[str, float]:
    got = {str(k): v for k, v in dict(raw).items()}
    if set(got) != set(keys):
        raise ConfigError(f"matcher.personal.{name} must set exactly {', '.join(keys)} (got {', '.join(sorted(got))}).")
    low = 0.0 if positive else None
    return {k: check_range(f"matcher.personal.{name}.{k}", got[k], low, None, low_inclusive=not positive) for k in keys}


class SongFeatures:
    """A catalogue's songs as preference features (song id, artist, genre when the catalogue has them, station)."""

    def __init__(self, song_ids: Sequence[str], artists: Sequence[str], genres: Sequence[str],
                 stations: Sequence[int], fingerprint: str, regions: int) -> None:  # fmt: skip
        self.row_of = {str(s): i for i, s in enumerate(song_ids)}
        self.regions = regions
        tag = fingerprint[:6]
        self._base = [
            [
                f"song:{s}",
                *([f"artist:{a.lower()}"] if a else []),
                *([f"genre:{g.lower()}"] if g else []),
                f"station:{tag}/{k}",
            ]
            for s, a, g, k in zip(song_ids, artists, genres, stations)
        ]

    def region(self, mood: np.ndarray | Sequence[float]) -> str:
        """The cell of the mood plane ``mood`` lies in (``r<valence cell><arousal cell>``)."""
        cells = np.clip(((np.asarray(mood, float) + 1.0) / 2.0 * self.regions).astype(int), 0, self.regions - 1)
        return f"r{cells[0]}{cells[1]}"

    def of_row(self, row: int, mood: np.ndarray | Sequence[float] | None) -> tuple[list[str], list[str]]:
        """Taste features (with the song in ``mood``'s region) and response features of catalogue row ``row``."""
        base = self._base[row]
        extra = [f"{base[0]}@{self.region(mood)}"] if mood is not None else []
        return [*base, *extra], base

    def of_song(self, song_id: str, mood: np.ndarray | Sequence[float] | None) -> tuple[list[str], list[str]]:
        """As :meth:`of_row` by song id; a song the catalogue no longer has keeps its song-level features."""
        row = self.row_of.get(str(song_id))
        if row is not None:
            return self.of_row(row, mood)
        base = [f"song:{song_id}"]
        return [*base, *([f"{base[0]}@{self.region(mood)}"] if mood is not None else [])], base


class PersonalRanker:
    """One listener's preferences over one catalogue, for one session (:meth:`SongMatcher.attach`).

    Args:
        settings: ``matcher.personal``.
        features: the catalogue's songs as features.
        rows: the stored ``(model, feature, mean, var, n)`` rows of this listener (``model``: taste | response).
        banned: song ids this listener disliked: never chosen.
        session_seed: this session's own stream of the sampler.
    """

    def __init__(self, settings: PersonalSettings, features: SongFeatures, rows: Sequence[tuple[str, str, float, float, float]],
                 banned: set[str], session_seed: int) -> None:  # fmt: skip
        self.s, self.features, self.banned = settings, features, set(banned)
        prior = settings.prior_sd

        def taste_var(f: str) -> float:
            kind = f.split(":", 1)[0]
            return (prior["song_region"] if kind == "song" and "@" in f else prior.get(kind, prior["song"])) ** 2

        self.taste = FactorModel(taste_var).load((f, m, v, n) for model, f, m, v, n in rows if model == "taste")
        self.response = FactorModel(lambda f: settings.response_prior_sd**2).load(
            (f, m, v, n) for model, f, m, v, n in rows if model == "response"
        )
        self.rng = np.random.default_rng([settings.seed, session_seed])
        self.choices = 0  # decisions where the preferences (not the distance alone) chose

    @property
    def cold(self) -> bool:
        """No evidence at all: every choice is the nearest song's, as without a listener."""
        return not self.taste.has_evidence() and not self.response.has_evidence()

    def choose(self, rows: Sequence[int], dists: Sequence[float], mood: np.ndarray, guide: bool) -> int:
        """The index (into ``rows``) of the candidate to play; candidates come nearest first."""
        feats = [self.features.of_row(r, mood) for r in rows]
        if not any(self.taste.has_evidence(t) or (guide and self.response.has_evidence(g)) for t, g in feats):
            return 0
        best, margin = float(dists[0]), max(self.s.margin, 1e-9)
        draws_t: dict[str, float] = {}
        draws_r: dict[str, float] = {}
        scores = []
        for (taste, resp), d in zip(feats, dists):
            score = (
                self.taste.sample(taste, self.rng, draws_t, self.s.explore)
                - self.s.distance_weight * (float(d) - best) / margin
            )
            if guide:
                score += self.s.response_weight * self.response.sample(resp, self.rng, draws_r, self.s.explore)
            scores.append(score)
        pick = int(np.argmax(scores))  # the first of equal scores: the nearer
        self.choices += int(pick != 0)
        return pick

    def feedback(self, song_id: str, event: str, mood: np.ndarray | Sequence[float] | None) -> None:
        """Learn from a like, skip or dislike of ``song_id`` at ``mood`` (a dislike also bans the song)."""
        taste, _ = self.features.of_song(song_id, mood)
        self.taste.update(taste, self.s.rewards[event], self.s.taste_noise)
        if event == "dislike":
            self.banned.add(str(song_id))

    def learn_play(self, song_id: str, mood_start: Sequence[float] | None, full: bool,
                   response_per_min: float | None) -> None:  # fmt: skip
        """Learn from a play: a full play (not skipped) is weak evidence of taste; in guide mode the measured response
        (reference units per minute the mood moved toward the goal) teaches what moves this listener."""
        taste, resp = self.features.of_song(song_id, mood_start)
        if full:
            self.taste.update(taste, self.s.rewards["full_play"], self.s.taste_noise)
        if response_per_min is not None and np.isfinite(response_per_min):
            self.response.update(resp, float(np.clip(response_per_min, -2, 2)), self.s.response_noise)

    def changed_rows(self) -> list[tuple[str, str, float, float, float]]:
        """The rows this ranker's learning changed, to store."""
        out = [("taste", f, m, v, n) for f, m, v, n in self.taste.rows(self.taste.touched)]
        return out + [("response", f, m, v, n) for f, m, v, n in self.response.rows(self.response.touched)]
