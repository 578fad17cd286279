"""Stabilizers, stations and the validate-mode matcher: unit and property tests (fast, no models)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emotune.pipeline.matcher import SongMatcher
from emotune.pipeline.stabilizer import EMAStabilizer, KalmanStabilizer, NoStabilizer
from emotune.utils.errors import ConfigError

from .conftest import song_catalog
from .helpers.configs import build


def ema(**kw) -> EMAStabilizer:
    """conf/stabilizer/ema.yaml with ``kw`` replaced."""
    return build("stabilizer", "ema", **kw)


def kalman(**kw) -> KalmanStabilizer:
    """conf/stabilizer/kalman.yaml with ``kw`` replaced."""
    return build("stabilizer", "kalman", **kw)


def test_ema_converges_holds_and_smooths_more_without_face() -> None:
    s = ema(window_s=4.0, tau=0.3)
    s.update(np.zeros(2), np.full(2, 0.01), True, 0.25)
    for _ in range(16):  # 4 s of a step to 1.0
        out = s.update(np.ones(2), np.full(2, 0.01), True, 0.25)
    assert 0.9 < out[0] < 1.0
    held = s.update(-np.ones(2), np.full(2, 1.0), True, 0.25)  # sigma 1 > tau: hold
    assert s.held and np.allclose(held, out)
    assert s.alpha(0.25, face_found=False) < s.alpha(0.25, face_found=True)


def test_ema_takes_the_models_gate_with_and_without_a_face_unless_tau_is_set() -> None:
    s = ema(window_s=4.0, tau=None, fallback_tau=0.35)  # tau=None: the fusion checkpoint's gate
    assert s.gate == (0.35, 0.35)  # no gate in the models: the fallback
    s.use_model_gate((0.40, 0.45))
    s.update(np.zeros(2), np.full(2, 0.01), True, 0.25)
    s.update(np.ones(2), np.full(2, 0.42**2), True, 0.25)  # sigma 0.42 > 0.40 with a face: held
    assert s.held
    s.update(np.ones(2), np.full(2, 0.42**2), False, 0.25)  # ... < 0.45 without one: passed
    assert not s.held
    fixed = ema(tau=0.5)
    fixed.use_model_gate((0.40, 0.45))  # an explicit tau wins
    assert fixed.gate == (0.5, 0.5)


@pytest.mark.parametrize(
    "bad", [{"window_s": 0}, {"tau": -1}, {"fallback_tau": -1}, {"no_face_factor": 0.5}, {"alpha": 0}, {"alpha": 1.5}]
)
def test_ema_rejects_bad_config(bad: dict) -> None:
    with pytest.raises(ConfigError, match=next(iter(bad))):
        ema(**bad)


def test_kalman_trusts_confident_frames_more() -> None:
    a, b = kalman(), kalman()
    for s in (a, b):
        s.update(np.zeros(2), np.full(2, 0.01), True, 0.25)
    xa = a.update(np.ones(2), np.full(2, 0.001), True, 0.25)
    xb = b.update(np.ones(2), np.full(2, 1.0), True, 0.25)
    assert xa[0] > xb[0]


value = st.one_of(st.floats(-5, 5), st.just(float("nan")), st.just(float("inf")))
frames = st.lists(
    st.tuples(value, value, st.one_of(st.floats(0, 4), st.just(float("nan"))), st.booleans()), min_size=1, max_size=120
)


@settings(max_examples=60, deadline=None)
@given(frames)
def test_stabilizers_never_nan_and_stay_in_range(seq: list) -> None:
    for s in (ema(), kalman(), NoStabilizer()):
        for v, a, var, face in seq:
            out = s.update(np.array([v, a]), np.array([var, var]), face, 0.25)
            assert np.all(np.isfinite(out)) and np.all(np.abs(out) <= 1.0 + 1e-9)


VALIDATE_KEYS = ("switch_margin", "settle_s", "settle_radius", "max_play_s")


def matcher(cat=None, mode: str = "validate", **kw) -> SongMatcher:
    """conf/matcher/gmm.yaml on ``cat`` with 4 stations (fitted every time), the policy ``mode``
    (``conf/matcher/policy/<mode>.yaml``) and ``kw`` replaced (``n_components``, ``k`` and ``posterior_threshold`` are
    the stations'; ``policy`` a dict of the policy's settings; validate's may be given directly)."""
    stations = {"n_components": kw.pop("n_components", 4), "cache_dir": None}
    stations.update({k: kw.pop(k) for k in ("k", "posterior_threshold") if k in kw}, **kw.pop("stations", {}))
    policy = {**{k: kw.pop(k) for k in VALIDATE_KEYS if k in kw}, **kw.pop("policy", {})}
    return build("matcher", None, f"matcher/policy={mode}", catalog=cat or song_catalog(), stations=stations,
                 policy=policy, **kw)  # fmt: skip


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.floats(-1, 1), st.floats(-1, 1)), min_size=5, max_size=300),
    st.floats(0, 40),
    st.integers(0, 8),
    st.sampled_from(["validate", "guide"]),
    st.floats(0.05, 2.0),
)
def test_matcher_never_breaks_dwell_or_memory(states: list, dwell: float, memory: int, mode: str, dt: float) -> None:
    cap = {"max_play_s": max(45.0, dwell)} if mode == "guide" else {}
    m = matcher(min_dwell_s=dwell, memory=memory, mode=mode, k=3, policy=cap)
    t = 0.0
    for v, a in states:
        m.update(t, np.array([v, a]))
        t += dt
    plays = m.finish(t)
    for p in plays[:-1]:
        assert p.end_s - p.start_s + 1e-9 >= min(dwell, 45.0)
    ids = [p.song_id for p in plays]
    for i, s in enumerate(ids):
        assert s not in ids[max(0, i - memory) : i]
    assert m.report()["dwell_violations"] == 0 and m.report()["repeats_within_memory"] == 0


