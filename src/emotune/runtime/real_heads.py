"""``make real-heads REAL=DIR``'s last step: fit the real-input set's expression map and context fusion on real
labelled data, cross-fitted (:mod:`emotune.runtime.real_fit`), and write them as committed heads.

``python -m emotune.runtime.real_heads [data_dir=DIR] [key=value ...]`` (settings: ``conf/real_heads.yaml``). Writes
``<weights_dir>/face_fer_expression.pt`` (the face module's head, with each fold's map) and
``<weights_dir>/fusion_real_context.pt`` (the fusion, each fold's, and which fold holds each image, by content), and a
summary of what was fitted on what to ``<out>/real_heads.json``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from emotune.models.components.context_fusion import ContextFitSettings, ContextFusion
from emotune.models.components.expression_fit import ExpressionFitSettings
from emotune.models.components.fusion import PathEstimates
from emotune.models.fusion_module import gate_thresholds
from emotune.models.loading import best_checkpoint
from emotune.runtime.compose import compose_config
from emotune.runtime.real_fit import CrossFit, CrossFitSettings, cross_fit, face_readings
from emotune.runtime.real_models import FACE_HEAD, FUSION_HEAD, build, export_module_head
from emotune.runtime.real_rows import PerceivedRows, face_images, perceive_images, photo_images
from emotune.utils.command import command
from emotune.utils.errors import ConfigError, MissingResourceError
from emotune.utils.instantiators import instantiate
from emotune.utils.io import atomic_path, write_json_atomic

log = logging.getLogger("emotune.real_heads")


def gather(cfg: DictConfig, perceiver: Any) -> PerceivedRows:
    """Every labelled face of ``cfg.face_sets`` and the photographs of ``cfg.photo_splits``, perceived."""
    data = Path(str(cfg.data_dir))
    images = []
    for name in cfg.face_sets:
        if (data / name).is_dir():
            images += face_images(data / name)
    if (data / str(cfg.photos) / "OASIS.csv").is_file():
        images += photo_images(data / str(cfg.photos), list(cfg.photo_splits))
    if not any(im.expression for im in images):
        raise MissingResourceError(
            f"data_dir={data} has no labelled face set ({', '.join(cfg.face_sets)}/ with labels.csv or a folder per "
            "expression); the expression map needs one."
        )
    size = (int(cfg.frame[0]), int(cfg.frame[1]))
    return perceive_images(perceiver, images, size, desc="real heads: perceive")


def gate_sigma(fit: CrossFit, face: Any, rows: PerceivedRows, quantile: float) -> torch.Tensor:
    """The stabilizer's τ with / without a face: the ``quantile`` of the fitted fusion's σ on the rows."""
    fusion = ContextFusion()
    fusion.load_state_dict(fit.fusion)
    fm, fv = face_readings(face, fit.face, rows.face_features)
    hf = torch.as_tensor(rows.face_found)
    t = torch.as_tensor
    e = PathEstimates(t(rows.scene_mean).float(), t(rows.scene_var).float(), t(np.nan_to_num(fm)).float(),
                      t(np.where(rows.face_found[:, None], fv, 1.0)).float(), hf, t(rows.context).float())  # fmt: skip
    with torch.no_grad():
        _, var, _ = fusion(e)
    return gate_thresholds(var.mean(-1).sqrt(), hf, quantile)


def fit_real_heads(cfg: DictConfig) -> dict[str, Any]:
    """Build the set, perceive the data, cross-fit, write both heads; returns the summary."""
    if cfg.data_dir is None:
        raise ConfigError(
            "No real data: give data_dir=DIR (make real-heads REAL=DIR) or set EMOTUNE_REAL_DATA=DIR, a folder with "
            "faces/ and oasis/."
        )
    out, weights = Path(cfg.out), Path(str(cfg.weights_dir))
    build(out / "set")
    infer = compose_config("infer", ["video=unused", f"ckpt.dir={out / 'set'}", "progress=false"], out / "run")
    perceiver = instantiate(infer.perceive)
    rows = gather(cfg, perceiver)
    face = perceiver.face
    settings = CrossFitSettings(**OmegaConf.to_container(cfg.fit, resolve=True))  # type: ignore[arg-type]
    expression = ExpressionFitSettings.of(cfg.expression)
    context = ContextFitSettings.of(OmegaConf.to_container(cfg.context, resolve=True))  # type: ignore[arg-type]
    fit = cross_fit(face, rows, expression, context, settings)
    face.load_state_dict(fit.face, strict=False)
    note = f"python -m emotune.runtime.real_heads data_dir={cfg.data_dir}"
    sources = sorted(set(rows.column("source").tolist()))
    export_module_head(face, "face", weights / FACE_HEAD, note, {"folds": fit.face_folds})
    gate = gate_sigma(fit, face, rows, float(cfg.gate_quantile))
    head = {
        "phase": "fusion",
        "state_dict": {**{f"context_fusion.{k}": v for k, v in fit.fusion.items()}, "gate_sigma": gate},
        "folds": {"face": fit.face_folds, "fusion": fit.fusion_folds, "fold_of": fit.fold_of},
        "meta": {"note": note, "sources": sources, "rows": len(rows.images), "choices": fit.choices},
    }
    with atomic_path(weights / FUSION_HEAD) as tmp:
        torch.save(head, tmp)
    summary = {"rows": len(rows.images), "sources": sources, "folds": settings.folds, "choices": fit.choices,
               "gate_sigma": gate.tolist(), "heads": [str(weights / FACE_HEAD), str(weights / FUSION_HEAD)]}  # fmt: skip
    write_json_atomic(out / "real_heads.json", summary)
    return summary


@command("real_heads")
def main(cfg: DictConfig) -> None:
    """CLI: ``python -m emotune.runtime.real_heads [data_dir=DIR] [key=value ...]``."""
    summary = fit_real_heads(cfg)
    print(f"Real heads fitted on {summary['rows']} images ({', '.join(summary['sources'])}): {summary['heads']}")
    fusion = best_checkpoint(Path(str(cfg.paths.real_set_dir)) / "fusion")
    print(f"Assemble the set: make real-models (then {fusion} holds the fusion)")


if __name__ == "__main__":
    main()
