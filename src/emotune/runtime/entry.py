"""What the Hydra entry points run: extras, the task, one-line user errors, W&B cleanup."""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Callable
from typing import TypeVar

from omegaconf import DictConfig, OmegaConf

from emotune.utils.cli import exit_on_user_error
from emotune.utils.warnings_filter import filter_known_noise

log = logging.getLogger("emotune")
T = TypeVar("T")


def _extras(cfg: DictConfig) -> None:
    extras = cfg.get("extras") or {}
    filter_known_noise()
    if extras.get("ignore_warnings"):
        warnings.filterwarnings("ignore")
    if extras.get("print_config"):
        log.info("Config:\n%s", OmegaConf.to_yaml(cfg, resolve=False))


def _finish_wandb() -> None:
    if "wandb" in sys.modules:
        import wandb

        if wandb.run is not None:
            wandb.finish()


def _guard(fn: Callable[[DictConfig], T], cfg: DictConfig) -> T:
    """Run a task through the shared one-line-error wrapper; always close a W&B run."""
    try:
        return exit_on_user_error(fn)(cfg)
    finally:
        _finish_wandb()


def run_train(cfg: DictConfig) -> float | None:
    """``train.py``'s body: returns the optimised metric for sweepers."""
    from emotune.runtime.train import train

    _extras(cfg)
    metrics, _ = _guard(train, cfg)
    name = cfg.get("optimized_metric")
    if name and name in metrics:
        return metrics[name]
    if name:
        log.warning("optimized_metric=%s not found among %d metrics.", name, len(metrics))
    return None


def run_infer(cfg: DictConfig) -> None:
    """``infer.py``'s body."""
    from emotune.runtime.infer import infer

    _extras(cfg)
    _guard(infer, cfg)
