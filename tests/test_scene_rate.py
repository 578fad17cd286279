"""The scene path at its own rate (shot changes, a maximum age) and decoding ahead in a thread."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from emotune.media.video import Prefetcher
from emotune.pipeline.scene_rate import SceneSchedule
from emotune.utils.errors import ConfigError


def frames(values: list[int]) -> list[np.ndarray]:
    return [np.full((90, 160, 3), v, np.uint8) for v in values]


def test_static_scene_runs_once_per_max_age() -> None:
    s = SceneSchedule(every_s=1.0, change=0.08)
    times = [i * 0.25 for i in range(10)]
    assert s.plan(frames([100] * 10), times) == [True, False, False, False, True, False, False, False, True, False]


def test_a_shot_change_runs_the_scene_at_once() -> None:
    s = SceneSchedule(every_s=10.0, change=0.08)
    plan = s.plan(frames([100, 101, 100, 200, 201, 60]), [0, 0.25, 0.5, 0.75, 1.0, 1.25])
    assert plan == [True, False, False, True, False, True]
    s.reset()
    assert s.plan(frames([200]), [1.5]) == [True]  # a new video starts fresh


def test_every_frame_when_every_s_is_zero_and_checked_settings() -> None:
    assert SceneSchedule(every_s=0).plan(frames([5, 5, 5]), [0, 0.1, 0.2]) == [True] * 3
    with pytest.raises(ConfigError, match=r"perceive\.scene_change"):
        SceneSchedule(change=2.0)


def test_perceiver_reuses_the_scene_reading_between_runs(trained_scene: Path) -> None:
    from emotune.models.loading import load_trained

    from .helpers.configs import build

    models = load_trained(dir=None, scene=str(trained_scene), face=None, fusion=None)
    rng = np.random.default_rng(0)
    clip = [rng.integers(0, 255, (90, 160, 3), dtype=np.uint8)] * 6
    times = [i * 0.25 for i in range(6)]
    slow = build("perceive", models=models, detector=None, fps=4, scene_every_s=1.0, mc_samples=4)
    out = slow(clip, times)
    assert [fp.scene_fresh for fp in out] == [True, False, False, False, True, False]
    assert np.array_equal(out[1].scene_mean, out[0].scene_mean)  # reused as is
    every = build("perceive", models=models, detector=None, fps=4, scene_every_s=0.0, mc_samples=4)
    assert all(fp.scene_fresh for fp in every(clip, times))
    assert slow.stopwatch.seconds["scene_backbone"] > 0


def test_perceiver_downscales_each_frame_once_to_the_detectors_max_side(
    trained_scene: Path, trained_face: Path
) -> None:
    """One downscale, one setting: the frame the detector (and the models) see is the frame shrunk to
    ``detector.max_side``, and a frame already that small is passed as it is; boxes come back in frame pixels."""
    from emotune.detect.detectors import make_dets
    from emotune.models.loading import load_trained

    from .helpers.configs import build

    class Recording:
        name, max_side = "recording", 160

        def __init__(self) -> None:
            self.seen: list[tuple[int, ...]] = []

        def detect(self, image: np.ndarray) -> np.ndarray:
            self.seen.append(image.shape)
            return make_dets([[40, 30, 80, 70]], [0.9])  # a face in the pixels it was given

        def settings(self) -> dict:
            return {"name": self.name}

    models = load_trained(dir=None, scene=str(trained_scene), face=str(trained_face), fusion=None)
    det = Recording()
    perceiver = build("perceive", models=models, detector=det, track_faces=False, mc_samples=2)
    big, small = np.zeros((480, 640, 3), np.uint8), np.zeros((90, 120, 3), np.uint8)
    out = perceiver([big, small])
    assert det.seen == [(120, 160, 3), (90, 120, 3)]  # 640 x 480 -> 160 x 120 once; 120 x 90 untouched
    np.testing.assert_allclose(out[0].face_box[:4], [160, 120, 320, 280])  # x4: back in the big frame's pixels
    np.testing.assert_allclose(out[1].face_box[:4], [40, 30, 80, 70])


def test_prefetcher_keeps_order_and_errors() -> None:
    with Prefetcher(iter(range(100)), depth=4) as items:
        assert list(items) == list(range(100))

    def broken():
        yield 1
        raise RuntimeError("decoder died")

    with pytest.raises(RuntimeError, match="decoder died"), Prefetcher(broken(), depth=2) as items:
        list(items)


def test_prefetcher_stops_its_thread_when_the_consumer_stops_early() -> None:
    before = threading.active_count()
    with Prefetcher(iter(range(10_000)), depth=2) as items:
        for i in items:
            if i == 3:
                break
    assert threading.active_count() == before
