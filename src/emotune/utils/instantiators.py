"""Build callbacks and loggers from their config groups (lightning-hydra-template style)."""

from __future__ import annotations

import logging
from typing import Any

import hydra
from lightning.pytorch import Callback
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig

log = logging.getLogger(__name__)


def instantiate(node: DictConfig, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate`` that re-raises a user error from inside the object (a value out of range,
    a missing file) as itself, so callers and the entry points see one clear line, not Hydra's wrapper."""
    from emotune.utils.cli import user_error

    try:
        return hydra.utils.instantiate(node, **kwargs)
    except Exception as exc:
        err = user_error(exc)
        if err is None or err is exc:
            raise
        raise err from None


def instantiate_callbacks(cfg: DictConfig | None) -> list[Callback]:
    """Every ``_target_`` node of the callbacks group, built."""
    out: list[Callback] = []
    for _, node in (cfg or {}).items():
        if isinstance(node, DictConfig) and "_target_" in node:
            log.info("Instantiating callback <%s>", node._target_)
            out.append(hydra.utils.instantiate(node))
    return out


def instantiate_loggers(cfg: DictConfig | None) -> list[Logger]:
    """Every ``_target_`` node of the logger group, built."""
    out: list[Logger] = []
    for _, node in (cfg or {}).items():
        if isinstance(node, DictConfig) and "_target_" in node:
            log.info("Instantiating logger <%s>", node._target_)
            out.append(hydra.utils.instantiate(node))
    return out
