"""Slow: real multirun sweeps through train.py as a subprocess."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, TINY


@pytest.mark.slow
def test_two_value_multirun(tmp_path: Path, synth_root: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    cmd = [
        sys.executable,
        str(ROOT / "train.py"),
        "-m",
        "phase=scene",
        "model.optimizer.lr=1e-3,3e-3",
        f"paths.synthetic_dir={synth_root}",
        f"paths.cache_dir={tmp_path / 'cache'}",
        f"hydra.sweep.dir={sweep_dir}",
        *TINY,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = sorted(sweep_dir.glob("*/metrics.json"))
    assert len(runs) == 2
    overrides = [(r.parent / ".hydra" / "overrides.yaml").read_text() for r in runs]
    assert any("lr=0.001" in o or "lr=1e-3" in o for o in overrides) and any(
        "3e-3" in o or "0.003" in o for o in overrides
    )
    for r in runs:
        assert "test/valence_ccc" in json.loads(r.read_text())


@pytest.mark.slow
def test_optuna_search_returns_the_optimised_metric(tmp_path: Path, synth_root: Path) -> None:
    sweep_dir = tmp_path / "optuna"
    cmd = [
        sys.executable,
        str(ROOT / "train.py"),
        "phase=scene",
        "hparams_search=scene_optuna",
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.sampler.n_startup_trials=2",
        f"paths.synthetic_dir={synth_root}",
        f"paths.cache_dir={tmp_path / 'cache'}",
        f"hydra.sweep.dir={sweep_dir}",
        *TINY,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(list(sweep_dir.glob("*/metrics.json"))) == 3
    import yaml

    best = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    values = [json.loads(r.read_text())["val/ccc_mean_best"] for r in sweep_dir.glob("*/metrics.json")]
    assert best["best_value"] == pytest.approx(max(values), abs=1e-6)  # main() returned the optimised metric
