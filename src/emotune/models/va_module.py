"""Shared LightningModule for the vision phases (scene, face) and the music phase: backbone -> head -> V-A.

Hyperparameters are kept as plain data (dicts, strings, numbers) so checkpoints load with
``torch.load(weights_only=True)`` and rebuild the network without network access.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import torch
from torchmetrics import MaxMetric

from emotune.models.base import EmotuneModule, plain
from emotune.models.components.backbones import Backbone, build_backbone
from emotune.models.components.expression import ExpressionVAHead
from emotune.models.components.feature_cache import FeatureCache
from emotune.models.components.heads import UNCERTAINTIES, VAHead, beta_nll, fit_log_variance, predictive
from emotune.models.components.losses import build_loss
from emotune.utils.errors import ConfigError, check_choice, check_range
from emotune.utils.metrics import VAMetrics

log = logging.getLogger(__name__)


class VARegressor(EmotuneModule):
    """Backbone + V-A head with calibrated uncertainty. Subclasses set ``phase`` and ``input_key``."""

    phase: ClassVar[str] = "va"
    input_key: ClassVar[str] = "image"
    var_coef: torch.Tensor  # a buffer (registered in __init__)

    # Settings added after the first checkpoints were written, with the value those were trained with.
    legacy_hparams: ClassVar[dict[str, Any]] = {"flip_tta": False}

    def __init__(
        self,
        *,
        backbone: dict,
        head: dict | None,
        optimizer: dict,
        scheduler: dict | None,
        freeze_backbone: bool,
        backbone_lr_scale: float,
        loss: str,
        uncertainty: str,
        beta: float,
        ambiguity_weight: float,
        mc_samples: int,
        feature_cache: bool,
        cache_dir: str | None,
        flip_tta: bool,
        load_pretrained: bool = True,
        data_config: dict | None = None,
    ) -> None:
        """Every setting is required: ``conf/model/*.yaml`` is its one home (``model/va_base.yaml`` holds the shared
        ones); from Python, build the module from its config node. Only ``load_pretrained`` and ``data_config``,
        which code passes when restoring a checkpoint, have defaults.

        Args:
            backbone: ``{source, name, pretrained, cache_dir, input_size, ...}`` for :func:`build_backbone`.
            head: ``{kind, hidden, dropout, ...}``: ``kind: mlp`` for :class:`VAHead`, ``expression`` for
                :class:`ExpressionVAHead` (a backbone whose features are expression logits), ``auto`` picks by backbone.
            optimizer: a Hydra node (``_target_`` + kwargs) completed with the parameter groups.
            scheduler: a Hydra node completed with the optimizer, or ``None``.
            freeze_backbone: train the head only (linear probe / MLP probe).
            backbone_lr_scale: backbone learning rate as a fraction of the head's when fine-tuning.
            loss: the mean's loss with ``uncertainty=mc_dropout``: ``mse`` | ``huber`` | ``ccc``.
            uncertainty: ``mc_dropout`` (variance of dropout passes), ``heteroscedastic`` (a predicted
                variance, trained with β-NLL) or ``both`` (their sum).
            beta: the β of β-NLL for the heteroscedastic head.
            ambiguity_weight: weight of an auxiliary head that predicts the annotators' ambiguity rating (FindingEmo
                ships one per image); its prediction tells the variance calibration which inputs are hard.
                0 turns it off (data without ambiguity ratings).
            mc_samples: T, dropout head passes at validation, test and inference.
            feature_cache: with a frozen backbone, keep features per input (in memory and on disk).
            cache_dir: where the feature cache file lives.
            load_pretrained: ``False`` when restoring from a checkpoint (weights come from it).
            data_config: preprocessing saved in a checkpoint; ``None`` takes it from the backbone.
            flip_tta: features are the mean of the input's and its mirror image's (test-time augmentation; always
                for a frozen backbone, whose features are cached, else outside training).
        """
        super().__init__()
        check_range("model.mc_samples", mc_samples, 1)
        check_range("model.backbone_lr_scale", backbone_lr_scale, 0.0)
        check_range("model.beta", beta, 0.0, 1.0)
        check_range("model.ambiguity_weight", ambiguity_weight, 0.0)
        check_choice("model.uncertainty", uncertainty, UNCERTAINTIES)
        self.save_hyperparameters(
            {
                "backbone": plain(backbone),
                "head": plain(head) or {},
                "optimizer": plain(optimizer),
                "scheduler": plain(scheduler),
                "freeze_backbone": freeze_backbone,
                "backbone_lr_scale": backbone_lr_scale,
                "loss": loss,
                "uncertainty": uncertainty,
                "beta": beta,
                "ambiguity_weight": ambiguity_weight,
                "mc_samples": int(mc_samples),
                "feature_cache": feature_cache,
                "cache_dir": cache_dir,
                "load_pretrained": load_pretrained,
                "flip_tta": bool(flip_tta),
            },
            logger=False,
        )
        self.backbone = build_backbone(**self.hparams["backbone"], load_pretrained=load_pretrained)
        # Preprocessing travels with the weights (stored in the checkpoint's hparams).
        self.hparams["data_config"] = dict(data_config or self.backbone.data_config)
        self.head = _build_head(self.backbone, uncertainty != "mc_dropout", ambiguity_weight > 0, self.hparams["head"])
        self.criterion = build_loss(loss)
        if freeze_backbone:  # frozen: no gradients, and batch norm / drop-path in eval mode (Lightning keeps modes)
            self.backbone.requires_grad_(False).eval()
        # Variance calibration per dimension, fitted on the validation split each validation epoch:
        # log var' = c0 + c1 log var + c2 ambiguity (the identity until fitted).
        self.register_buffer("var_coef", torch.tensor([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]]))
        self._val_rows: list[tuple[torch.Tensor, ...]] = []
        self.train_va, self.val_va = VAMetrics(), VAMetrics()
        self.val_ccc_best = MaxMetric()
        self.cache = None
        if freeze_backbone and feature_cache and cache_dir:
            # "eval": features of the backbone in eval mode (caches from before that fix were computed in train mode)
            spec = {"backbone": self.hparams["backbone"], "data": self.hparams["data_config"], "input": self.input_key,
                    "mode": "eval", **({"flip_tta": True} if flip_tta else {})}  # fmt: skip
            self.cache = FeatureCache(cache_dir, spec)

    # ------------------------------------------------------------------ features and prediction
    @property
    def data_config(self) -> dict:
        """Input size, mean, std, interpolation of this module's backbone."""
        return dict(self.hparams["data_config"])

    @property
    def data_configs(self) -> dict[str, dict]:
        """Preprocessing per batch key, for the datamodule."""
        return {self.input_key: self.data_config}

    def train(self, mode: bool = True) -> VARegressor:
        """Frozen backbones stay in eval mode (batch-norm statistics and dropout fixed)."""
        super().train(mode)
        if self.hparams["freeze_backbone"]:
            self.backbone.eval()
        return self

    def features(self, x: torch.Tensor, keys: list[str] | None = None) -> torch.Tensor:
        """Backbone features, served from the feature cache for frozen backbones when ``keys`` are given."""
        if self.hparams["freeze_backbone"] and self.backbone.training:
            self.backbone.eval()  # a frozen backbone's features never use batch statistics or drop paths
        if self.cache is not None and keys is not None:
            return self.cache.features(x, keys, self._backbone)
        if self.hparams["freeze_backbone"]:
            with torch.no_grad():
                return self._backbone(x)
        return self._backbone(x)

    def _backbone(self, x: torch.Tensor) -> torch.Tensor:
        """The backbone, averaged over the input and its mirror image with ``flip_tta``."""
        if self.hparams.get("flip_tta") and (self.hparams["freeze_backbone"] or not self.training):
            return (self.backbone(x) + self.backbone(x.flip(-1))) / 2
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Deterministic (valence, arousal) on [-1, 1] for a batch of preprocessed inputs."""
        return self.head(self.features(x))[0]

    @torch.no_grad()
    def predict_features(
        self, feats: torch.Tensor, samples: int | None = None, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Calibrated predictive mean and variance from backbone features (``samples`` defaults to the
        checkpoint's ``mc_samples``; ``generator``: the dropout masks' source, ``None`` for torch's global one)."""
        mean, var = self._raw_predictive(feats, samples, generator)
        return mean, self.calibrate(var, self.head.ambiguity(feats))

    @torch.no_grad()
    def predict_mc(
        self, x: torch.Tensor, samples: int | None = None, keys: list[str] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Calibrated predictive mean and variance: one backbone pass, ``samples`` head passes."""
        return self.predict_features(self.features(x, keys), samples)

    def calibrate(self, var: torch.Tensor, ambiguity: torch.Tensor) -> torch.Tensor:
        """The raw predictive variance through the validation-fitted calibration."""
        return (_calibration_features(var, ambiguity) * self.var_coef).sum(-1).clamp(-12, 6).exp()

    def _raw_predictive(
        self, feats: torch.Tensor, samples: int | None, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        T = int(samples or self.hparams["mc_samples"])
        return predictive(self.head, feats, T, self.hparams["uncertainty"], generator)

    # ------------------------------------------------------------------ steps
    def model_step(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Loss, deterministic predictions and targets of a batch (from precomputed features)."""
        return self._loss(self.features(batch[self.input_key], batch.get("key")), batch["va"], batch.get("ambiguity"))

    def _loss(
        self, feats: torch.Tensor, target: torch.Tensor, ambiguity: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mean, log_var, amb_logit = self.head(feats)
        loss = (
            self.criterion(mean, target) if log_var is None else beta_nll(mean, log_var, target, self.hparams["beta"])
        )
        if amb_logit is not None and ambiguity is not None and (ambiguity >= 0).any():
            known = ambiguity >= 0
            amb_loss = torch.nn.functional.mse_loss(torch.sigmoid(amb_logit[known]), ambiguity[known])
            loss = loss + self.hparams["ambiguity_weight"] * amb_loss
        return loss, mean, target

    def on_train_start(self) -> None:
        """Forget what the sanity check saw."""
        self.val_va.reset()
        self.val_ccc_best.reset()

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        """One optimisation step."""
        loss, preds, target = self.model_step(batch)
        self.train_va.update(preds.detach(), target)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(target))
        return loss

    def on_train_epoch_end(self) -> None:
        """Log the epoch's training CCC; persist new cached features."""
        if self.train_va.count > 1:
            m = self.train_va.compute()
            self.log_dict({f"train/{k}": m[k] for k in ("valence_ccc", "arousal_ccc", "ccc_mean")})
        self.train_va.reset()
        if self.cache is not None and self.global_rank == 0:
            self.cache.save()

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        """Validation loss and metrics on the predictive mean; keep the rows the variance calibration is fitted on."""
        feats = self.features(batch[self.input_key], batch.get("key"))
        target = batch["va"]
        loss, _, _ = self._loss(feats, target, batch.get("ambiguity"))
        mean, var = self._raw_predictive(feats, None)
        self._val_rows.append((mean.cpu(), var.cpu(), self.head.ambiguity(feats).cpu(), target.cpu()))
        self.val_va.update(mean, target)
        self.log("val/loss", loss, on_epoch=True, prog_bar=False, batch_size=len(target))

    def on_validation_epoch_end(self) -> None:
        """Log validation metrics and fit the variance calibration on this epoch's validation predictions."""
        if self._val_rows:
            mean, var, amb, y = (torch.cat(t) for t in zip(*self._val_rows))
            coef = fit_log_variance(_calibration_features(var, amb), (mean - y) ** 2).to(self.var_coef)
            if self._trainer is not None and self.trainer.world_size > 1:  # each rank fitted its shard: average
                coef = self.trainer.strategy.reduce(coef, reduce_op="mean")
            self.var_coef.copy_(coef)
        self._val_rows.clear()
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
        """Calibrated predictive mean and variance per test input."""
        mean, var = self.predict_mc(batch[self.input_key], keys=batch.get("key"))
        self.collect_test(dataloader_idx, m=mean, v=var, y=batch["va"])

    def test_split_end(self, split: str, out: dict[str, torch.Tensor]) -> None:
        """This path's metrics and the constant baseline on one split."""
        self.log_split_metrics(split, out["m"], out["v"], out["y"])
        self.log_constant_baseline(split, out["y"])
        self.test_predictions[split] = (out["m"].numpy(), out["y"].numpy(), out["v"].numpy())

    # ------------------------------------------------------------------ optimisation, cache
    def param_groups(self) -> list[dict]:
        """The head at ``lr``; a trainable backbone at ``lr * backbone_lr_scale``."""
        lr = self.hparams["optimizer"].get("lr", 1e-3)
        groups = [{"params": self.head.parameters(), "lr": lr}]
        if not self.hparams["freeze_backbone"]:
            groups.append({"params": self.backbone.parameters(), "lr": lr * self.hparams["backbone_lr_scale"]})
        return groups

    def on_fit_start(self) -> None:
        """Load cached features written by earlier runs."""
        if self.cache is not None:
            self.cache.load()


HEAD_KINDS = ("auto", "mlp", "expression")


def _build_head(backbone: Backbone, heteroscedastic: bool, ambiguity: bool, spec: dict) -> VAHead | ExpressionVAHead:
    """The head ``spec["kind"]`` names on top of ``backbone``'s features (``auto``: the expression head on expression
    logits, the MLP head on any other features)."""
    spec = dict(spec)
    kind = check_choice("model.head.kind", spec.pop("kind", "auto"), HEAD_KINDS)
    if kind == "auto":
        kind = "mlp" if backbone.classes is None else "expression"
    if kind == "mlp":
        spec.pop("recalibrate", None)  # the expression head's map: an MLP head on any features has none
        return VAHead(backbone.num_features, heteroscedastic=heteroscedastic, ambiguity=ambiguity, **spec)
    if backbone.classes is None:
        raise ConfigError(
            "model.head.kind=expression needs a backbone whose features are expression logits "
            "(model/backbone=fer_minixception)."
        )
    return ExpressionVAHead(
        backbone.num_features, backbone.classes, heteroscedastic=heteroscedastic, ambiguity=ambiguity, **spec
    )


def _calibration_features(var: torch.Tensor, ambiguity: torch.Tensor) -> torch.Tensor:
    """``(B, 2, 3)``: a constant, the log raw variance, the predicted ambiguity."""
    amb = ambiguity[:, None].expand_as(var)
    return torch.stack([torch.ones_like(var), var.clamp_min(1e-8).log(), amb], -1)
