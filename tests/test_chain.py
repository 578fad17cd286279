"""The runtime chain (``emotune.pipeline.chain.Pipeline``) with a stand-in PERCEIVE: each frame goes through the
three stages in time order, the stabilizer gets the models' gate, ``reset`` starts a new video, ``finish`` closes the
playlist; then the same with the config-built stabilizer and matcher."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from emotune.pipeline.chain import Pipeline, TimelineRow
from emotune.pipeline.perceive import FramePerception
from emotune.pipeline.play import Play
from emotune.utils.timing import Stopwatch

from .conftest import song_catalog
from .helpers.configs import build, node


class FakePerceiver:
    """PERCEIVE without models: a frame filled with ``v`` reads as fused V-A ``(v, -v) / 100``, a face on even ``v``."""

    def __init__(self, fps: float = 4.0, gate_sigma: tuple[float, float] | None = (0.2, 0.3)) -> None:
        self.fps, self.gate_sigma, self.stopwatch = fps, gate_sigma, Stopwatch()
        self.detector = SimpleNamespace(name="fake-detector")
        self.schedule = SimpleNamespace(every_s=1.0)
        self.device = torch.device("cpu")
        self.paths_run, self.checkpoints_missing, self.checkpoints = ["scene"], ["face", "fusion"], {}
        self.calls: list[list[float]] = []
        self.resets = 0

    def reset(self) -> None:
        self.resets += 1

    def __call__(self, frames: list[np.ndarray], times: list[float]) -> list[FramePerception]:
        self.calls.append(list(times))
        with self.stopwatch("scene_backbone"):
            out = []
            for f in frames:
                v = float(f[0, 0, 0])
                face = int(v) % 2 == 0
                mean, var = np.array([v, -v]) / 100, np.array([0.04, 0.09])
                out.append(
                    FramePerception(
                        mean, var, face, None, mean if face else None, var if face else None, mean.copy(), var / 2
                    )
                )
            return out


class FakeStabilizer:
    """Records every call; halves the mood, holds the frames without a face."""

    def __init__(self) -> None:
        self.gate: tuple[float, float] | None = None
        self.held = False
        self.gates: list[tuple[float, float] | None] = []
        self.updates: list[tuple[np.ndarray, np.ndarray, bool, float]] = []
        self.resets = 0

    def use_model_gate(self, gate_sigma: tuple[float, float] | None) -> None:
        self.gates.append(gate_sigma)
        self.gate = gate_sigma

    def reset(self) -> None:
        self.resets += 1

    def update(self, mean: np.ndarray, var: np.ndarray, face_found: bool, dt_s: float) -> np.ndarray:
        self.updates.append((mean, var, face_found, dt_s))
        self.held = not face_found
        return mean / 2


class FakeMatcher:
    """Records every update; a new song per frame."""

    mode, n_stations = "validate", 3

    def __init__(self) -> None:
        self.updates: list[tuple[float, np.ndarray]] = []
        self.playlist: list[Play] = []
        self.resets = 0
        self.finished: list[float] = []

    def reset(self) -> None:
        self.resets += 1

    def update(self, t_s: float, mood: np.ndarray) -> Play:
        self.updates.append((t_s, mood))
        self.playlist.append(Play(f"song{len(self.playlist)}", t_s, None, 0, mood, 0.0))
        return self.playlist[-1]

    def finish(self, t_end: float) -> list[Play]:
        self.finished.append(t_end)
        return self.playlist


def frames(times: list[float], values: list[int]) -> list[tuple[float, np.ndarray]]:
    return [(t, np.full((4, 6, 3), v, np.uint8)) for t, v in zip(times, values)]


def chain(**perceiver: object) -> tuple[Pipeline, FakePerceiver, FakeStabilizer, FakeMatcher]:
    p, s, m = FakePerceiver(**perceiver), FakeStabilizer(), FakeMatcher()
    return Pipeline(p, s, m), p, s, m


def test_the_stabilizer_gets_the_models_gate_and_every_stage_starts_fresh() -> None:
    _, p, s, m = chain(gate_sigma=(0.2, 0.3))
    assert s.gates == [(0.2, 0.3)] and (p.resets, s.resets, m.resets) == (1, 1, 1)
    assert chain(gate_sigma=None)[2].gates == [None]


def test_the_config_built_ema_takes_the_models_gate_unless_tau_is_set() -> None:
    cat = song_catalog(60)
    gated = Pipeline(FakePerceiver(gate_sigma=(0.2, 0.3)), build("stabilizer", "ema"), build("matcher", catalog=cat))
    assert gated.stabilizer.gate == (0.2, 0.3) and gated.describe()["gate_sigma"] == [0.2, 0.3]
    fixed = Pipeline(
        FakePerceiver(gate_sigma=(0.2, 0.3)), build("stabilizer", "ema", tau=0.5), build("matcher", catalog=cat)
    )
    assert fixed.stabilizer.gate == (0.5, 0.5)
    fallback = build("stabilizer", "ema")
    Pipeline(FakePerceiver(gate_sigma=None), fallback, build("matcher", catalog=cat))
    tau = node("stabilizer", "ema")["fallback_tau"]
    assert fallback.gate == (tau, tau)  # no gate in the models: the config's fallback


def test_step_runs_each_frame_through_the_three_stages_in_time_order() -> None:
    pipe, p, s, m = chain()
    rows = pipe.step(frames([0.0, 0.25, 0.5], [10, 21, 30]))
    assert [r.t_s for r in rows] == [0.0, 0.25, 0.5] and p.calls == [[0.0, 0.25, 0.5]]
    assert all(isinstance(r, TimelineRow) for r in rows)
    np.testing.assert_allclose([u[0] for u in s.updates], [[0.1, -0.1], [0.21, -0.21], [0.3, -0.3]])
    np.testing.assert_allclose([u[1] for u in s.updates], [[0.02, 0.045]] * 3)  # the fused variance
    assert [u[2] for u in s.updates] == [True, False, True]
    assert [u[3] for u in s.updates] == pytest.approx([0.25, 0.25, 0.25])  # the first frame: 1 / fps
    assert [u[0] for u in m.updates] == [0.0, 0.25, 0.5]
    for row, (_, mood), play in zip(rows, m.updates, m.playlist):
        np.testing.assert_allclose(row.stabilized, row.perception.fused_mean / 2)  # the stabilizer's output...
        assert mood is row.stabilized and row.play is play  # ... is what the matcher got; its song is the row's
    assert [r.held for r in rows] == [False, True, False]  # the stabilizer's verdict after each frame
    more = pipe.step(frames([0.75, 1.25], [40, 50]))  # the next batch continues the clock
    assert [r.t_s for r in more] == [0.75, 1.25] and [u[3] for u in s.updates[3:]] == pytest.approx([0.25, 0.5])
    assert {"stabilize", "match", "scene_backbone"} <= set(pipe.stopwatch.seconds)


def test_an_empty_batch_does_nothing() -> None:
    pipe, p, s, m = chain()
    assert pipe.step([]) == [] and p.calls == [] and s.updates == [] and m.updates == []


def test_reset_starts_a_new_video() -> None:
    pipe, p, s, m = chain(fps=2.0)
    pipe.step(frames([10.0, 11.0], [2, 4]))
    assert pipe.stopwatch.seconds
    pipe.reset()
    assert (p.resets, s.resets, m.resets) == (2, 2, 2) and not pipe.stopwatch.seconds
    pipe.step(frames([0.0], [6]))
    assert s.updates[-1][3] == pytest.approx(0.5)  # 1 / fps, not the time since the last video's last frame


def test_finish_closes_the_playlist_at_the_end_and_describe_says_what_ran() -> None:
    pipe, _, _, m = chain(fps=4.0, gate_sigma=(0.2, 0.3))
    pipe.step(frames([0.0, 0.25], [2, 4]))
    assert pipe.finish(6.0) is m.playlist and m.finished == [6.0]
    assert pipe.fps == 4.0
    assert pipe.describe() == {
        "analysis_fps": 4.0,
        "paths_run": ["scene"],
        "checkpoints_missing": ["face", "fusion"],
        "checkpoints": {},
        "mode": "validate",
        "stabilizer": "FakeStabilizer",
        "gate_sigma": [0.2, 0.3],
        "stations": 3,
        "detector": "fake-detector",
        "scene_every_s": 1.0,
        "device": "cpu",
    }


def test_a_timeline_row_is_the_csv_columns() -> None:
    pipe, *_ = chain()
    with_face, without = pipe.step(frames([0.0, 0.25], [20, 21]))
    a, b = with_face.as_dict(), without.as_dict()
    assert a["scene_valence_sd"] == pytest.approx(0.2) and a["scene_arousal_sd"] == pytest.approx(0.3)
    assert (
        a["face_found"] == 1 and a["face_valence"] == pytest.approx(0.2) and a["face_arousal_sd"] == pytest.approx(0.3)
    )
    assert a["fused_valence_sd"] == pytest.approx(np.sqrt(0.02)) and a["stab_valence"] == pytest.approx(0.1)
    assert a["song_id"] == "song0" and a["held"] == 0
    assert b["face_found"] == 0 and np.isnan(b["face_valence"]) and np.isnan(b["face_arousal_sd"])
    assert b["held"] == 1 and b["song_id"] == "song1"
    assert all(np.isnan(b[k]) for k in ("face_roll_deg", "face_yaw", "face_size_px"))


def test_a_timeline_row_has_the_faces_pose() -> None:
    from emotune.detect.detectors import make_dets

    # eyes level 40 px apart, the nose 10 px towards the left eye (on the image's right): roll 0, yaw 0.25
    points = np.array([[[100, 120], [140, 120], [130, 140], [120, 160], [80, 125], [160, 125]]], np.float32)
    box = make_dets([[70, 90, 170, 200]], [0.9], points)[0]
    pipe, *_ = chain()
    row = pipe.step(frames([0.0], [20]))[0]
    row.perception.face_box = box
    d = row.as_dict()
    assert d["face_roll_deg"] == pytest.approx(0.0) and d["face_yaw"] == pytest.approx(0.25)
    assert d["face_size_px"] == pytest.approx(110.0)


def test_the_config_built_stages_follow_a_steady_mood() -> None:
    """The fake PERCEIVE with conf's EMA and matcher: a steady mood is approached, one song plays (the dwell), and
    the playlist closes at the end of the video."""
    pipe = Pipeline(FakePerceiver(fps=4.0), build("stabilizer", "ema"), build("matcher", catalog=song_catalog(120)))
    times = [i / 4 for i in range(40)]
    rows = pipe.step(frames(times, [50] * 40))  # 10 s at mood (0.5, -0.5), face in view
    assert [r.t_s for r in rows] == times
    dist = [np.linalg.norm(r.stabilized - np.array([0.5, -0.5])) for r in rows]
    assert all(b <= a + 1e-9 for a, b in itertools.pairwise(dist)) and dist[-1] < 0.05  # closer with every frame
    playlist = pipe.finish(10.0)
    assert len(playlist) == 1 and playlist[0].start_s == 0.0 and playlist[0].end_s == 10.0  # under the dwell
    assert all(r.play.song_id == playlist[0].song_id for r in rows)
