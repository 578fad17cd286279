"""OmegaConf resolvers the configs use (registered when :mod:`emotune` is imported)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf


def run_group(task_name: str) -> str:
    """W&B group: the task (``train_scene``...) for single runs, ``<task>/<sweep dir>`` inside a multirun.

    A sweep's runs then sit together on one dashboard, apart from other sweeps of the same phase.
    """
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hc = HydraConfig.get()
    except (ImportError, ValueError):  # no Hydra app running (a library call)
        return task_name
    if hc.mode == RunMode.MULTIRUN:
        return f"{task_name}/{Path(hc.sweep.dir).name}"
    return task_name


def under(base: str | None, name: str) -> str | None:
    """``base/name``, or ``None`` when ``base`` is ``None`` (an optional folder such as ``paths.real_data_dir``)."""
    return None if base is None else str(Path(base) / name)


def register() -> None:
    """Register the ``emotune.*`` OmegaConf resolvers (idempotent)."""
    if not OmegaConf.has_resolver("emotune.run_group"):
        OmegaConf.register_new_resolver("emotune.run_group", run_group)
    if not OmegaConf.has_resolver("emotune.under"):
        OmegaConf.register_new_resolver("emotune.under", under)
