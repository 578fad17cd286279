"""Simulated listeners for ``make eval-listener``: hidden tastes, a mood that drifts and follows some music, and the
skips, likes and dislikes that follow from both; each session runs through the session driver, line by line.

The model (every number is a :class:`SimParams` field, set in ``conf/eval_listener.yaml``):

* **Catalogue metadata**: a real-V-A catalogue gets hidden genres (each genre has a V-A centre; a song draws its genre
  with weight ``exp(-d² / 2 genre_width²)``) and artists (a genre's songs cut into runs of 2-8): :func:`tag_catalogue`.
* **Taste**: ``liked_genres`` genres at ``+like_value``, ``disliked_genres`` at ``dislike_value``, the same for
  ``liked_artists`` / ``disliked_artists``, plus each song's own ``song_noise``; a song's utility ``u`` is the sum.
* **Decisions at a song's start**: skip with ``p = σ(skip_bias - skip_taste·u + skip_mismatch·d)`` (``d``: the song's
  distance to the true mood) after ``skip_delay_s`` seconds; a skipped song with ``u < 0`` is disliked instead with
  probability ``dislike_share``; a kept song is liked with ``p = σ(like_bias + like_taste·u - like_mismatch·d)``.
* **Mood**: an Ornstein-Uhlenbeck drift (``drift_sd`` per √s, pulled back to the session's base mood at
  ``drift_revert``; the base moves every ``base_change_s``); music pulls the mood toward the song's V-A at
  ``response_rate`` per second for the genres that move this listener (a share ``respond_share`` of genres), at
  ``weak_response_rate`` for the others, weakened with distance (``exp(-d² / 2 iso_reach²)``, the iso principle).
  Guide sessions start in distress (``distress``) and are pulled back to it at ``distress_pull``. Readings are the
  mood plus Gaussian noise (``reading_sd``), sent with that σ, once a second.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

GENRE_CENTRES = {  # on the [-1, 1] reference plane
    "ambient": (-0.1, -0.6), "classical": (0.2, -0.4), "folk": (0.25, -0.1), "jazz": (0.35, 0.0),
    "pop": (0.5, 0.35), "rock": (0.0, 0.5), "electronic": (0.25, 0.55), "metal": (-0.4, 0.7),
    "blues": (-0.25, -0.15), "soundtrack": (-0.35, -0.35), "hiphop": (0.1, 0.3), "country": (0.4, 0.05),
}  # fmt: skip


@dataclass(kw_only=True)
class SimParams:
    """One population's parameters (``conf/eval_listener.yaml``: ``dev`` is tuned on, ``heldout`` only reported)."""

    seed: int
    genre_width: float
    liked_genres: int
    disliked_genres: int
    liked_artists: int
    disliked_artists: int
    like_value: float
    dislike_value: float
    song_noise: float
    skip_bias: float
    skip_taste: float
    skip_mismatch: float
    skip_delay_s: tuple[float, float]
    dislike_share: float
    like_bias: float
    like_taste: float
    like_mismatch: float
    reading_sd: float
    drift_sd: float
    drift_revert: float
    base_change_s: float
    respond_share: float
    response_rate: float
    weak_response_rate: float
    iso_reach: float
    distress: tuple[float, float]
    distress_pull: float


def tag_catalogue(va_ref: np.ndarray, song_ids: list[str], width: float, seed: int) -> pd.DataFrame:
    """Hidden genres and artists for a catalogue with V-A only (deterministic in ``seed``)."""
    rng = np.random.default_rng(seed)
    names = list(GENRE_CENTRES)
    centres = np.array([GENRE_CENTRES[g] for g in names])
    d2 = ((va_ref[:, None, :] - centres[None]) ** 2).sum(-1)
    w = np.exp(-d2 / (2 * width**2)) + 1e-3
    genre = np.array([rng.choice(len(names), p=row / row.sum()) for row in w])
    artist = np.empty(len(song_ids), dtype=object)
    for g in range(len(names)):
        rows = rng.permutation(np.flatnonzero(genre == g))
        i, k = 0, 0
        while i < len(rows):
            n = int(rng.integers(2, 9))
            artist[rows[i : i + n]] = f"{names[g]} artist {k}"
            i, k = i + n, k + 1
    return pd.DataFrame({"song_id": song_ids, "genre": [names[g] for g in genre], "artist": artist})


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


