"""What every emotune LightningModule shares: the phase tag in checkpoints, optimizers from Hydra nodes,
test outputs gathered across ranks in dataset order, per-split metrics and the constant baseline."""

from __future__ import annotations

import functools
import warnings
from typing import Any, ClassVar, Protocol, cast, runtime_checkable

import hydra
import lightning as L
import numpy as np
import torch
from lightning.pytorch.utilities.types import OptimizerLRScheduler
from omegaconf import DictConfig, OmegaConf

from emotune.utils.errors import ConfigError
from emotune.utils.metrics import VAMetrics, uncertainty_metrics
from emotune.utils.scales import FINDINGEMO, VAScale


def plain(obj: Any) -> Any:
    """DictConfig/ListConfig -> plain containers (checkpoint-safe)."""
    if isinstance(obj, DictConfig) or OmegaConf.is_config(obj):
        return OmegaConf.to_container(obj, resolve=True)
    return obj


def partial_node(node: Any, key: str) -> functools.partial:
    """``node`` instantiated; it must be a ``_partial_: true`` node (code passes what it lacks: parameters, the
    optimizer)."""
    built = hydra.utils.instantiate(node)
    if not isinstance(built, functools.partial):
        raise ConfigError(f"model.{key} must be a _partial_: true node (code completes it); conf/model/ has it.")
    return built


class EmotuneModule(L.LightningModule):
    """Base of the scene, face, fusion and music modules.

    Subclasses set ``phase``, return their parameter groups from :meth:`param_groups`, call
    :meth:`collect_test` from ``test_step`` and log a split's metrics in :meth:`test_split_end`.
    """

    phase: ClassVar[str] = "base"
    label_scale: ClassVar[VAScale] = FINDINGEMO  # the labels' own scale (plots)
    # Constructor settings added after the first checkpoints were written -> the value those checkpoints were
    # trained with: a saved module that lacks one is rebuilt with it (:meth:`restore_kwargs`).
    legacy_hparams: ClassVar[dict[str, Any]] = {}

    def __init__(self) -> None:
        super().__init__()
        self._test_outputs: dict[int, list[dict[str, torch.Tensor]]] = {}
        self.test_predictions: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # (mean, target, var)

    # ------------------------------------------------------------------ optimisation
    def param_groups(self) -> list[dict]:
        """``[{"params": ..., "lr": ...}, ...]`` for the optimizer."""
        raise NotImplementedError

    def configure_optimizers(self) -> OptimizerLRScheduler:
        """Complete ``hparams.optimizer`` (a ``_partial_: true`` node) with :meth:`param_groups`, and the optional
        ``hparams.scheduler`` with the optimizer."""
        optimizer = partial_node(self.hparams["optimizer"], "optimizer")(params=self.param_groups())
        sched_cfg = self.hparams.get("scheduler")
        if not sched_cfg:
            return {"optimizer": optimizer}
        sched_cfg = dict(sched_cfg)
        monitor = sched_cfg.pop("monitor", "val/loss")
        interval = sched_cfg.pop("interval", "epoch")
        scheduler = partial_node(sched_cfg, "scheduler")(optimizer=optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "monitor": monitor, "interval": interval, "frequency": 1},
        }

    # ------------------------------------------------------------------ checkpoints
    @classmethod
    def restore_kwargs(cls, hparams: dict[str, Any]) -> dict[str, Any]:
        """The constructor's settings for a saved module: its ``hparams``, completed with the
        :attr:`legacy_hparams` it predates (the constructor has no defaults for settings a config sets)."""
        return {**{k: v for k, v in cls.legacy_hparams.items() if k not in hparams}, **hparams}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Tag the checkpoint with its phase (loading checks it)."""
        checkpoint["emotune_phase"] = self.phase

    # ------------------------------------------------------------------ test
    def collect_test(self, dataloader_idx: int, **tensors: torch.Tensor) -> None:
        """Keep one test batch's tensors (on CPU) for :meth:`test_split_end`."""
        rec = {k: t.detach().cpu() for k, t in tensors.items()}
        self._test_outputs.setdefault(dataloader_idx, []).append(rec)

    def test_split_end(self, split: str, out: dict[str, torch.Tensor]) -> None:
        """Log one test split's metrics from its gathered tensors."""
        raise NotImplementedError

    def on_test_epoch_end(self) -> None:
        """Gather each split's outputs across ranks (dataset order) and hand them to :meth:`test_split_end`."""
        names = test_split_names(self)
        self.test_predictions = {}
        for idx, outs in sorted(self._test_outputs.items()):
            cat = {k: torch.cat([o[k] for o in outs]) for k in outs[0]}
            self.test_split_end(names[idx], gather_test_outputs(self, idx, cat))
        self._test_outputs.clear()

    def log_split_metrics(
        self, split: str, mean: torch.Tensor, var: torch.Tensor, target: torch.Tensor, prefix: str = ""
    ) -> dict[str, float]:
        """Accuracy and uncertainty metrics of one path on one split, logged as ``split/prefix<dim>_<metric>``."""
        metrics = VAMetrics(spearman=True, sync=False)  # inputs are already gathered across ranks
        metrics.update(mean, target)
        with warnings.catch_warnings():  # a constant prediction has no correlation: NaN, said once in the docs
            warnings.simplefilter("ignore")
            m = metrics.compute() if len(target) > 2 else {}
            m.update(uncertainty_metrics(var, mean, target))
        for i, d in enumerate(("valence", "arousal")):
            if len(target) > 2 and float(mean[:, i].std()) < 1e-9:
                m[f"{d}_ccc"] = 0.0  # concordance of a constant is defined (0) even where Pearson is not
        m["n"] = float(len(target))
        self.log_dict({f"{split}/{prefix}{k}": v for k, v in m.items()}, add_dataloader_idx=False)
        return m

    def log_constant_baseline(self, split: str, target: torch.Tensor) -> None:
        """The ``constant`` path: every prediction is the training labels' mean (variance: their variance)."""
        moments = label_moments(self)
        if moments is None:
            return
        mean, var = moments
        n = len(target)
        self.log_split_metrics(split, mean.expand(n, 2), var.expand(n, 2), target, prefix="constant/")


