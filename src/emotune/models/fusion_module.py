"""Phase 2: fusion of the frozen scene and face models.

The two trained phases are loaded from their checkpoints (their hyperparameters are copied into
this module's, so a fusion checkpoint alone rebuilds all three). Every fusion method is evaluated
side by side with each single path; ``method`` picks the one logged without a prefix and used by
``infer.py``. Fitted on ``val`` (the data config): the learned linear weights, and a variance scale per
path and dimension, ``mean(error^2 / variance)``, so each path's MC Dropout variance is calibrated to its
real error before inverse-variance weighting (an over-confident path no longer dominates).
"""

from __future__ import annotations

from typing import ClassVar

import lightning as L
import torch

from emotune.models.components.fusion import FUSION_METHODS, LinearFusion, fixed, inverse_variance
from emotune.models.components.losses import build_loss
from emotune.models.face_module import FaceLitModule
from emotune.models.loading import encoder_from_checkpoint
from emotune.models.scene_module import SceneLitModule
from emotune.models.va_module import (
    build_optimizers,
    gather_test_outputs,
    log_split_metrics,
    plain,
    test_split_names,
)
from emotune.utils.errors import check_choice, check_range
from emotune.utils.metrics import VAMetrics


class FusionLitModule(L.LightningModule):
    """Scene + face -> fused V-A with variance."""

    phase: ClassVar[str] = "fusion"

    def __init__(
        self,
        scene_ckpt: str | None = None,
        face_ckpt: str | None = None,
        method: str = "ivw",
        scene_weight: float = 0.6,
        mc_samples: int = 20,
        optimizer: dict | None = None,
        loss: str = "mse",
        scene_hparams: dict | None = None,
        face_hparams: dict | None = None,
        load_pretrained: bool = True,
    ) -> None:
        super().__init__()
        check_choice("model.method", method, FUSION_METHODS)
        check_range("model.scene_weight", scene_weight, 0.0, 1.0)
        check_range("model.mc_samples", mc_samples, 1)
        if scene_hparams is None or face_hparams is None:
            # First build: take the trained phases from their checkpoints.
            scene = encoder_from_checkpoint(str(scene_ckpt), "scene")
            face = encoder_from_checkpoint(str(face_ckpt), "face")
            scene_hparams, face_hparams = dict(scene.hparams), dict(face.hparams)
        else:
            # Restoring a fusion checkpoint: rebuild the paths from stored hparams; weights follow.
            scene = SceneLitModule(**_ctor_args(scene_hparams))
            face = FaceLitModule(**_ctor_args(face_hparams))
        self.save_hyperparameters(
            {
                "scene_ckpt": scene_ckpt,
                "face_ckpt": face_ckpt,
                "method": method,
                "scene_weight": scene_weight,
                "mc_samples": int(mc_samples),
                "optimizer": plain(optimizer),
                "loss": loss,
                "scene_hparams": plain(scene_hparams),
                "face_hparams": plain(face_hparams),
            },
            logger=False,
        )
        self.scene, self.face = scene.requires_grad_(False), face.requires_grad_(False)
        self.linear = LinearFusion(scene_weight)
        # [path (scene, face), dim]: multiplies each path's MC variance; set from val at each epoch end
        self.register_buffer("var_scale", torch.ones(2, 2))
        self.register_buffer("_ratio_sum", torch.zeros(2, 2), persistent=False)
        self.register_buffer("_ratio_n", torch.zeros(2, 2), persistent=False)
        self.criterion = build_loss(loss)
        self.val_va = VAMetrics()
        self._mc_cache: dict[str, tuple[torch.Tensor, ...]] = {}
        self._test_outputs: dict[int, list[dict[str, torch.Tensor]]] = {}

    @property
    def data_configs(self) -> dict[str, dict]:
        return {"image": self.scene.data_config, "face": self.face.data_config}

    def train(self, mode: bool = True) -> FusionLitModule:
        super().train(mode)
        self.scene.eval()
        self.face.eval()  # frozen paths: MC Dropout is switched on explicitly in predict_mc
        return self

    @torch.no_grad()
    def paths(self, batch: dict) -> tuple[torch.Tensor, ...]:
        """MC means/variances of both paths (memoised per image: the paths are frozen)."""
        keys = batch.get("key")
        if keys is not None and all(k in self._mc_cache for k in keys):
            return tuple(torch.stack(t).to(self.device) for t in zip(*(self._mc_cache[k] for k in keys)))
        T = self.hparams.mc_samples
        m_s, v_s = self.scene.predict_mc(batch["image"], T)
        m_f, v_f = self.face.predict_mc(batch["face"], T)
        out = (m_s, v_s, m_f, v_f)
        if keys is not None:
            for i, k in enumerate(keys):
                self._mc_cache[k] = tuple(t[i].cpu() for t in out)
        return out

    def fuse_all(
        self,
        m_s: torch.Tensor,
        v_s: torch.Tensor,
        m_f: torch.Tensor,
        v_f: torch.Tensor,
        has_face: torch.Tensor,
    ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        v_s, v_f = v_s * self.var_scale[0], v_f * self.var_scale[1]
        return {
            "ivw": inverse_variance(m_s, v_s, m_f, v_f, has_face),
            "learned": self.linear(m_s, v_s, m_f, v_f, has_face),
            "fixed": fixed(m_s, v_s, m_f, v_f, has_face, self.hparams.scene_weight),
        }

    def forward(
        self,
        m_s: torch.Tensor,
        v_s: torch.Tensor,
        m_f: torch.Tensor,
        v_f: torch.Tensor,
        has_face: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Fused mean and variance with the configured ``method``."""
        return self.fuse_all(m_s, v_s, m_f, v_f, has_face)[self.hparams.method]

    @torch.no_grad()
    def _accumulate_calibration(
        self,
        m_s: torch.Tensor,
        v_s: torch.Tensor,
        m_f: torch.Tensor,
        v_f: torch.Tensor,
        has_face: torch.Tensor,
        y: torch.Tensor,
    ) -> None:
        self._ratio_sum[0] += ((m_s - y) ** 2 / v_s.clamp_min(1e-6)).sum(0)
        self._ratio_n[0] += len(y)
        if has_face.any():
            hf = has_face
            self._ratio_sum[1] += ((m_f[hf] - y[hf]) ** 2 / v_f[hf].clamp_min(1e-6)).sum(0)
            self._ratio_n[1] += int(hf.sum())

    def on_train_epoch_end(self) -> None:
        """Set the variance scales from this epoch's (val-split) predictions: ``E[err^2 / var]`` per path, dim."""
        seen = self._ratio_n > 0
        self.var_scale[seen] = (self._ratio_sum[seen] / self._ratio_n[seen]).clamp(1e-3, 1e6)
        self._ratio_sum.zero_()
        self._ratio_n.zero_()
        for p, path in enumerate(("scene", "face")):
            for d, dim in enumerate(("valence", "arousal")):
                self.log(f"fusion/{path}_{dim}_var_scale", self.var_scale[p, d])

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        m_s, v_s, m_f, v_f = self.paths(batch)
        self._accumulate_calibration(m_s, v_s, m_f, v_f, batch["has_face"], batch["va"])
        mean, _ = self.linear(m_s, v_s, m_f, v_f, batch["has_face"])
        loss = self.criterion(mean, batch["va"])
        self.log("train/loss", loss, on_epoch=True, prog_bar=True, batch_size=len(mean))
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        mean, _ = self(*self.paths(batch), batch["has_face"])
        self.val_va.update(mean, batch["va"])
        self.log("val/loss", self.criterion(mean, batch["va"]), batch_size=len(mean))

    def on_validation_epoch_end(self) -> None:
        if self.val_va.count > 1:
            m = self.val_va.compute()
            self.log_dict({f"val/{k}": v for k, v in m.items()})
            self.log("val/ccc", m["ccc_mean"], prog_bar=True)
        self.val_va.reset()

    def test_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        m_s, v_s, m_f, v_f = self.paths(batch)
        hf = batch["has_face"]
        rec = {
            "scene_m": m_s,
            "scene_v": v_s,
            "face_m": m_f,
            "face_v": v_f,
            "has_face": hf,
            "va": batch["va"],
        }
        for name, (m, v) in self.fuse_all(m_s, v_s, m_f, v_f, hf).items():
            rec[f"{name}_m"], rec[f"{name}_v"] = m, v
        self._test_outputs.setdefault(dataloader_idx, []).append(
            {k: t.detach().cpu() for k, t in rec.items()}
        )

    def on_test_epoch_end(self) -> None:
        names = test_split_names(self)
        self.test_predictions = {}
        for idx, outs in sorted(self._test_outputs.items()):
            r = gather_test_outputs(self, idx, {k: torch.cat([o[k] for o in outs]) for k in outs[0]})
            self.test_predictions[names[idx]] = (r[f"{self.hparams.method}_m"].numpy(), r["va"].numpy())
            split, hf, y = names[idx], r["has_face"], r["va"]
            log_split_metrics(self, split, r["scene_m"], r["scene_v"], y, prefix="scene/")
            if hf.sum() > 2:
                log_split_metrics(self, split, r["face_m"][hf], r["face_v"][hf], y[hf], prefix="face/")
            for name in FUSION_METHODS:
                log_split_metrics(self, split, r[f"{name}_m"], r[f"{name}_v"], y, prefix=f"{name}/")
            m = self.hparams.method
            log_split_metrics(self, split, r[f"{m}_m"], r[f"{m}_v"], y)
            self.log(f"{split}/face_found_fraction", hf.float().mean(), add_dataloader_idx=False)
        self._test_outputs.clear()

    def configure_optimizers(self) -> dict:
        return build_optimizers(self, [{"params": self.linear.parameters()}])

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["emotune_phase"] = self.phase
        if getattr(self, "face_margin", None) is not None:  # the crop the face path was trained on
            checkpoint["emotune_face_margin"] = float(self.face_margin)


def _ctor_args(hparams: dict) -> dict:
    """Constructor arguments of a path module from its stored hparams (no pretrained download)."""
    args = dict(hparams)
    args["load_pretrained"] = False
    return args
