"""Shared LightningModule for the scene and face phases: backbone -> dropout head -> (valence, arousal).

Hyperparameters are kept as plain data (dicts, strings, numbers) so checkpoints load with
``torch.load(weights_only=True)`` and rebuild the network without network access.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar

import hydra
import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf
from torchmetrics import MaxMetric

from emotune.models.components.backbones import build_backbone
from emotune.models.components.heads import VAHead, mc_dropout
from emotune.models.components.losses import build_loss
from emotune.utils.errors import check_range
from emotune.utils.io import atomic_path, file_lock
from emotune.utils.metrics import VAMetrics, sigma_error_spearman

log = logging.getLogger(__name__)


def plain(obj: Any) -> Any:
    """DictConfig/ListConfig -> plain containers (checkpoint-safe)."""
    if isinstance(obj, DictConfig) or OmegaConf.is_config(obj):
        return OmegaConf.to_container(obj, resolve=True)
    return obj


class VARegressor(L.LightningModule):
    """Backbone + V-A head. Subclasses set ``phase`` and ``input_key`` (which batch tensor they read)."""

    phase: ClassVar[str] = "va"
    input_key: ClassVar[str] = "image"

    def __init__(
        self,
        backbone: dict,
        head: dict | None = None,
        optimizer: dict | None = None,
        scheduler: dict | None = None,
        freeze_backbone: bool = False,
        backbone_lr_scale: float = 0.1,
        loss: str = "mse",
        mc_samples: int = 20,
        feature_cache: bool = True,
        cache_dir: str | None = None,
        load_pretrained: bool = True,
        data_config: dict | None = None,
    ) -> None:
        """
        Args:
            backbone: ``{source, name, pretrained, cache_dir, input_size}`` for :func:`build_backbone`.
            head: ``{hidden, dropout}`` for :class:`VAHead`.
            optimizer: a Hydra node (``_target_`` + kwargs) completed with the parameter groups.
            scheduler: a Hydra node completed with the optimizer, or ``None``.
            freeze_backbone: train the head only (linear probe / MLP probe).
            backbone_lr_scale: backbone learning rate as a fraction of the head's when fine-tuning.
            loss: ``mse`` | ``huber`` | ``ccc``.
            mc_samples: T, head passes for MC Dropout at test and inference.
            feature_cache: with a frozen backbone, keep features per image (in memory and on disk).
            cache_dir: where the feature cache file lives.
            load_pretrained: ``False`` when restoring from a checkpoint (weights come from it).
            data_config: preprocessing saved in a checkpoint; ``None`` takes it from the backbone.
        """
        super().__init__()
        check_range("model.mc_samples", mc_samples, 1)
        check_range("model.backbone_lr_scale", backbone_lr_scale, 0.0)
        self.save_hyperparameters(
            {
                "backbone": plain(backbone),
                "head": plain(head) or {},
                "optimizer": plain(optimizer),
                "scheduler": plain(scheduler),
                "freeze_backbone": freeze_backbone,
                "backbone_lr_scale": backbone_lr_scale,
                "loss": loss,
                "mc_samples": int(mc_samples),
                "feature_cache": feature_cache,
                "cache_dir": cache_dir,
                "load_pretrained": load_pretrained,
            },
            logger=False,
        )
        self.backbone = build_backbone(**self.hparams.backbone, load_pretrained=load_pretrained)
        # Preprocessing travels with the weights (stored in the checkpoint's hparams).
        self.hparams["data_config"] = dict(data_config or self.backbone.data_config)
        self.head = VAHead(self.backbone.num_features, **self.hparams.head)
        self.criterion = build_loss(loss)
        if freeze_backbone:
            self.backbone.requires_grad_(False)
        self.train_va, self.val_va = VAMetrics(), VAMetrics()
        self.val_ccc_best = MaxMetric()
        self._feat_cache: dict[str, torch.Tensor] = {}
        self._cache_dirty = False
        self._test_outputs: dict[int, list[tuple[torch.Tensor, ...]]] = {}

    # ------------------------------------------------------------------ features and prediction
    @property
    def data_config(self) -> dict:
        """Input size, mean, std, interpolation of this module's backbone."""
        return dict(self.hparams["data_config"])

    @property
    def data_configs(self) -> dict[str, dict]:
        """Preprocessing per batch key, for the datamodule."""
        return {self.input_key: self.data_config}

    @property
    def uses_feature_cache(self) -> bool:
        return bool(self.hparams.freeze_backbone and self.hparams.feature_cache)

    def train(self, mode: bool = True) -> VARegressor:
        super().train(mode)
        if self.hparams.freeze_backbone:
            self.backbone.eval()  # frozen: batch-norm statistics and dropout stay fixed
        return self

    def features(self, x: torch.Tensor, keys: list[str] | None = None) -> torch.Tensor:
        """Backbone features, served from the cache for frozen backbones when ``keys`` are given."""
        if not self.uses_feature_cache or keys is None:
            if self.hparams.freeze_backbone:
                with torch.no_grad():
                    return self.backbone(x)
            return self.backbone(x)
        missing = [i for i, k in enumerate(keys) if k not in self._feat_cache]
        if missing:
            with torch.no_grad():
                f = self.backbone(x[missing]).float().cpu()
            for j, i in enumerate(missing):
                self._feat_cache[keys[i]] = f[j]
            self._cache_dirty = True
        return torch.stack([self._feat_cache[k] for k in keys]).to(x.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Deterministic (valence, arousal) on [-1, 1] for a batch of preprocessed inputs."""
        return self.head(self.features(x))

    @torch.no_grad()
    def predict_mc(
        self, x: torch.Tensor, samples: int | None = None, keys: list[str] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """MC Dropout mean and variance: one backbone pass, ``samples`` head passes."""
        feats = self.features(x, keys)
        return mc_dropout(self.head, feats, samples or self.hparams.mc_samples)

    # ------------------------------------------------------------------ steps
    def model_step(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        preds = self.head(self.features(batch[self.input_key], batch.get("key")))
        return self.criterion(preds, batch["va"]), preds, batch["va"]

    def on_train_start(self) -> None:
        self.val_va.reset()
        self.val_ccc_best.reset()

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss, preds, target = self.model_step(batch)
        self.train_va.update(preds.detach(), target)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(target))
        return loss

    def on_train_epoch_end(self) -> None:
        if self.train_va.count > 1:
            m = self.train_va.compute()
            self.log_dict({f"train/{k}": m[k] for k in ("valence_ccc", "arousal_ccc", "ccc_mean")})
        self.train_va.reset()
        self.save_feature_cache()

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        loss, preds, target = self.model_step(batch)
        self.val_va.update(preds, target)
        self.log("val/loss", loss, on_epoch=True, prog_bar=False, batch_size=len(target))

    def on_validation_epoch_end(self) -> None:
        if self.val_va.count < 2:
            self.val_va.reset()
            return
        m = self.val_va.compute()
        self.val_va.reset()
        self.log_dict({f"val/{k}": v for k, v in m.items()})
        self.val_ccc_best(m["ccc_mean"])
        self.log("val/ccc_mean_best", self.val_ccc_best.compute(), prog_bar=True)
        self.log("val/ccc", m["ccc_mean"], prog_bar=True)

    def test_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        mean, var = self.predict_mc(batch[self.input_key], keys=batch.get("key"))
        self._test_outputs.setdefault(dataloader_idx, []).append((mean.cpu(), var.cpu(), batch["va"].cpu()))

    def on_test_epoch_end(self) -> None:
        names = test_split_names(self)
        self.test_predictions = {}
        for idx, outs in sorted(self._test_outputs.items()):
            r = gather_test_outputs(self, idx, {k: torch.cat(t) for k, t in zip(("m", "v", "y"), zip(*outs))})
            mean, var, target = r["m"], r["v"], r["y"]
            log_split_metrics(self, names[idx], mean, var, target)
            self.test_predictions[names[idx]] = (mean.numpy(), target.numpy())
        self._test_outputs.clear()

    # ------------------------------------------------------------------ optimisation
    def configure_optimizers(self) -> dict:
        lr = self.hparams.optimizer.get("lr", 1e-3)
        groups = [{"params": self.head.parameters(), "lr": lr}]
        if not self.hparams.freeze_backbone:
            groups.append({"params": self.backbone.parameters(), "lr": lr * self.hparams.backbone_lr_scale})
        return build_optimizers(self, groups)

    # ------------------------------------------------------------------ checkpoint + cache
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["emotune_phase"] = self.phase
        if getattr(self, "face_margin", None) is not None:  # the crop the face path was trained on
            checkpoint["emotune_face_margin"] = float(self.face_margin)

    def _cache_file(self) -> Path | None:
        if not self.uses_feature_cache or not self.hparams.cache_dir:
            return None
        import hashlib
        import json

        key = json.dumps(
            {"backbone": self.hparams.backbone, "data": self.hparams.data_config, "input": self.input_key},
            sort_keys=True,
        )
        return Path(self.hparams.cache_dir) / "features" / f"{hashlib.sha1(key.encode()).hexdigest()[:16]}.pt"

    def on_fit_start(self) -> None:
        path = self._cache_file()
        if path is not None and path.is_file():
            with file_lock(path):
                self._feat_cache.update(torch.load(path, map_location="cpu", weights_only=True))
            log.info("Feature cache: %d entries from %s", len(self._feat_cache), path)

    def save_feature_cache(self) -> None:
        """Merge this process's new features into the cache file (rank zero, locked, atomic)."""
        path = self._cache_file()
        if path is None or not self._cache_dirty or self.global_rank != 0:
            return
        with file_lock(path):
            merged = torch.load(path, map_location="cpu", weights_only=True) if path.is_file() else {}
            merged.update(self._feat_cache)
            with atomic_path(path) as tmp:
                torch.save(merged, tmp)
        self._cache_dirty = False


def build_optimizers(module: L.LightningModule, groups: list[dict]) -> dict:
    """Instantiate ``hparams.optimizer`` over ``groups`` and the optional ``hparams.scheduler``."""
    opt_cfg = dict(module.hparams.optimizer)
    opt_cfg.pop("_partial_", None)
    optimizer = hydra.utils.instantiate(opt_cfg, _partial_=True)(params=groups)
    sched_cfg = module.hparams.get("scheduler")
    if not sched_cfg:
        return {"optimizer": optimizer}
    sched_cfg = dict(sched_cfg)
    monitor = sched_cfg.pop("monitor", "val/loss")
    interval = sched_cfg.pop("interval", "epoch")
    sched_cfg.pop("_partial_", None)
    scheduler = hydra.utils.instantiate(sched_cfg, _partial_=True)(optimizer=optimizer)
    return {
        "optimizer": optimizer,
        "lr_scheduler": {"scheduler": scheduler, "monitor": monitor, "interval": interval, "frequency": 1},
    }


def test_split_names(module: L.LightningModule) -> list[str]:
    """Names of the test dataloaders (``test``, ``test_shifted``...) from the datamodule."""
    dm = getattr(module.trainer, "datamodule", None)
    names = list(getattr(dm, "test_split_names", []) or [])
    return names or ["test"]


def gather_test_outputs(
    module: L.LightningModule, dataloader_idx: int, tensors: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Every rank's test outputs, in dataset order, each sample once (DDP pads the last ranks' shards).

    ``DistributedSampler`` (no shuffle) gives rank ``r`` samples ``r, r + W, ...``; gathering and
    interleaving restores the order, and the padding beyond the dataset's length is dropped.
    """
    trainer = getattr(module, "_trainer", None)
    world = trainer.world_size if trainer is not None else 1
    if world <= 1:
        return tensors
    loaders = trainer.test_dataloaders
    loader = loaders[dataloader_idx] if isinstance(loaders, (list, tuple)) else loaders
    n_total = len(loader.dataset)
    out = {}
    for k, t in tensors.items():
        g = module.all_gather(t.to(module.device))  # (world, n_per_rank, ...)
        out[k] = g.transpose(0, 1).reshape(-1, *t.shape[1:])[:n_total].cpu()
    return out


def log_split_metrics(
    module: L.LightningModule,
    split: str,
    mean: torch.Tensor,
    var: torch.Tensor,
    target: torch.Tensor,
    prefix: str = "",
) -> dict[str, float]:
    """Compute metrics (+ sigma-vs-error Spearman) on one split and log them as ``split/prefix...``."""
    metrics = VAMetrics(spearman=True, sync=False)  # inputs are already gathered across ranks
    metrics.update(mean, target)
    m = metrics.compute() if len(target) > 2 else {}
    m.update(sigma_error_spearman(var, mean, target))
    m["n"] = float(len(target))
    module.log_dict({f"{split}/{prefix}{k}": v for k, v in m.items()}, add_dataloader_idx=False)
    return m
