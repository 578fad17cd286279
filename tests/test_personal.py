"""Personal ranking: with no evidence exactly the non-personal choice; with evidence a choice among the near songs
that keeps the mood first, never a disliked song, never a step back in guide mode beyond max_backstep."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emotune.data.catalog import Catalog
from emotune.pipeline.matcher import SongMatcher
from emotune.pipeline.personal import PersonalRanker
from emotune.utils.errors import ConfigError
from emotune.utils.scales import DEAM_STATIC

from .helpers.configs import build, node

GENRES = ("rock", "jazz", "folk", "ambient", "pop")


def tagged_catalog(n: int = 400, seed: int = 0) -> Catalog:
    """Random DEAM-scale songs with artists and genres."""
    rng = np.random.default_rng(seed)
    va = np.clip(rng.normal(5, 1.6, (n, 2)), 1, 9)
    genre = rng.choice(GENRES, n)
    df = pd.DataFrame({"song_id": [f"s{i}" for i in range(n)], "valence": va[:, 0], "arousal": va[:, 1],
                       "duration_s": 45.0, "title": "", "artist": [f"a{i % 60}" for i in range(n)], "album": "",
                       "genre": genre, "path": ""})  # fmt: skip
    return Catalog(df, DEAM_STATIC)


def matcher(cat: Catalog, mode: str = "validate", **kw) -> SongMatcher:
    return build("matcher", None, f"matcher/policy={mode}", catalog=cat, stations={"n_components": 4, "cache_dir": None},
                 **kw)  # fmt: skip


def ranker(m: SongMatcher, rows=(), banned=(), seed: int = 1) -> PersonalRanker:
    return PersonalRanker(m.personal, m.song_features(), list(rows), set(banned), seed)


def moods(seed: int, n: int = 600) -> np.ndarray:
    """A wandering mood, one reading every 0.5 s."""
    rng = np.random.default_rng(seed)
    return np.clip(np.cumsum(rng.normal(0, 0.03, (n, 2)), 0) + rng.uniform(-0.5, 0.5, 2), -1, 1)


def play(m: SongMatcher, va: np.ndarray, events: dict[int, str] | None = None) -> list[tuple[str, float]]:
    m.reset()
    for i, x in enumerate(va):
        m.update(i * 0.5, x)
        if events and i in events:
            ev = events[i]
            if m.ranker is not None:
                assert m.current is not None
                m.ranker.feedback(m.current.song_id, ev, m.last_mood)
            if ev in ("skip", "dislike"):
                m.skip(i * 0.5)
    return [(p.song_id, p.start_s) for p in m.finish(len(va) * 0.5)]


@pytest.mark.parametrize("mode", ["validate", "guide"])
def test_a_new_listener_hears_exactly_the_non_personal_playlist(mode: str) -> None:
    cat = tagged_catalog()
    m = matcher(cat, mode)
    for seed in range(3):
        va = moods(seed)
        m.attach(None)
        plain = play(m, va)
        m.attach(ranker(m))  # a listener with no evidence
        assert play(m, va) == plain
        m.attach(None)


def test_until_the_first_feedback_event_then_it_may_differ() -> None:
    cat = tagged_catalog()
    m = matcher(cat)
    va = moods(4)
    plain = play(m, va)
    m.attach(ranker(m))
    fed = play(m, va, {200: "like"})
    assert [s for s in fed if s[1] <= 100] == [s for s in plain if s[1] <= 100]


def test_learned_preferences_choose_among_the_near_songs_only() -> None:
    cat = tagged_catalog()
    m = matcher(cat)
    r = ranker(m)
    mood = np.array([0.1, -0.2])
    m.reset()
    m.attach(None)
    m.update(0.0, mood)
    nearest = m.current
    assert nearest is not None
    radius = nearest.distance + m.personal.margin
    rows, _ = m.stations.candidates(mood, lambda i: True, radius, nearest.why["stations"], m.personal.max_candidates)
    assert rows[0] == nearest.row and len(rows) >= 3
    liked = cat.songs["genre"][rows[-1]]  # the farthest candidate's genre
    for _ in range(8):  # the listener keeps liking that genre's songs elsewhere
        other = int(np.flatnonzero(cat.songs["genre"] == liked)[-1])
        r.feedback(str(cat.songs["song_id"][other]), "like", mood)
        r.feedback(str(cat.songs["song_id"][rows[0]]), "skip", mood)
    m.attach(r)
    m.reset()
    m.update(0.0, mood)
    chosen = m.current
    assert chosen is not None and chosen.row != nearest.row
    assert chosen.distance <= nearest.distance + m.personal.margin + 1e-9  # the mood comes first
    assert "personal" in chosen.why


def test_a_disliked_song_is_never_chosen_and_a_skipped_one_not_again_this_session() -> None:
    cat = tagged_catalog()
    m = matcher(cat)
    mood = np.array([0.3, 0.3])
    m.attach(None)
    m.reset()
    first = m.update(0.0, mood).song_id
    m.attach(ranker(m, banned={first}))
    m.reset()
    assert m.update(0.0, mood).song_id != first
    second = m.current
    assert second is not None
    after = m.skip(5.0)
    assert after.song_id != second.song_id and after.start_s == 5.0 and second.ended == "skipped"
    for t in range(6, 400):
        m.update(float(t), mood)
    ids = [p.song_id for p in m.playlist]
    assert first not in ids and ids.count(second.song_id) == 1


@settings(max_examples=8, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.0, 0.2))
def test_guide_with_preferences_never_steps_back_beyond_max_backstep(seed: int, backstep: float) -> None:
    cat = tagged_catalog(300, seed % 7)
    m = matcher(cat, "guide", policy={"max_backstep": backstep})
    rng = np.random.default_rng(seed)
    feats = sorted({f for r in range(len(cat)) for f in m.song_features().of_row(r, None)[0]})
    rows = [("taste", f, float(rng.normal(0, 1)), 0.1, 3.0) for f in feats[::3]]
    rows += [("response", f, float(rng.normal(0, 0.5)), 0.1, 3.0) for f in feats[1::3]]
    m.attach(ranker(m, rows, seed=seed))
    m.reset()
    for i in range(300):
        m.update(float(i), np.array([-0.7, 0.7]) + 0.004 * i * np.array([1, -1]))
    plays = m.finish(300.0)
    goal = np.asarray(m.policy.goal())
    for prev, cur in itertools.pairwise(plays):
        gap_prev, gap_cur = np.abs(m.points[prev.row] - goal), np.abs(m.points[cur.row] - goal)
        if not np.all(gap_cur <= gap_prev + backstep + 1e-9):  # only the policy's "new is what matters" fallback
            assert not any(np.all(np.abs(m.points[r] - goal) <= gap_prev + backstep) for r in range(len(cat))
                           if m.song_ids[r] not in {p.song_id for p in plays[: plays.index(cur)]})  # fmt: skip


def test_the_settings_are_checked() -> None:
    base = node("matcher.personal")
    with pytest.raises(ConfigError, match="prior_sd"):
        build("matcher.personal", prior_sd={"mood": 0.5})
    with pytest.raises(ConfigError, match="margin"):
        build("matcher.personal", margin=-0.1)
    assert build("matcher.personal").margin == base.margin
