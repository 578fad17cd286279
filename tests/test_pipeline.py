"""Stabilizers and the matcher: unit and property tests (fast, no models)."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emotune.data.catalog import Catalog
from emotune.data.scales import DEAM_STATIC
from emotune.pipeline.matcher import SongMatcher
from emotune.pipeline.stabilizer import EMAStabilizer, KalmanStabilizer, NoStabilizer
from emotune.utils.errors import ConfigError


def catalog(n: int = 300, seed: int = 0, duration: float | None = 45.0) -> Catalog:
    rng = np.random.default_rng(seed)
    va = np.clip(rng.normal(5, 1.6, (n, 2)), 1, 9)
    df = pd.DataFrame(
        {
            "song_id": [str(i) for i in range(n)],
            "valence": va[:, 0],
            "arousal": va[:, 1],
            "duration_s": duration if duration else np.nan,
            "title": "",
            "artist": "",
            "genre": "",
            "path": "",
        }
    )
    return Catalog(df, DEAM_STATIC)


def test_ema_converges_holds_and_smooths_more_without_face() -> None:
    s = EMAStabilizer(window_s=4.0, tau=0.3)
    s.update(np.zeros(2), np.full(2, 0.01), True, 0.25)
    for _ in range(16):  # 4 s of a step to 1.0
        out = s.update(np.ones(2), np.full(2, 0.01), True, 0.25)
    assert 0.9 < out[0] < 1.0
    held = s.update(-np.ones(2), np.full(2, 1.0), True, 0.25)  # sigma 1 > tau: hold
    assert s.held and np.allclose(held, out)
    assert s.alpha(0.25, face_found=False) < s.alpha(0.25, face_found=True)


@pytest.mark.parametrize("bad", [{"window_s": 0}, {"tau": -1}, {"no_face_factor": 0.5}])
def test_ema_rejects_bad_config(bad: dict) -> None:
    with pytest.raises(ConfigError, match=next(iter(bad))):
        EMAStabilizer(**bad)


def test_kalman_trusts_confident_frames_more() -> None:
    a, b = KalmanStabilizer(), KalmanStabilizer()
    for s in (a, b):
        s.update(np.zeros(2), np.full(2, 0.01), True, 0.25)
    xa = a.update(np.ones(2), np.full(2, 0.001), True, 0.25)
    xb = b.update(np.ones(2), np.full(2, 1.0), True, 0.25)
    assert xa[0] > xb[0]


value = st.one_of(st.floats(-5, 5), st.just(float("nan")), st.just(float("inf")))
frames = st.lists(
    st.tuples(value, value, st.one_of(st.floats(0, 4), st.just(float("nan"))), st.booleans()),
    min_size=1,
    max_size=120,
)


@settings(max_examples=60, deadline=None)
@given(frames)
def test_stabilizers_never_nan_and_stay_in_range(seq: list) -> None:
    for s in (EMAStabilizer(), KalmanStabilizer(), NoStabilizer()):
        for v, a, var, face in seq:
            out = s.update(np.array([v, a]), np.array([var, var]), face, 0.25)
            assert np.all(np.isfinite(out)) and np.all(np.abs(out) <= 1.0 + 1e-9)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.floats(-1, 1), st.floats(-1, 1)), min_size=5, max_size=300),
    st.floats(0, 40),
    st.integers(0, 8),
    st.sampled_from(["validate", "guide"]),
    st.floats(0.05, 2.0),
)
def test_matcher_never_breaks_dwell_or_memory(
    states: list, dwell: float, memory: int, mode: str, dt: float
) -> None:
    m = SongMatcher(catalog(), n_components=4, min_dwell_s=dwell, memory=memory, mode=mode, k=3)
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


def test_gating_uses_two_stations_when_posterior_is_low() -> None:
    m = SongMatcher(catalog(), n_components=4, posterior_threshold=0.55)
    confident = m.gmm.means_[0]
    st1, post = m.stations_for(confident)
    assert post.max() >= 0.55 and len(st1) == 1
    midpoint = (m.gmm.means_[0] + m.gmm.means_[1]) / 2
    st2, post2 = m.stations_for(midpoint)
    assert (post2.max() < 0.55) == (len(st2) == 2)


def test_guide_mode_picks_calmer_songs_than_validate() -> None:
    distressed = np.array([-0.6, 0.7])
    means = {}
    for mode in ("validate", "guide"):
        m = SongMatcher(catalog(2000, duration=None), n_components=5, mode=mode, min_dwell_s=20, memory=3)
        for i in range(400):  # 100 s of distress at 4 fps
            m.update(i * 0.25, distressed)
        plays = m.finish(100)
        means[mode] = np.mean([m.points[p.row][1] for p in plays])
    assert means["guide"] < means["validate"] - 0.2, means


def test_bic_picks_stations_and_cache_roundtrips(tmp_path) -> None:
    cat = catalog(600)
    a = SongMatcher(cat, n_components=None, cache_dir=str(tmp_path))
    b = SongMatcher(cat, n_components=None, cache_dir=str(tmp_path))
    assert 2 <= a.n_stations <= 10 and len(list(tmp_path.glob("stations_*.npz"))) == 1
    np.testing.assert_allclose(
        a.gmm.predict_proba(a.points[:20]), b.gmm.predict_proba(b.points[:20]), atol=1e-9
    )


def test_matcher_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"matcher\.memory"):
        SongMatcher(catalog(5), memory=5, n_components=2)
    with pytest.raises(ConfigError, match=r"matcher\.min_dwell_s"):
        SongMatcher(catalog(), min_dwell_s=-1, n_components=2)
    with pytest.raises(ConfigError, match=r"matcher\.mode"):
        SongMatcher(catalog(), mode="shuffle", n_components=2)


def test_fast_posterior_and_index_match_scikit_learn() -> None:
    from sklearn.mixture import GaussianMixture

    from emotune.pipeline.matcher import StationIndex, StationPosterior

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


def test_haar_detector_pickles_for_spawned_processes() -> None:
    import pickle

    from emotune.detect.detectors import HaarFaceDetector

    det = HaarFaceDetector()
    clone = pickle.loads(pickle.dumps(det))
    img = np.zeros((120, 160, 3), np.uint8)
    assert clone.settings() == det.settings() and clone.detect(img).shape == (0, 5)


@pytest.mark.parametrize("settle_s", [0.0, 2.0])
def test_matcher_waits_for_a_moving_mood_to_land(settle_s: float) -> None:
    """After a step the smoothed mood glides to its new level; a switch mid-glide picks a song for a point
    the mood only passes through. With ``settle_s`` the song is chosen where the mood lands."""
    m = SongMatcher(catalog(600, seed=1), n_components=3, min_dwell_s=0.0, memory=2, settle_s=settle_s)
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


def test_tracking_detector_finds_the_face_near_its_last_box_and_rescans() -> None:
    from emotune.detect.detectors import TrackingDetector

    class Counting:
        name = "counting"

        def __init__(self) -> None:
            self.calls: list[tuple[int, int]] = []

        def detect(self, img: np.ndarray) -> np.ndarray:
            self.calls.append(img.shape[:2])
            ys, xs = np.nonzero(img[..., 0] > 200)  # the "face": a bright square
            if not len(xs):
                return np.zeros((0, 5), np.float32)
            return np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1, 1.0]], np.float32)

        def settings(self) -> dict:
            return {"name": self.name}

    inner = Counting()
    det = TrackingDetector(inner, roi_scale=2.0, full_every=3)
    frame = np.zeros((300, 400, 3), np.uint8)
    frame[100:140, 200:240] = 255
    boxes = [det.detect(frame) for _ in range(4)]
    for b in boxes:
        np.testing.assert_allclose(b[0, :4], [200, 100, 240, 140])  # back in frame coordinates
    assert [c == (300, 400) for c in inner.calls] == [True, False, True, False]  # full, roi, full (3rd), roi
    empty = np.zeros_like(frame)
    assert len(det.detect(empty)) == 0 and inner.calls[-1] == (300, 400)  # lost: falls back to a full scan
