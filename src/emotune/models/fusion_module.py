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
from emotune.models.checkpoints import load_module
from emotune.models.components.context_fusion import (
    ContextFitSettings,
    ContextFusion,
    choose_conflict_share,
    fit_context_fusion,
    fit_fused_variance,
)
from emotune.models.components.fusion import (
    FUSION_METHODS,
    LEGACY_METHODS,
    LinearFusion,
    MeasurementModel,
    PathEstimates,
    VarianceModel,
    conflict_aware,
    disagreement,
    fit_conflict_model,
    fixed,
    inverse_variance,
    with_swapped_scenes,
)
from emotune.models.components.losses import build_loss
from emotune.models.face_module import FaceLitModule
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

    # checkpoints from before the EMA gate, and from before the context method
    legacy_hparams: ClassVar[dict[str, Any]] = {"gate_quantile": 0.8, "context": {}}

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
        context: dict,
        scene_hparams: dict | None = None,
        face_hparams: dict | None = None,
        load_pretrained: bool = True,
        backbone: dict | None = None,
    ) -> None:
        """Every setting ``conf/model/fusion.yaml`` sets is required (that file is its one home); the rest is what
        code passes when restoring a checkpoint.

        Args:
            scene_ckpt / face_ckpt: the trained phases (first build only).
            method: ``context`` (inverse variance with each path's variance scaled by what the frame shows of the
                face and by the paths' disagreement: :mod:`emotune.models.components.context_fusion`), ``robust``
                (inverse variance that lets a contradicting scene lose its say), ``ivw``, ``learned`` (linear, fitted
                on val) or ``fixed`` (``scene_weight`` / 1 - ``scene_weight``).
            scene_weight: the fixed fusion's scene weight, and the learned fusion's starting point.
            conflict_share: share of context-swapped pairs in the robust and context methods' fitting sets (the
                prior belief that a scene can mislead).
            gate_quantile: the stabilizer's default τ is this quantile of ``method``'s fused σ on val, with and
                without a face (so a gate holds the least certain share ``1 - gate_quantile`` of frames).
            optimizer: Hydra node for the learned weights.
            loss: the learned fusion's loss (``mse`` | ``huber`` | ``ccc``).
            context: how the context method is fitted (:class:`ContextFitSettings` fields).
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
            scene = load_module(str(scene_ckpt), "scene", SceneLitModule)  # first build: the trained phases
            face = load_module(str(face_ckpt), "face", FaceLitModule)
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
                "context": plain(context),
                "scene_hparams": plain(scene_hparams),
                "face_hparams": plain(face_hparams),
            },
            logger=False,
        )
        self.scene, self.face = scene.requires_grad_(False), face.requires_grad_(False)
        self.linear = LinearFusion(scene_weight)
        self.measurement = MeasurementModel()  # what each path's output says about the label; fitted on val
        self.register_buffer("conflict", torch.tensor([0.05, 0.4]))  # prior, extra_var; fitted on val
        self.variance = VarianceModel(len(LEGACY_METHODS))  # each legacy method's variance, calibrated on val
        self.context_fusion = ContextFusion()  # the default method: weights, output map and variance fitted on val
        # The gate's sigma (reference units) with / without a face: a quantile of the fused sigma on val.
        self.register_buffer("gate_sigma", torch.full((2,), float("nan")))
        self.criterion = build_loss(loss)
        self.val_va = VAMetrics()
        self._mc_cache: dict[str, tuple[torch.Tensor, ...]] = {}
        self._fit_rows: dict[str, tuple[torch.Tensor, ...]] = {}
        self._select_rows: dict[str, tuple[torch.Tensor, ...]] = {}  # val_select: where the context method's share
        # of misleading contexts is chosen

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
        return PathEstimates(m_s, v_s, m_f, v_f, batch["has_face"], batch.get("context"))

    def fuse_all(self, e: PathEstimates) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Every method's fused mean and (calibrated) variance."""
        return self._calibrated(self._raw(e), e)

    def _raw(self, e: PathEstimates) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Each legacy method's mean and uncalibrated variance."""
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
        mean, var, _ = self.context_fusion(e)
        legacy = {k: (m, self.variance(LEGACY_METHODS.index(k), v, e.has_face, conflict)) for k, (m, v) in raw.items()}
        return {"context": (mean, var), **legacy}

    def forward(self, e: PathEstimates) -> tuple[torch.Tensor, torch.Tensor]:
        """Fused mean and variance with the configured ``method``."""
        return self.fuse_all(e)[self.hparams["method"]]

    def fuse_with_weight(self, e: PathEstimates) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Fused mean, variance and the face path's weight per dimension (``(B, 2)`` each; NaN weight for the
        legacy methods but ``fixed``, whose weights are not a share)."""
        method = self.hparams["method"]
        if method == "context":
            return self.context_fusion(e)
        mean, var = self(e)
        share = 1 - self.hparams["scene_weight"] if method == "fixed" else float("nan")
        weight = torch.where(e.has_face[:, None], torch.full_like(mean, share), torch.zeros_like(mean))
        return mean, var, weight

    # ------------------------------------------------------------------ fitting on val
    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        """A gradient step of the learned weights; keep the rows the closed-form fits need."""
        e, y = self.paths(batch), batch["va"]
        ctx = e.frame_context()
        for i, k in enumerate(batch["key"]):
            self._fit_rows[k] = (*(t[i] for t in e.unpack()), ctx[i], y[i])
        mean, _ = self.linear(e)
        loss = self.criterion(mean, y)
        self.log("train/loss", loss, on_epoch=True, prog_bar=True, batch_size=len(mean))
        return loss

    @torch.no_grad()
    def on_train_epoch_end(self) -> None:
        """Fit the paths' measurement model on val_fit, the conflict model on its images with a face, then each
        method's variance scale."""
        fit = self._rows_of(self._fit_rows)
        if fit is None:
            return
        e, y = fit
        hf = e.has_face
        self.measurement.fit(e, y)
        share = self.hparams["conflict_share"]
        if hf.sum() >= 8:
            prior, extra = fit_conflict_model(self.measurement, e.rows(hf), y[hf], share)
            self.conflict.copy_(torch.tensor([prior, extra]))
        self.fit_context(e, y)
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

    def fit_context(self, e: PathEstimates, y: torch.Tensor) -> None:
        """Fit the context method on the val_fit rows with each share of misleading (swapped) contexts of
        ``context.conflict_shares``, and keep the one whose worse case on val_select is best (see
        :func:`choose_conflict_share`); logged as ``fusion/context_conflict_share``."""
        settings = ContextFitSettings.of(self.hparams["context"])
        shares = [float(q) for q in self.hparams["context"].get("conflict_shares", [self.hparams["conflict_share"]])]
        fits = {}
        for q in shares:
            fusion = ContextFusion()
            rows, labels, domain = with_swapped_scenes(e, y, q)
            # both paths are read on the images as they are (domain 0); the swapped copies teach only the weights
            fit_context_fusion(fusion, rows, labels, domain, settings, {0: 1 - q, 1: q}, ([0], [0]))
            fits[q] = fusion
        select = self._rows_of(self._select_rows)
        q = choose_conflict_share(fits, *select) if select is not None and len(fits) > 1 else shares[0]
        self.context_fusion.load_state_dict(fits[q].state_dict())
        if select is not None:  # σ learns from all of val: the share was chosen on val_select's means, not its σ
            fit_fused_variance(self.context_fusion, PathEstimates.concat(e, select[0]), torch.cat([y, select[1]]),
                               settings)  # fmt: skip
        self.log("fusion/context_conflict_share", q)

    @staticmethod
    def _rows_of(store: dict[str, tuple[torch.Tensor, ...]]) -> tuple[PathEstimates, torch.Tensor] | None:
        """Kept rows as ``(paths, labels)``; ``None`` when there are none."""
        if not store:
            return None
        m_s, v_s, m_f, v_f, hf, ctx, y = (torch.stack(t).cpu() for t in zip(*store.values()))
        return PathEstimates(m_s, v_s, m_f, v_f, hf, ctx), y

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """Checkpoints saved before the gate was fitted load with no gate sigma (the stabilizer's own τ then); from
        before the context method, with it unfitted (plain inverse-variance weighting; their method is kept)."""
        state = checkpoint.get("state_dict", {})
        state.setdefault("gate_sigma", torch.full((2,), float("nan")))
        for name, value in ContextFusion().state_dict().items():
            state.setdefault(f"context_fusion.{name}", value)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        """Metrics of the configured method; keep the rows the context method's share is chosen on."""
        e = self.paths(batch)
        ctx = e.frame_context()
        for i, k in enumerate(batch["key"]):
            self._select_rows[k] = (*(t[i].cpu() for t in e.unpack()), ctx[i].cpu(), batch["va"][i].cpu())
        mean, _ = self(e)
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
