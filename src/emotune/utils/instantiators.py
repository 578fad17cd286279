"""Build callbacks and loggers from their config groups (lightning-hydra-template style)."""

from __future__ import annotations

import logging

import hydra
from lightning.pytorch import Callback
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig

log = logging.getLogger(__name__)


def instantiate_callbacks(cfg: DictConfig | None) -> list[Callback]:
    out: list[Callback] = []
    for _, node in (cfg or {}).items():
        if isinstance(node, DictConfig) and "_target_" in node:
            log.info("Instantiating callback <%s>", node._target_)
            out.append(hydra.utils.instantiate(node))
    return out


def instantiate_loggers(cfg: DictConfig | None) -> list[Logger]:
    out: list[Logger] = []
    for _, node in (cfg or {}).items():
        if isinstance(node, DictConfig) and "_target_" in node:
            log.info("Instantiating logger <%s>", node._target_)
            out.append(hydra.utils.instantiate(node))
    return out
