"""Evaluation metrics on signals whose answers are known, and the report end to end (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from emotune.eval.metrics import jitter, lag_to_63, plateau_mask, playlist_mean_va, step_changes
from emotune.eval.scenarios import scenarios


def test_lag_to_63_recovers_an_exponential_time_constant() -> None:
    t = np.arange(0, 60, 0.25)
    raw = np.where(t < 20, -0.5, 0.5)[:, None].repeat(2, 1)
    for tau in (0.0, 1.5, 4.0):
        smooth = raw.copy()
        after = t >= 20
        smooth[after, 0] = -0.5 + (1 - np.exp(-(t[after] - 20) / max(tau, 1e-9)))
        lag = lag_to_63(t, smooth, raw, 20.0, 0)
        assert lag == pytest.approx(tau, abs=0.25)  # within one analysed frame
    # A track that never moves never reaches 63 %.
    assert np.isnan(lag_to_63(t, np.full_like(raw, -0.5), raw, 20.0, 0))


def test_jitter_is_speed_on_steady_stretches_only() -> None:
    t = np.arange(0, 10, 0.5)
    assert jitter(t, np.zeros((len(t), 2))) == 0.0
    ramp = np.stack([0.1 * t, np.zeros_like(t)], 1)
    assert jitter(t, ramp) == pytest.approx(0.1)
    truth = np.where(t[:, None] < 5, 0.0, 1.0) * np.ones((1, 2))
    mask = plateau_mask(t, truth, settle_s=2.0)
    assert not mask[t < 2].any() and not mask[(t >= 5) & (t < 7)].any() and mask[(t >= 7)].all()


def test_scripted_steps_are_found_on_the_axis_that_moves() -> None:
    steps = step_changes(scenarios()["steps"].keyframes)
    assert [round(s) for s, _ in steps] == [30, 60, 90, 120]
    assert [d for _, d in steps] == [0, 1, 0, 1]  # v 2->-2, a 5->1.5, v -2->2, a 1.5->3.5 (largest move)


def test_playlist_mean_is_time_weighted() -> None:
    pl = {
        "scale": "deam_static",
        "songs": [
            {"song_id": "a", "valence": 2.0, "arousal": 8.0, "start_s": 0, "end_s": 30},
            {"song_id": "b", "valence": 8.0, "arousal": 2.0, "start_s": 30, "end_s": 40},
        ],
    }
    assert playlist_mean_va(pl) == pytest.approx([3.5, 6.5])


def test_gate_errors_split_held_and_passed_frames() -> None:
    from emotune.eval.metrics import gate_errors

    t = np.arange(0, 10, 0.25)
    gt = pd.DataFrame({"t_s": t, "valence": 0.0, "arousal": 3.0, "face": 1})  # truth: the origin (reference)
    held = (t >= 5).astype(int)
    tl = pd.DataFrame(
        {"t_s": t, "fused_valence": np.where(held, 0.6, 0.1), "fused_arousal": 0.0, "held": held, "face_found": 1}
    )
    g = gate_errors(tl, gt)
    assert g["held_frames"] == 20 and g["passed_frames"] == 20
    assert g["held_mean_error"] == pytest.approx(0.6) and g["passed_mean_error"] == pytest.approx(0.1)


def test_flat_report_has_the_issue_keys() -> None:
    from emotune.eval.report import flat_report

    result = {
        "stabilizers": [],
        "guide": [],
        "session": [],
        "phases": [],
        "gate": [
            {
                "scenario": "a",
                "held_frames": 10,
                "passed_frames": 30,
                "held_mean_error": 0.4,
                "passed_mean_error": 0.1,
                "face_found_fraction": 0.5,
            }
        ],
    }
    flat = flat_report(result)
    assert flat["gate_held_mean_error"] == pytest.approx(0.4) and flat["gate_passed_mean_error"] == pytest.approx(0.1)
    assert flat["gate_error_ratio"] == pytest.approx(4.0) and all(isinstance(v, float) for v in flat.values())


@pytest.mark.slow
def test_eval_report_runs_end_to_end(trained, synth_root: Path, tmp_path: Path) -> None:
    from emotune.eval.report import evaluate
    from emotune.runtime.compose import compose_config

    demo = tmp_path / "demo"
    demo.mkdir()
    for phase in ("scene", "face", "fusion"):
        (demo / phase).symlink_to(trained[phase].parents[1])
    cfg = compose_config(
        "eval_scenarios",
        [
            f"demo={demo}",
            f"out={tmp_path / 'eval'}",
            f"infer=['paths.synthetic_dir={synth_root}']",  # the fixture's catalogue: a fresh clone has no data/synthetic
            "only=[distressed,no_face,hard_face]",
            "gate.scenarios=[no_face,hard_face]",
        ],
        tmp_path / "eval",
    )
    res = evaluate(cfg)
    report = (tmp_path / "eval" / "report.md").read_text()
    assert "## Stabilizers" in report and "Validate vs guide" in report and "uncertainty gate" in report
    stab = pd.DataFrame(res["stabilizers"])
    variants = set(
        cfg.stabilizer_variants
    )  # conf/eval_scenarios.yaml: the scene rate's variants beside the stabilizers
    assert variants and set(stab["stabilizer"]) == {"none", "ema", "kalman"} | variants
    assert (stab["dwell_violations"] == 0).all() and (stab["repeats"] == 0).all()
    assert len(res["guide"]) == 2 and json.loads((tmp_path / "eval" / "eval.json").read_text())["guide"]
    flat = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert "gate_held_mean_error" in flat and "gate_passed_mean_error" in flat
    for png in ("stabilizers_no_face.png", "guide_vs_validate.png", "phases.png"):
        assert (tmp_path / "eval" / png).stat().st_size > 10_000