class SimListener:
    """One simulated listener: hidden tastes over a tagged catalogue, and the mood dynamics of the module docstring.

    Args:
        p: the population's parameters.
        songs: ``song_id``, ``genre``, ``artist`` and ``va`` (reference V-A) per song.
        index: the listener's number (its hidden tastes are drawn from ``(p.seed, index)``).
    """

    def __init__(self, p: SimParams, songs: pd.DataFrame, index: int) -> None:
        self.p = p
        rng = np.random.default_rng([p.seed, index, 1])
        genres = sorted(songs["genre"].unique())
        artists = sorted(songs["artist"].unique())
        pick_g = rng.permutation(genres)
        pick_a = rng.permutation(artists)
        g_val = dict.fromkeys(genres, 0.0)
        g_val.update(dict.fromkeys(pick_g[: p.liked_genres], p.like_value))
        g_val.update(dict.fromkeys(pick_g[p.liked_genres : p.liked_genres + p.disliked_genres], p.dislike_value))
        a_val = dict.fromkeys(artists, 0.0)
        a_val.update(dict.fromkeys(pick_a[: p.liked_artists], p.like_value))
        a_val.update(dict.fromkeys(pick_a[p.liked_artists : p.liked_artists + p.disliked_artists], p.dislike_value))
        self.moving = set(rng.permutation(genres)[: max(1, round(p.respond_share * len(genres)))])
        noise = rng.normal(0, p.song_noise, len(songs))
        self.utility = {
            sid: g_val[g] + a_val[a] + n
            for sid, g, a, n in zip(songs["song_id"], songs["genre"], songs["artist"], noise)
        }
        self.va = dict(zip(songs["song_id"], songs["va"]))
        self.genre = dict(zip(songs["song_id"], songs["genre"]))

    def decide(self, song: str, mood: np.ndarray, rng: np.random.Generator) -> tuple[str | None, float]:
        """At a song's start: ``("skip" | "dislike", after_s)``, ``("like", after_s)`` or ``(None, 0)``."""
        p, u = self.p, self.utility[song]
        d = float(np.linalg.norm(self.va[song] - mood))
        if rng.random() < _sigmoid(p.skip_bias - p.skip_taste * u + p.skip_mismatch * d):
            event = "dislike" if u < 0 and rng.random() < p.dislike_share else "skip"
            return event, float(rng.uniform(*p.skip_delay_s))
        if rng.random() < _sigmoid(p.like_bias + p.like_taste * u - p.like_mismatch * d):
            return "like", float(rng.uniform(5.0, 20.0))
        return None, 0.0

    def move(self, mood: np.ndarray, base: np.ndarray, song: str, rng: np.random.Generator, guide: bool) -> np.ndarray:
        """The true mood one second later."""
        p = self.p
        target = self.va[song]
        d = float(np.linalg.norm(target - mood))
        rate = p.response_rate if self.genre[song] in self.moving else p.weak_response_rate
        pull = rate * math.exp(-(d * d) / (2 * p.iso_reach**2)) * (target - mood)
        back = (p.distress_pull if guide else p.drift_revert) * (base - mood)
        return np.clip(mood + pull + back + rng.normal(0, p.drift_sd, 2), -1, 1)


def run_session(driver: Any, listener: SimListener, seconds: int, seed: int, guide: bool) -> dict[str, Any]:
    """One session through ``driver`` (a :class:`~emotune.runtime.session_driver.SessionDriver`: JSON lines in, JSON
    out); the listener's skip, like and dislike counts, the songs, the song-to-mood distance and the driver's summary."""
    p = listener.p
    rng = np.random.default_rng(seed)
    base = np.asarray(p.distress, float) + rng.normal(0, 0.08, 2) if guide else rng.uniform(-0.7, 0.7, 2)
    mood = base.copy()
    counts = {"songs": 0, "skip": 0, "dislike": 0, "like": 0}
    dists: list[float] = []
    moving = 0
    pending: tuple[str | None, float] = (None, 0.0)
    song, started = "", 0.0

    def send(obj: dict[str, Any]) -> dict[str, Any]:
        answer = json.loads(json.dumps(driver.handle(json.dumps(obj))))  # the wire format, both ways
        if "error" in answer:
            raise RuntimeError(f"the driver refused {obj}: {answer['error']}")
        return answer

    for t in range(seconds):
        if not guide and t > 0 and t % int(p.base_change_s) == 0:
            base = np.clip(base + rng.normal(0, 0.35, 2), -0.8, 0.8)
        reading = mood + rng.normal(0, p.reading_sd, 2)
        ans = send({"t": float(t), "valence": float(np.clip(reading[0], -1, 1)),
                    "arousal": float(np.clip(reading[1], -1, 1)), "sigma": [p.reading_sd, p.reading_sd]})  # fmt: skip
        for _ in range(3):  # a new song (or one chosen after a skip) is judged at once
            if ans["song_id"] == song:
                break
            song, started = ans["song_id"], float(t)
            counts["songs"] += 1
            pending = listener.decide(song, mood, rng)
            if pending[0] in ("skip", "dislike") and pending[1] < 1.0:
                counts[str(pending[0])] += 1
                ans, pending = send({"t": float(t), "event": pending[0]}), (None, 0.0)
        if pending[0] is not None and t - started >= pending[1]:
            counts[str(pending[0])] += 1
            ans, pending = send({"t": float(t), "event": pending[0]}), (None, 0.0)
            if ans["song_id"] != song:
                song, started = ans["song_id"], float(t)
                counts["songs"] += 1
                pending = listener.decide(song, mood, rng)
        dists.append(float(np.linalg.norm(listener.va[song] - mood)))
        moving += listener.genre[song] in listener.moving
        mood = listener.move(mood, base, song, rng, guide)
    summary = driver.end()["summary"]
    songs = max(1, counts["songs"])
    guide_block = summary.get("guide") or {}
    return {
        "songs": counts["songs"],
        "skip_rate": (counts["skip"] + counts["dislike"]) / songs,
        "like_rate": counts["like"] / songs,
        "distance": float(np.mean(dists)),
        "time_to_goal_s": guide_block.get("time_to_goal_s"),
        "holds": guide_block.get("holds"),
        "moving_share": moving / max(1, seconds),
    }
