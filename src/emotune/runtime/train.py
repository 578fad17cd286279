"""``train(cfg)``: one phase, composed by Hydra, trained and tested by Lightning."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import hydra
import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf

from emotune.models.loading import last_checkpoint
from emotune.utils.errors import ConfigError, MissingResourceError
from emotune.utils.instantiators import instantiate, instantiate_callbacks, instantiate_loggers
from emotune.utils.io import write_json_atomic, write_text_atomic

if TYPE_CHECKING:
    from emotune.models.base import EmotuneModule

log = logging.getLogger(__name__)


def resolve_ckpt_path(cfg: DictConfig, output_dir: Path) -> str | None:
    """``ckpt_path=...`` as given, or with ``resume=true`` this run dir's ``checkpoints/last.ckpt``."""
    if cfg.get("ckpt_path"):
        p = Path(cfg.ckpt_path)
        if not p.is_file():
            raise MissingResourceError(f"ckpt_path={p} does not exist; give a .ckpt file (e.g. checkpoints/last.ckpt).")
        return str(p)
    if cfg.get("resume"):
        last = last_checkpoint(output_dir)
        if last.is_file():
            log.info("Resuming from %s", last)
            return str(last)
        log.warning("resume=true but %s does not exist: starting from scratch.", last)
    return None


def test_checkpoint(cfg: DictConfig, trainer: L.Trainer, output_dir: Path) -> str | None:
    """The weights ``trainer.test`` scores: after training, the best checkpoint; without training, the checkpoint
    given as ``ckpt_path`` (required: testing untrained weights is never what ``train=false`` means)."""
    if not cfg.get("train"):
        if not cfg.get("ckpt_path"):
            raise ConfigError(
                "train=false test=true needs the checkpoint to test: give ckpt_path=PATH (e.g. "
                "outputs/<run>/checkpoints/best.ckpt)."
            )
        return resolve_ckpt_path(cfg, output_dir)
    best = getattr(trainer.checkpoint_callback, "best_model_path", "")
    if not best:
        log.warning("No best checkpoint was saved; testing the current weights.")
    return best or None


def train(cfg: DictConfig) -> tuple[dict[str, float], dict[str, Any]]:
    """Train and test one phase; write ``metrics.json`` and a prediction plot into the run dir.

    Returns:
        The flat metric dict and the objects built (for tests).
    """
    output_dir = Path(cfg.paths.output_dir)
    L.seed_everything(cfg.seed, workers=True)
    torch.set_float32_matmul_precision("high")

    extra = {}
    if cfg.data.get("view", "scene") != "scene":  # the face and fusion views crop detected faces
        log.info("Instantiating detector <%s>", cfg.detector._target_)
        extra["detector"] = instantiate(cfg.detector)
    log.info("Instantiating model <%s>", cfg.model._target_)
    model: EmotuneModule = instantiate(cfg.model, _recursive_=False)
    log.info("Instantiating datamodule <%s>", cfg.data._target_)
    datamodule = instantiate(cfg.data, _recursive_=False, **extra)
    datamodule.configure_inputs(model.data_configs)  # preprocessing (and the face crop) is the model's
    if getattr(model, "cache", None) is not None and datamodule.augment:
        log.info("Frozen backbone with feature cache: training augmentation is off (features are reused).")
        datamodule.augment = False

    callbacks = instantiate_callbacks(cfg.get("callbacks"))
    loggers = instantiate_loggers(cfg.get("logger"))
    trainer: L.Trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    run_cfg = OmegaConf.masked_copy(cfg, [str(k) for k in cfg if k != "hydra"])  # the job's config, not Hydra's own
    for lg in loggers:
        lg.log_hyperparams(cast("dict[str, Any]", OmegaConf.to_container(run_cfg, resolve=True)))

    metrics: dict[str, float] = {}
    if cfg.get("train"):
        trainer.fit(model, datamodule=datamodule, ckpt_path=resolve_ckpt_path(cfg, output_dir))
        metrics.update({k: float(v) for k, v in trainer.callback_metrics.items()})
    if cfg.get("test"):
        trainer.test(
            model, datamodule=datamodule, ckpt_path=test_checkpoint(cfg, trainer, output_dir), weights_only=True
        )
        metrics.update({k: float(v) for k, v in trainer.callback_metrics.items()})
    metrics = dict(sorted(metrics.items()))
    if trainer.is_global_zero:
        write_json_atomic(output_dir / "metrics.json", metrics)
        write_json_atomic(output_dir / "data_stats.json", datamodule.stats)
        preds = getattr(model, "test_predictions", None)
        if preds:
            from emotune.viz.training import sigma_error_plot, va_scatter

            scale = model.label_scale
            pngs = {
                "test/predictions": va_scatter(preds, output_dir / "test_predictions.png", f"{cfg.phase} model", scale),
                "test/sigma_vs_error": sigma_error_plot(preds, output_dir / "sigma_vs_error.png", f"{cfg.phase} model"),
            }
            for lg in loggers:
                if hasattr(lg, "log_image"):
                    for key, png in pngs.items():
                        lg.log_image(key=key, images=[str(png)])
        write_text_atomic(output_dir / "PHASE", f"{cfg.phase}\n")
        log.info("Metrics: %s", output_dir / "metrics.json")
    return metrics, {"cfg": cfg, "model": model, "datamodule": datamodule, "trainer": trainer}