@runtime_checkable
class LabelledData(Protocol):
    """What the modules read from their datamodule (every emotune datamodule provides it)."""

    test_split_names: list[str]  # the test dataloaders' names, in order (``test``, ``test_shifted`` ...)

    def train_label_moments(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and variance of the training labels ``(2,)`` each, on the reference scale."""


def _labelled_data(module: L.LightningModule) -> LabelledData | None:
    trainer = getattr(module, "_trainer", None)  # a module outside a Trainer (tests, notebooks) has none
    dm = trainer.datamodule if trainer is not None else None
    return dm if isinstance(dm, LabelledData) else None


def label_moments(module: L.LightningModule) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Mean and variance of the training labels, from the datamodule (``None`` without one)."""
    dm = _labelled_data(module)
    return dm.train_label_moments() if dm is not None else None


def test_split_names(module: L.LightningModule) -> list[str]:
    """Names of the test dataloaders (``test``, ``test_shifted``...) from the datamodule."""
    dm = _labelled_data(module)
    return list(dm.test_split_names) if dm is not None and dm.test_split_names else ["test"]


def gather_test_outputs(
    module: L.LightningModule, dataloader_idx: int, tensors: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Every rank's test outputs, in dataset order, each sample once (DDP pads the last ranks' shards).

    ``DistributedSampler`` (no shuffle) gives rank ``r`` samples ``r, r + W, ...``; gathering and
    interleaving restores the order, and the padding beyond the dataset's length is dropped.
    """
    trainer = getattr(module, "_trainer", None)
    if trainer is None or trainer.world_size <= 1:
        return tensors
    loaders = trainer.test_dataloaders
    loader = loaders[dataloader_idx] if isinstance(loaders, list | tuple) else loaders
    n_total = len(loader.dataset)
    out = {}
    for k, t in tensors.items():
        g = cast(torch.Tensor, module.all_gather(t.to(module.device)))  # (world, n_per_rank, ...)
        out[k] = g.transpose(0, 1).reshape(-1, *t.shape[1:])[:n_total].cpu()
    return out