def test_report_counts_what_the_playlist_shows() -> None:
    """The matcher's own rule finds a dwell violation and a repeat when they are there (the count can fail)."""
    m = matcher(min_dwell_s=20, memory=3, settle_s=0)
    m.update(0.0, np.zeros(2))
    m.update(30.0, np.array([0.9, 0.9]))
    m.finish(60.0)
    assert m.report() == {"dwell_violations": 0, "repeats_within_memory": 0}
    m.playlist[0].end_s = 5.0  # as if it had switched after 5 s
    m.playlist[1].song_id = m.playlist[0].song_id
    assert m.report() == {"dwell_violations": 1, "repeats_within_memory": 1}


def test_gating_uses_two_stations_when_posterior_is_low() -> None:
    st_ = matcher(posterior_threshold=0.55).stations
    confident = st_.gmm.means_[0]
    st1, post = st_.gate(confident)
    assert post.max() >= 0.55 and len(st1) == 1
    midpoint = (st_.gmm.means_[0] + st_.gmm.means_[1]) / 2
    st2, post2 = st_.gate(midpoint)
    assert (post2.max() < 0.55) == (len(st2) == 2)


def test_bic_picks_stations_and_cache_roundtrips(tmp_path) -> None:
    cat = song_catalog(600)
    a = matcher(cat, n_components=None, stations={"cache_dir": str(tmp_path)})
    b = matcher(cat, n_components=None, stations={"cache_dir": str(tmp_path)})
    assert 2 <= a.n_stations <= 10 and len(list(tmp_path.glob("stations_*.npz"))) == 1
    pa = a.stations.gmm.predict_proba(a.points[:20])
    np.testing.assert_allclose(pa, b.stations.gmm.predict_proba(b.points[:20]), atol=1e-9)


