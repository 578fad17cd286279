"""Slow: scale-out on existing engines (Lightning DDP on CPU with gloo, Hydra's submitit launcher)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from emotune.models.loading import best_checkpoint

from .conftest import ROOT

# Same global batch in both runs: 1 process x 8, or 2 processes x 4.
COMMON = [
    "phase=face",
    "trainer.max_epochs=3",
    "+trainer.limit_val_batches=2",
    "extras.print_config=false",
    "model.mc_samples=4",
    "trainer.log_every_n_steps=1",
    "logger=csv",
]


def _train(tmp_path: Path, synth_root: Path, name: str, *extra: str) -> dict[str, float]:
    run = tmp_path / name
    cmd = [
        sys.executable,
        str(ROOT / "train.py"),
        *COMMON,
        f"paths.synthetic_dir={synth_root}",
        f"paths.cache_dir={tmp_path / 'cache'}",
        f"hydra.run.dir={run}",
        *extra,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "train=false" in extra or best_checkpoint(run).is_file()
    return json.loads((run / "metrics.json").read_text())


@pytest.mark.slow
def test_ddp_cpu_two_processes_test_what_one_does(tmp_path: Path, synth_root: Path) -> None:
    """Testing identical weights (a trained default face model, heads deterministic) with two gloo processes gives
    one process's metrics to 1e-4: the all-gather counts every test image once. Rank zero alone writes."""
    _train(tmp_path, synth_root, "default", "data.batch_size=8")
    same_weights = ["train=false", f"ckpt_path={best_checkpoint(tmp_path / 'default')}", "model.head.dropout=0"]
    # Same per-process batch here: same arithmetic per forward, so only the gathering is under test.
    single0 = _train(tmp_path, synth_root, "single0", *same_weights, "data.batch_size=4")
    ddp0 = _train(tmp_path, synth_root, "ddp0", *same_weights, "trainer=ddp_cpu", "data.batch_size=4")
    assert ddp0["test/n"] == single0["test/n"]  # every test image counted once, none twice
    for key in ("test/valence_mae_ref", "test/arousal_mae_ref", "test/valence_ccc"):
        assert ddp0[key] == pytest.approx(single0[key], abs=1e-4), key
    ddp = _train(tmp_path, synth_root, "ddp", "trainer=ddp_cpu", "data.batch_size=4")
    assert ddp["test/n"] == single0["test/n"]
    # Written once, by rank zero: one metrics.json, one csv log, one last.ckpt.
    assert len(list((tmp_path / "ddp").rglob("metrics.json"))) == 1
    assert len(list((tmp_path / "ddp").rglob("last.ckpt"))) == 1


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="open: one SGD or AdamW step on the same 8 training images (split order, no augmentation or colour jitter, "
    "no dropout, no batch norm) as one batch of 8 or two of 4 gives test MAE 0.455/0.741 vs 0.550/0.594 (valence/"
    "arousal); with lr=0 both equal to the digit, so the initial weights agree and the step differs; cause not found",
)
def test_ddp_cpu_one_step_equals_one_process(tmp_path: Path, synth_root: Path) -> None:
    """One optimizer step of 2 processes x 4 images equals one of 1 process x 8 (the averaged gradient is the whole
    batch's up to float rounding)."""
    one_step = ["model/backbone=test_convnext_face", "model.head.kind=mlp", "model.head.dropout=0", "data.augment=false",
                "data.shuffle=false", "data.face_color_jitter=0", "trainer.max_epochs=1",
                "+trainer.limit_train_batches=1"]  # fmt: skip
    single = _train(tmp_path, synth_root, "single", *one_step, "data.batch_size=8")
    ddp = _train(tmp_path, synth_root, "ddp", *one_step, "trainer=ddp_cpu", "data.batch_size=4")
    for key in ("test/valence_mae_ref", "test/arousal_mae_ref"):
        assert ddp[key] == pytest.approx(single[key], abs=1e-3), (key, ddp[key], single[key])


def test_slurm_launcher_configs_compose(tmp_path: Path) -> None:
    """`--cfg hydra` shows the launcher settings; slurm_ddp sizes the allocation from the trainer."""
    from emotune.runtime.compose import compose_config

    cfg = compose_config("train", ["hydra/launcher=slurm", "hydra.launcher.partition=gpu"], tmp_path)
    la = cfg.hydra.launcher
    assert la._target_.endswith("SlurmLauncher") and la.partition == "gpu" and la.gpus_per_node == 1
    assert la.timeout_min == 720 and la.max_num_timeout == 3
    cfg = compose_config(
        "train",
        ["hydra/launcher=slurm_ddp", "trainer=ddp", "trainer.devices=4", "trainer.num_nodes=2"],
        tmp_path,
    )
    la = cfg.hydra.launcher
    assert (la.gpus_per_node, la.tasks_per_node, la.nodes) == (4, 4, 2)
    cfg = compose_config("infer", ["video=x.mp4", "hydra/launcher=slurm"], tmp_path)
    assert cfg.hydra.launcher.partition is None


@pytest.mark.slow
def test_submitit_local_launcher_runs_a_sweep(tmp_path: Path, synth_root: Path) -> None:
    from .conftest import TINY

    sweep = tmp_path / "sweep"
    cmd = [
        sys.executable,
        str(ROOT / "train.py"),
        "-m",
        "hydra/launcher=submitit_local",
        "phase=scene",
        "model.optimizer.lr=1e-3,3e-3",
        "hydra.launcher.timeout_min=20",
        f"paths.synthetic_dir={synth_root}",
        f"paths.cache_dir={tmp_path / 'cache'}",
        f"hydra.sweep.dir={sweep}",
        *TINY,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    runs = sorted(sweep.glob("*/metrics.json"))
    assert len(runs) == 2 and list((sweep / ".submitit").iterdir())  # really went through submitit
    for r in runs:
        assert "test/valence_ccc" in json.loads(r.read_text())
