"""Phase 2: fusion of the frozen scene and face models.

The two trained phases are loaded from their checkpoints (their hyperparameters are copied into this
module's, so a fusion checkpoint alone rebuilds all three). Each path's variance is already calibrated
on val by its own phase. Fitted here, on ``val`` (the phase's training split): what each path's output
says about the label (:class:`MeasurementModel`: a path's mean is a shrunk reading of the label; inverted,
it is a measurement that inverse-variance weighting can combine with the other path and the labels'
prior), the conflict model of the ``robust`` method (how far the paths may disagree before the scene
stops being trusted, see :func:`fit_conflict_model`), the learned linear weights (gradient steps), and a
variance scale per method so each fused σ matches its error. Every method is evaluated side by side with each single path and the
constant baseline; ``method`` picks the one logged without a prefix and used by ``infer.py``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from emotune.models.base import EmotuneModule, plain
from emotune.models.components.fusion import (
    FUSION_METHODS,
    LinearFusion,
    MeasurementModel,
    PathEstimates,
    VarianceModel,
    conflict_aware,
    disagreement,
    fit_conflict_model,
    fixed,
    inverse_variance,
)
from emotune.models.components.losses import build_loss
from emotune.models.face_module import FaceLitModule
from emotune.models.loading import load_phase_module
from emotune.models.scene_module import SceneLitModule
from emotune.utils.errors import check_choice, check_range
from emotune.utils.metrics import VAMetrics

PATH_PREFIXES = ("scene", "face", *FUSION_METHODS)
MIN_GATE_ROWS = 8  # fewer val rows with (or without) a face: that side's threshold is taken from all rows


def gate_thresholds(sigma: torch.Tensor, has_face: torch.Tensor, q: float) -> torch.Tensor:
    """The ``q`` quantile of ``sigma`` on rows with a face and on rows without (all rows when a side is rare)."""
    every = torch.quantile(sigma, q)
    sides = [sigma[has_face], sigma[~has_face]]
    return torch.stack([torch.quantile(s, q) if len(s) >= MIN_GATE_ROWS else every for s in sides])


class FusionLitModule(EmotuneModule):
    """Scene + face -> fused V-A with variance."""

    phase: ClassVar[str] = "fusion"
    scene: SceneLitModule
    face: FaceLitModule
    conflict: torch.Tensor  # buffers (registered in __init__)
    gate_sigma: torch.Tensor

    legacy_hparams: ClassVar[dict[str, Any]] = {"gate_quantile": 0.8}  # checkpoints from before the EMA gate

    def __init__(
        self,
        *,
        scene_ckpt: str | None,
        face_ckpt: str | None,
        method: str,
        scene_weight: float,
        conflict_share: float,
        gate_quantile: float,
        optimizer: dict,
        loss: str,
        scene_hparams: dict | None = None,
        face_hparams: dict | None = None,
        load_pretrained: bool = True,
        backbone: dict | None = None,
    ) -> None:
        """Every setting ``conf/model/fusion.yaml`` sets is required (that file is its one home); the rest is what
        code passes when restoring a checkpoint.

        Args:
            scene_ckpt / face_ckpt: the trained phases (first build only).
            method: ``robust`` (inverse-variance that lets a contradicting scene lose its say), ``ivw``,
                ``learned`` (linear, fitted on val) or ``fixed`` (``scene_weight`` / 1 - ``scene_weight``).
            scene_weight: the fixed fusion's scene weight, and the learned fusion's starting point.
            conflict_share: share of context-swapped pairs in the robust method's fitting set (the prior
                belief that a scene can mislead).
            gate_quantile: the stabilizer's default τ is this quantile of ``method``'s fused σ on val, with and
                without a face (so a gate holds the least certain share ``1 - gate_quantile`` of frames).
            optimizer: Hydra node for the learned weights.
            loss: the learned fusion's loss (``mse`` | ``huber`` | ``ccc``).
            scene_hparams / face_hparams: set when restoring a fusion checkpoint (weights follow).
            load_pretrained: unused (kept so every phase loads with ``load_pretrained=False``).
            backbone: ignored (the paths' backbones come from their checkpoints; a backbone chosen for every phase
                by machine-local settings lands here).
        """
        super().__init__()
        check_choice("model.method", method, FUSION_METHODS)
        check_range("model.scene_weight", scene_weight, 0.0, 1.0)
        check_range("model.conflict_share", conflict_share, 0.0, 0.9)
        check_range("model.gate_quantile", gate_quantile, 0.0, 1.0, low_inclusive=False, high_inclusive=False)
        if scene_hparams is None or face_hparams is None:
            scene = load_phase_module(str(scene_ckpt), "scene")  # first build: the trained phases
            face = load_phase_module(str(face_ckpt), "face")
            scene_hparams, face_hparams = dict(scene.hparams), dict(face.hparams)
        else:  # restoring a fusion checkpoint: rebuild the paths from stored hparams; weights follow
            scene = SceneLitModule(**{**SceneLitModule.restore_kwargs(scene_hparams), "load_pretrained": False})
            face = FaceLitModule(**{**FaceLitModule.restore_kwargs(face_hparams), "load_pretrained": False})
        self.save_hyperparameters(
            {
                "scene_ckpt": scene_ckpt,
                "face_ckpt": face_ckpt,
                "method": method,
                "scene_weight": scene_weight,
                "conflict_share": conflict_share,
                "gate_quantile": gate_quantile,
                "optimizer": plain(optimizer),
                "loss": loss,
                "scene_hparams": plain(scene_hparams),
                "face_hparams": plain(face_hparams),
            },
            logger=False,
        )
        self.scene, self.face = scene.requires_grad_(False), face.requires_grad_(False)
        self.linear = LinearFusion(scene_weight)
        self.measurement = MeasurementModel()  # what each path's output says about the label; fitted on val
        self.register_buffer("conflict", torch.tensor([0.05, 0.4]))  # prior, extra_var; fitted on val
        self.variance = VarianceModel(len(FUSION_METHODS))  # each method's variance, calibrated on val
        # The gate's sigma (reference units) with / without a face: a quantile of the fused sigma on val.
        self.register_buffer("gate_sigma", torch.full((2,), float("nan")))
        self.criterion = build_loss(loss)
        self.val_va = VAMetrics()
        self._mc_cache: dict[str, tuple[torch.Tensor, ...]] = {}
        self._fit_rows: dict[str, tuple[torch.Tensor, ...]] = {}

    @property
    def face_margin(self) -> float:
        """The crop margin the face path was trained with."""
        return self.face.face_margin

    @property
    def data_configs(self) -> dict[str, dict]:
        """Preprocessing of both paths (the face crop's margin included)."""
        return {**self.scene.data_configs, **self.face.data_configs}

    def train(self, mode: bool = True) -> FusionLitModule:
        """The frozen paths stay in eval mode (MC Dropout is switched on explicitly when predicting)."""
        super().train(mode)
        self.scene.eval()
        self.face.eval()
        return self

    @torch.no_grad()
    def paths(self, batch: dict) -> PathEstimates:
        """Calibrated means/variances of both paths (memoised per input: the paths are frozen)."""
        keys = batch.get("key")
        if keys is not None and all(k in self._mc_cache for k in keys):
            cached = tuple(torch.stack(t).to(self.device) for t in zip(*(self._mc_cache[k] for k in keys)))
        else:
            cached = (*self.scene.predict_mc(batch["image"]), *self.face.predict_mc(batch["face"]))
            if keys is not None:
                for i, k in enumerate(keys):
                    self._mc_cache[k] = tuple(t[i].cpu() for t in cached)
        m_s, v_s, m_f, v_f = cached
        return PathEstimates(m_s, v_s, m_f, v_f, batch["has_face"])

    def fuse_all(self, e: PathEstimates) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Every method's fused mean and (calibrated) variance."""
        return self._calibrated(self._raw(e), e)

    def _raw(self, e: PathEstimates) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        prior, extra = (float(x) for x in self.conflict)
        return {
            "ivw": inverse_variance(self.measurement, e),
            "robust": conflict_aware(self.measurement, e, prior, extra),
            "learned": self.linear(e),
            "fixed": fixed(e, self.hparams["scene_weight"]),
        }

    def _calibrated(
        self, raw: dict[str, tuple[torch.Tensor, torch.Tensor]], e: PathEstimates
    ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        conflict = disagreement(self.measurement, e)
        return {k: (m, self.variance(FUSION_METHODS.index(k), v, e.has_face, conflict)) for k, (m, v) in raw.items()}

    def forward(self, e: PathEstimates) -> tuple[torch.Tensor, torch.Tensor]:
        """Fused mean and variance with the configured ``method``."""
        return self.fuse_all(e)[self.hparams["method"]]

    # ------------------------------------------------------------------ fitting on val
    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        """A gradient step of the learned weights; keep the rows the closed-form fits need."""
        e, y = self.paths(batch), batch["va"]
        for i, k in enumerate(batch["key"]):
            self._fit_rows[k] = (*(t[i] for t in e.unpack()), y[i])
        mean, _ = self.linear(e)
        loss = self.criterion(mean, y)
        self.log("train/loss", loss, on_epoch=True, prog_bar=True, batch_size=len(mean))
        return loss

    @torch.no_grad()
    def on_train_epoch_end(self) -> None:
        """Fit the paths' measurement model on val_fit, the conflict model on its images with a face, then each
        method's variance scale."""
        if not self._fit_rows:
            return
        *cols, y = (torch.stack(t).cpu() for t in zip(*self._fit_rows.values()))
        e = PathEstimates(*cols)
        hf = e.has_face
        self.measurement.fit(e, y)
        if hf.sum() >= 8:
            prior, extra = fit_conflict_model(self.measurement, e.rows(hf), y[hf], self.hparams["conflict_share"])
            self.conflict.copy_(torch.tensor([prior, extra]))
        conflict = disagreement(self.measurement, e)
        for i, (mean, var) in enumerate(self._raw(e).values()):
            self.variance.fit(i, mean, var, hf, conflict, y)
        _, var = self(e)
        self.gate_sigma.copy_(gate_thresholds(var.mean(-1).sqrt(), hf, self.hparams["gate_quantile"]))
        self.log_dict(
            {
                "fusion/conflict_prior": self.conflict[0],
                "fusion/conflict_extra_var": self.conflict[1],
                "fusion/gate_sigma_face": self.gate_sigma[0],
                "fusion/gate_sigma_no_face": self.gate_sigma[1],
            }
        )

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """Checkpoints saved before the gate was fitted load with no gate sigma (the stabilizer's own τ then)."""
        checkpoint.get("state_dict", {}).setdefault("gate_sigma", torch.full((2,), float("nan")))

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        """Metrics of the configured method."""
        mean, _ = self(self.paths(batch))
        self.val_va.update(mean, batch["va"])
        self.log("val/loss", self.criterion(mean, batch["va"]), batch_size=len(mean))

    def on_validation_epoch_end(self) -> None:
        """Log validation metrics."""
        if self.val_va.count > 1:
            m = self.val_va.compute()
            self.log_dict({f"val/{k}": v for k, v in m.items()})
            self.log("val/ccc", m["ccc_mean"], prog_bar=True)
        self.val_va.reset()

    # ------------------------------------------------------------------ test
    def test_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        """Both paths and every fusion per test image."""
        e = self.paths(batch)
        rec = {"scene_m": e.scene_mean, "scene_v": e.scene_var, "face_m": e.face_mean, "face_v": e.face_var,
               "has_face": e.has_face, "va": batch["va"]}  # fmt: skip
        for name, (m, v) in self.fuse_all(e).items():
            rec[f"{name}_m"], rec[f"{name}_v"] = m, v
        self.collect_test(dataloader_idx, **rec)

    def test_split_end(self, split: str, r: dict[str, torch.Tensor]) -> None:
        """Every path on the split, and again on its images with a face (``<split>_face``)."""
        hf, y, method = r["has_face"], r["va"], self.hparams["method"]
        self.test_predictions[split] = (r[f"{method}_m"].numpy(), y.numpy(), r[f"{method}_v"].numpy())
        self.log(f"{split}/face_found_fraction", hf.float().mean(), add_dataloader_idx=False)
        for name, rows in ((split, torch.ones_like(hf)), (f"{split}_face", hf)):
            if rows.sum() <= 2:
                continue
            for path in PATH_PREFIXES:
                keep = rows & hf if path == "face" else rows
                self.log_split_metrics(name, r[f"{path}_m"][keep], r[f"{path}_v"][keep], y[keep], prefix=f"{path}/")
            self.log_split_metrics(name, r[f"{method}_m"][rows], r[f"{method}_v"][rows], y[rows])
            self.log_constant_baseline(name, y[rows])

    def param_groups(self) -> list[dict]:
        """Only the learned linear weights train."""
        return [{"params": self.linear.parameters()}]