@pytest.mark.parametrize(
    "kw, key",
    [
        ({"memory": 5, "cat": song_catalog(5)}, r"matcher\.memory"),
        ({"min_dwell_s": -1}, r"matcher\.min_dwell_s"),
        ({"mode": "shuffle"}, r"matcher/policy"),
        ({"k": 0}, r"matcher\.stations\.k"),
        ({"mode": "guide", "policy": {"step": 0}}, r"matcher\.policy\.step"),
        ({"mode": "guide", "min_dwell_s": 30, "policy": {"max_play_s": 20}}, r"matcher\.policy\.max_play_s"),
        ({"max_play_s": 10, "min_dwell_s": 20}, r"matcher\.policy\.max_play_s"),
        ({"settle_radius": 0}, r"matcher\.policy\.settle_radius"),
        ({"mode": "guide", "policy": {"calm_goal": [3, 0]}}, r"matcher\.policy\.calm_goal"),
    ],
)
def test_matcher_config_errors(kw: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        matcher(**kw)


def test_fast_posterior_and_index_match_scikit_learn() -> None:
    from sklearn.mixture import GaussianMixture

    from emotune.pipeline.stations import StationIndex, StationPosterior

    rng = np.random.default_rng(0)
    pts = np.clip(rng.normal(0, 0.4, (3000, 2)), -1, 1)
    gmm = GaussianMixture(4, covariance_type="full", random_state=0).fit(pts)
    post = StationPosterior(gmm)
    queries = rng.uniform(-1, 1, (50, 2))
    np.testing.assert_allclose(np.stack([post(q) for q in queries]), gmm.predict_proba(queries), atol=1e-9)
    rows = np.arange(0, 3000, 2)
    scan, tree = StationIndex(pts, rows), StationIndex(pts, rows, tree_above=0)
    assert scan.tree is None and tree.tree is not None
    for q in queries[:10]:
        want = rows[np.argsort(np.linalg.norm(pts[rows] - q, axis=1))[:7]]
        for index in (scan, tree):
            d, r = index.nearest(q, 7)
            np.testing.assert_array_equal(r, want)
            assert np.all(np.diff(d) >= 0)


@pytest.mark.parametrize("settle_s", [0.0, 2.0])
def test_matcher_waits_for_a_moving_mood_to_land(settle_s: float) -> None:
    """After a step the smoothed mood glides to its new level; a switch mid-glide picks a song for a point
    the mood only passes through. With ``settle_s`` the song is chosen where the mood lands."""
    m = matcher(song_catalog(600, seed=1), n_components=3, min_dwell_s=0.0, memory=2, settle_s=settle_s)
    start, end = np.array([-0.6, -0.6]), np.array([0.6, 0.6])
    t = 0.0
    for _ in range(40):  # 10 s steady at the start
        m.update(t, start)
        t += 0.25
    for i in range(1, 60):  # EMA-like glide towards the end point, then steady
        m.update(t, end + (start - end) * np.exp(-i * 0.25 / 1.33))
        t += 0.25
    chosen_after_step = next(p for p in m.playlist if p.start_s >= 10.0)
    dist_to_landing = np.linalg.norm(m.points[chosen_after_step.row] - end)
    if settle_s:
        assert dist_to_landing < 0.25
    else:
        assert dist_to_landing > 0.5  # the failure mode settle_s exists for


def test_validate_mode_can_cap_a_long_song() -> None:
    cat = song_catalog(300, duration=None)  # unknown lengths: only the cap ends a song at a steady mood
    for cap, want in ((None, 1), (40.0, 5)):  # 0, 40, 80, 120, 160 s
        m = matcher(cat, min_dwell_s=25, max_play_s=cap)
        for i in range(720):  # 180 s at 4 fps, steady mood
            m.update(i * 0.25, np.array([0.2, 0.3]))
        assert len(m.finish(180.0)) == want, cap


def test_every_choice_says_why() -> None:
    m = matcher(min_dwell_s=5)
    for i in range(200):
        m.update(i * 0.25, np.array([0.5, 0.5]) if i < 100 else np.array([-0.5, -0.5]))
    for p in m.finish(50.0):
        assert set(p.why) == {"mood", "target", "distance", "stations", "mode", "step"}
        assert p.why["distance"] == pytest.approx(np.linalg.norm(m.points[p.row] - p.target), abs=1e-3)
