"""Loggers: W&B offline (metrics, config, prediction plot, group and tags) and TensorBoard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emotune.runtime.entry import _finish_wandb
from emotune.runtime.train import train


def test_wandb_offline_logs_metrics_config_and_plot(make_cfg, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = make_cfg("phase=scene", "logger=wandb", "tags=[scene,unit]")
    try:
        train(cfg)
        import wandb

        run = wandb.run
        assert run is not None and run.offline
        assert run.group == "train_scene" and set(run.tags) == {"scene", "unit"}
        assert run.config["model"]["optimizer"]["lr"] == cfg.model.optimizer.lr  # the config is logged
        assert "test/valence_ccc" in run.summary.keys()  # noqa: SIM118 (wandb Summary: `in` iterates by index)
        run_dir = Path(run.dir)
    finally:
        _finish_wandb()
    offline = list((Path(cfg.paths.output_dir) / "wandb").glob("offline-run-*"))
    assert offline, "no offline run directory"
    assert list(offline[0].glob("run-*.wandb")), "no run log"
    pngs = list(run_dir.glob("media/images/test/predictions*.png"))
    assert pngs, f"prediction scatter not logged under {run_dir}"


def test_tensorboard_writes_events(make_cfg) -> None:
    cfg = make_cfg("phase=scene", "logger=tensorboard")
    train(cfg)
    events = list((Path(cfg.paths.output_dir) / "tensorboard").rglob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0
    assert "val/ccc_mean" in json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())


def test_wandb_group_is_per_sweep_in_multirun(make_cfg) -> None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import read_write

    from emotune.utils.resolvers import run_group

    cfg = make_cfg("phase=face", "logger=wandb")
    assert cfg.logger.wandb.group == "train_face"
    with read_write(cfg.hydra):
        cfg.hydra.mode = RunMode.MULTIRUN
        cfg.hydra.sweep.dir = "/x/multiruns/2026-01-02_03-04-05"
    HydraConfig().set_config(cfg)
    assert run_group("train_face") == "train_face/2026-01-02_03-04-05"
