"""Bad settings through the real entry points (``emotune.runtime.entry``) and the CLI: one ``error:`` line naming the
key and its valid range, before any work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from emotune.runtime.entry import run_infer, run_train

from .conftest import ROOT, infer_overrides
from .helpers.entry import expect_user_error, no_outputs


@pytest.mark.parametrize(
    "override, needles",
    [
        ("stabilizer.alpha=0", ["stabilizer.alpha=0", "(0.0, 1.0]"]),
        ("stabilizer.alpha=1.5", ["stabilizer.alpha=1.5", "(0.0, 1.0]"]),
        ("matcher.min_dwell_s=-3", ["matcher.min_dwell_s=-3", "[0.0, inf]"]),
        ("perceive.fps=0", ["perceive.fps=0", "(0.0, 60.0]"]),
        ("stabilizer.tau=-1", ["stabilizer.tau=-1", "[0.0, inf]"]),
        ("perceive.mc_samples=0", ["perceive.mc_samples=0", "[1"]),
    ],
)
def test_bad_infer_config_stops_before_work(
    make_cfg, scene_only_set: Path, synth_root: Path, capsys, override: str, needles: list[str]
) -> None:
    cfg = make_cfg(*infer_overrides(scene_only_set, synth_root / "videos" / "clip.mp4", override), config_name="infer")
    expect_user_error(capsys, run_infer, cfg, *needles)
    assert no_outputs(Path(cfg.paths.output_dir))


@pytest.mark.parametrize(
    "override, needles",
    [
        ("model.backbone.name=resnet_does_not_exist", ["resnet_does_not_exist"]),
        ("model.backbone.source=keras", ["keras", "timm"]),
        ("model.mc_samples=0", ["mc_samples"]),
    ],
)
def test_bad_train_config(make_cfg, capsys, override: str, needles: list[str]) -> None:
    cfg = make_cfg("phase=scene", override)
    expect_user_error(capsys, run_train, cfg, *needles)
    assert not (Path(cfg.paths.output_dir) / "metrics.json").exists()


def test_unknown_detector_through_the_cli(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "train.py"),
            "phase=face",
            "detector=dlib",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "detector/dlib" in proc.stderr and "mtcnn" in proc.stderr  # Hydra lists the valid choices
    assert "Traceback" not in proc.stderr and not (tmp_path / "run" / "metrics.json").exists()
