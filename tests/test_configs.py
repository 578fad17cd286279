"""Every option of every config group composes (train, infer, eval, bench), and what can be built is built
(that each node's keys match what it builds, and that no setting has two homes: tests/test_config_homes.py)."""

from __future__ import annotations

from pathlib import Path

import hydra
import pytest
from omegaconf import OmegaConf

from emotune.runtime.compose import compose_config
from emotune.utils.errors import EmotuneError

from .conftest import ROOT

CONF = ROOT / "conf"


def options(group: str) -> list[str]:
    """The options of a config group: its YAML files."""
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def resolve(cfg) -> dict:
    """Resolve every interpolation of the job's config (not Hydra's own node)."""
    return OmegaConf.to_container(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]), resolve=True)


def experiment_phase(name: str) -> str:
    """Experiments are named after their phase (``scene_clip_linear``; ``bench_scene_...`` times the scene phase)."""
    return next(p for p in ("scene", "face", "fusion", "music") if p in name)


def test_groups_are_not_empty() -> None:
    for group in (
        "phase",
        "model",
        "model/backbone",
        "data",
        "detector",
        "trainer",
        "callbacks",
        "logger",
        "experiment",
        "debug",
        "perceive",
        "stabilizer",
        "matcher",
        "catalog",
        "hparams_search",
    ):
        assert options(group), group


def test_every_train_option_composes_and_builds(synth_root: Path, tmp_path: Path) -> None:
    base = [f"paths.synthetic_dir={synth_root}", f"paths.cache_dir={tmp_path / 'cache'}"]
    built = 0
    for group in (
        "phase",
        "data",
        "detector",
        "model/backbone",
        "trainer",
        "callbacks",
        "logger",
        "debug",
        "extras",
        "hparams_search",
        "experiment",
    ):
        for opt in options(group):
            phase = experiment_phase(opt) if group == "experiment" else "face" if group == "detector" else "scene"
            if group == "phase":
                phase = opt
            if group == "data" and opt.endswith("audio"):
                phase = "music"
            cfg = compose_config("train", [*base, f"phase={phase}", f"{group}={opt}"], tmp_path / "run")
            resolve(cfg)  # every interpolation resolves
            if group == "detector":
                try:
                    hydra.utils.instantiate(cfg.detector)
                    built += 1
                except Exception as exc:  # offline weights: a one-line error naming what to fetch
                    cause = exc.__cause__ or exc
                    assert isinstance(cause, EmotuneError) and "weights not found" in str(cause), (opt, exc)
            elif group in ("callbacks", "logger") and opt != "wandb" and opt != "many":
                for node in cfg.get(group.split("/")[0]).values():
                    hydra.utils.instantiate(node)
                    built += 1
            elif group == "data" and opt in ("synthetic", "synthetic_audio"):
                hydra.utils.instantiate(cfg.data, _recursive_=False)
                built += 1
    assert built >= 6


def test_every_infer_option_composes_and_builds(synth_root: Path, tmp_path: Path) -> None:
    base = [f"paths.synthetic_dir={synth_root}", f"paths.cache_dir={tmp_path / 'cache'}", "video=x.mp4"]
    for group in ("stabilizer", "matcher", "perceive", "catalog", "detector"):
        for opt in options(group):
            extra = [f"catalog.path={tmp_path / 'songs.csv'}"] if (group, opt) == ("catalog", "csv") else []
            cfg = compose_config("infer", [*base, f"{group}={opt}", *extra], tmp_path / "run")
            resolve(cfg)
            if group == "stabilizer":
                hydra.utils.instantiate(cfg.stabilizer).reset()
            if group == "matcher":
                m = hydra.utils.instantiate(cfg.matcher)
                assert len(m.catalog) == 300 and m.n_stations >= 1
            if (group, opt) == ("catalog", "synthetic"):
                assert len(hydra.utils.instantiate(cfg.catalog)) == 300
    cfg = compose_config("infer", base, tmp_path / "run")
    assert cfg.pipeline.perceiver == cfg.perceive and cfg.pipeline.matcher == cfg.matcher  # one chain, one home


@pytest.mark.parametrize("app", ["eval_scenarios", "bench"])
def test_eval_and_bench_settings_compose(app: str, tmp_path: Path) -> None:
    cfg = compose_config(app, [], tmp_path)
    resolve(cfg)
    assert Path(cfg.demo).name == "demo"
