"""Compose ``conf/`` from Python (reports, benches, tests) the way ``train.py``/``infer.py`` would."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import hydra
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from omegaconf import DictConfig, open_dict

from emotune.detect.detectors import FaceDetector
from emotune.utils.errors import ConfigError, EmotuneError


def repo_root() -> Path:
    """The checkout: ``$EMOTUNE_ROOT``, else the folder above ``src/``."""
    env = os.environ.get("EMOTUNE_ROOT")
    return Path(env) if env else Path(__file__).resolve().parents[3]


def compose_config(config_name: str, overrides: Sequence[str], output_dir: str | Path) -> DictConfig:
    """Compose ``conf/<config_name>.yaml`` with ``overrides`` and run it in ``output_dir``.

    Sets the Hydra runtime (so ``${hydra:...}`` resolves) exactly as a command-line run would.
    """
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(repo_root() / "conf")):
        try:
            cfg = compose(config_name=config_name, overrides=list(overrides), return_hydra_config=True)
        except HydraException as exc:  # a malformed or unknown override: one line, like the Hydra CLI
            raise ConfigError(
                f"{str(exc).splitlines()[0]} (conf/{config_name}.yaml and its groups list the keys)."
            ) from None
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
        cfg.hydra.runtime.output_dir = str(output_dir)
    HydraConfig().set_config(cfg)
    return cfg


def build_detector(name: str, out: Path, *overrides: str) -> FaceDetector | str:
    """``conf/detector/<name>.yaml`` as ``infer.py`` builds it, or why it cannot be built here (one line)."""
    cfg = compose_config("infer", [f"detector={name}", "video=x", *overrides], out)
    try:
        return hydra.utils.instantiate(cfg.detector)
    except Exception as exc:  # Hydra wraps the detector's own one-line error
        cause: BaseException = exc
        while cause.__cause__ is not None and not isinstance(cause, EmotuneError):
            cause = cause.__cause__
        return str(cause).splitlines()[0]
