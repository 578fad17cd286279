"""Every option of every config group composes (train, infer, eval, bench), and what can be built is built
(that each node's keys match what it builds, and that no setting has two homes: tests/test_config_homes.py)."""

from __future__ import annotations

from pathlib import Path

import hydra
import pytest
import torch
from omegaconf import OmegaConf

from emotune.runtime.compose import compose_config
from emotune.utils.errors import EmotuneError

from .conftest import ROOT

CONF = ROOT / "conf"


def options(group: str) -> list[str]:
    """The options of a config group: its YAML files (but a ``*_base`` the others pull in: not an option alone)."""
    return sorted(p.stem for p in (CONF / group).glob("*.yaml") if not p.stem.endswith("_base"))


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


# -- config hygiene (issue 32): a base per kind of data set, no two options alike, _partial_ written in YAML --------
def test_data_sets_inherit_a_base_not_each_other() -> None:
    for opt in options("data"):
        parents = [d for d in OmegaConf.load(CONF / "data" / f"{opt}.yaml").get("defaults", []) if d != "_self_"]
        assert parents in (["image_base"], ["audio_base"]), (opt, parents)


def test_no_two_trainer_options_are_the_same(tmp_path: Path) -> None:
    composed = {
        opt: resolve(compose_config("train", [f"trainer={opt}"], tmp_path))["trainer"] for opt in options("trainer")
    }
    same = [(a, b) for a in composed for b in composed if a < b and composed[a] == composed[b]]
    assert len(composed) >= 4 and not same, same


@pytest.mark.parametrize("phase", ["scene", "face", "fusion", "music"])
def test_optimizer_and_scheduler_nodes_are_partial_in_yaml(phase: str, tmp_path: Path) -> None:
    from emotune.models.base import partial_node

    model = resolve(compose_config("train", [f"phase={phase}"], tmp_path))["model"]
    for key in ("optimizer", "scheduler"):
        if model.get(key):
            assert model[key]["_partial_"] is True, (phase, key)
            assert partial_node(model[key], key).func.__module__.startswith("torch.optim")


def test_a_node_without_partial_is_a_config_error() -> None:
    from emotune.models.base import partial_node
    from emotune.utils.errors import ConfigError

    with pytest.raises(ConfigError, match=r"model\.optimizer must be a _partial_: true node"):
        partial_node(
            {"_target_": "torch.optim.SGD", "lr": 0.1, "params": [torch.zeros(1, requires_grad=True)]}, "optimizer"
        )


def test_the_detector_list_is_conf_detectors() -> None:
    from emotune.data.va_datamodule import DETECTOR_OPTIONS

    assert sorted(DETECTOR_OPTIONS) == options("detector")
