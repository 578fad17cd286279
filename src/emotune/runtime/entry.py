"""What the Hydra entry points run: extras, the task, one-line user errors, W&B cleanup."""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Callable
from typing import TypeVar

from omegaconf import DictConfig, OmegaConf

from emotune.utils.cli import exit_on_user_error
from emotune.utils.process import start_up
from emotune.utils.warnings_filter import filter_known_noise

log = logging.getLogger("emotune")
T = TypeVar("T")


def _extras(cfg: DictConfig) -> None:
    """The run's start-up: process-wide settings (:func:`emotune.utils.process.start_up`), warnings, the config."""
    extras = cfg.get("extras") or {}
    start_up(extras.get("torch_threads"), "extras.torch_threads")
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
    """Start up (:func:`_extras`), then run a task, both through the shared one-line-error wrapper; always close a
    W&B run."""

    def task(c: DictConfig) -> T:
        _extras(c)
        return fn(c)

    try:
        return exit_on_user_error(task)(cfg)
    finally:
        _finish_wandb()


def run_train(cfg: DictConfig) -> float | None:
    """``train.py``'s body: returns the optimised metric for sweepers."""
    from emotune.runtime.train import train

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

    _guard(infer, cfg)
