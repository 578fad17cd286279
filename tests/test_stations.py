"""GMM stations (``emotune.pipeline.stations.Stations``) on catalogues whose answers are known: two well-separated
clusters of songs, so which station a mood falls in, and the gate's top-1 / top-2 choice, follow from the geometry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emotune.pipeline import stations as stations_mod
from emotune.pipeline.stations import Stations

from .helpers.configs import build

LEFT, RIGHT = np.array([-0.6, 0.0]), np.array([0.6, 0.0])


def two_clusters(n: int = 40, seed: int = 0) -> np.ndarray:
    """``n`` songs around LEFT, then ``n`` around RIGHT (reference scale), tight enough to be two stations."""
    rng = np.random.default_rng(seed)
    return np.vstack([LEFT + rng.normal(0, 0.05, (n, 2)), RIGHT + rng.normal(0, 0.05, (n, 2))])


def stations(points: np.ndarray, fingerprint: str = "two", **settings: object) -> Stations:
    """Stations over ``points`` with ``conf/matcher/gmm.yaml``'s ``stations`` node (``settings`` replaced); two
    stations and no cache unless asked."""
    settings = {"n_components": 2, "cache_dir": None, **settings}
    return Stations(points, fingerprint, build("matcher.stations", **settings))


def station_of(st: Stations, centre: np.ndarray) -> int:
    return int(st.song_station[np.argmin(np.linalg.norm(st.points - centre, axis=1))])


def test_each_cluster_is_one_station() -> None:
    pts = two_clusters()
    st = stations(pts)
    left, right = station_of(st, LEFT), station_of(st, RIGHT)
    assert len(st) == 2 and left != right
    assert (st.song_station[:40] == left).all() and (st.song_station[40:] == right).all()


def top_posterior_between(st: Stations, lo: float, hi: float) -> np.ndarray:
    """A point on the line from LEFT to RIGHT whose top station posterior is in ``(lo, hi)`` (there is one: the
    posterior goes from one station's to the other's continuously)."""
    for v in np.linspace(LEFT[0], RIGHT[0], 4801):
        x = np.array([v, 0.0])
        if lo < st.posterior(x).max() < hi:
            return x
    raise AssertionError(f"no point with a top posterior in ({lo}, {hi})")


@pytest.mark.parametrize("threshold", [0.55, 0.9])
def test_gate_takes_the_top_station_when_sure_and_the_top_two_below_the_threshold(threshold: float) -> None:
    st = stations(two_clusters(), posterior_threshold=threshold)
    left, right = station_of(st, LEFT), station_of(st, RIGHT)
    gated, post = st.gate(LEFT)
    assert gated == [left] and post[left] > 0.99 and post.sum() == pytest.approx(1.0)
    assert st.gate(RIGHT)[0] == [right]
    # near the boundary the posterior is split about evenly: both stations, the likelier first
    gated, post = st.gate(top_posterior_between(st, 0.5, 0.55))
    assert sorted(gated) == sorted([left, right]) and gated[0] == int(np.argmax(post))
    # a top posterior between 0.55 and 0.9: one station at threshold 0.55, both at 0.9
    assert len(st.gate(top_posterior_between(st, 0.6, 0.85))[0]) == (1 if threshold == 0.55 else 2)


def test_gate_at_threshold_zero_never_widens_and_at_one_always_does() -> None:
    pts = two_clusters()
    never = stations(pts, posterior_threshold=0.0)
    assert all(len(never.gate(p)[0]) == 1 for p in (LEFT, RIGHT, top_posterior_between(never, 0.5, 0.55)))
    always = stations(pts, posterior_threshold=1.0)
    assert all(len(always.gate(top_posterior_between(always, lo, lo + 0.05))[0]) == 2 for lo in (0.5, 0.7, 0.9))


def test_query_gives_the_nearest_allowed_song() -> None:
    pts = two_clusters()
    st = stations(pts)
    target = LEFT + np.array([0.01, 0.02])
    order = np.argsort(np.linalg.norm(pts - target, axis=1))
    row, dist, searched = st.query(target, lambda r: True)
    assert row == order[0] and dist == pytest.approx(np.linalg.norm(pts[row] - target))
    assert searched == [station_of(st, LEFT)]
    banned = set(order[:3].tolist())  # the three nearest are not allowed (played recently, say)
    row, dist, _ = st.query(target, lambda r: r not in banned)
    assert row == order[3] and dist == pytest.approx(np.linalg.norm(pts[order[3]] - target))


def test_query_widens_k_then_to_every_station_when_nothing_nearby_is_allowed() -> None:
    pts = two_clusters()
    st = stations(pts, k=2)
    target = LEFT.copy()
    near = np.argsort(np.linalg.norm(pts - target, axis=1))
    # only the farthest song of the left cluster is allowed: beyond k=2, found by fetching more neighbours
    farthest_left = int(near[near < 40][-1])
    row, _, searched = st.query(target, lambda r: r == farthest_left)
    assert row == farthest_left and searched == [station_of(st, LEFT)]
    # only right-cluster songs are allowed: the gated (left) station has none, so every station is searched
    row, dist, searched = st.query(target, lambda r: r >= 40)
    right_rows = np.arange(40, 80)
    expected = int(right_rows[np.argmin(np.linalg.norm(pts[right_rows] - target, axis=1))])
    assert row == expected and sorted(searched) == [0, 1]
    assert dist == pytest.approx(np.linalg.norm(pts[expected] - target))
    assert st.query(target, lambda r: False) is None  # nothing allowed anywhere


def test_fitted_stations_are_cached_per_catalogue_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pts = two_clusters()
    first = stations(pts, cache_dir=str(tmp_path), n_components=None)  # K by BIC: the slow part worth caching
    files = list(tmp_path.glob("stations_*.npz"))
    assert len(files) == 1

    def no_fit(*args: object, **kwargs: object) -> None:
        raise AssertionError("refitted although the cache holds these stations")

    monkeypatch.setattr(stations_mod, "fit_gmm", no_fit)
    again = stations(pts, cache_dir=str(tmp_path), n_components=None)
    assert len(again) == len(first)
    np.testing.assert_allclose(again.gmm.means_, first.gmm.means_)
    np.testing.assert_array_equal(again.song_station, first.song_station)
    probe = np.array([0.1, -0.2])
    np.testing.assert_allclose(again.posterior(probe), first.posterior(probe), atol=1e-12)
    monkeypatch.undo()
    stations(pts, "another catalogue", cache_dir=str(tmp_path), n_components=None)  # another fingerprint
    stations(pts, cache_dir=str(tmp_path), n_components=None, seed=1)  # other settings
    assert len(list(tmp_path.glob("stations_*.npz"))) == 3


def test_an_unreadable_cache_file_is_refitted(tmp_path: Path) -> None:
    pts = two_clusters()
    stations(pts, cache_dir=str(tmp_path))
    (cached,) = tmp_path.glob("stations_*.npz")
    cached.write_bytes(b"not an npz file")
    st = stations(pts, cache_dir=str(tmp_path))
    assert len(st) == 2 and station_of(st, LEFT) != station_of(st, RIGHT)
    assert np.load(cached)["weights"].shape == (2,)  # rewritten with the refitted stations
