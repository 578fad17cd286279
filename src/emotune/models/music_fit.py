"""Fit a music head on song vectors without Lightning: what cross-validation repeats hundreds of times.

A *song vector* is what the standardiser of a ``descriptors`` or ``musicnn`` music model reads: the descriptors
and/or musicnn's embedding of a song (:meth:`MusicLitModule.song_vectors`), computed once per song. A
:class:`Candidate` says which part of the vector a head uses and how large the head is; :func:`fit_head` builds
the music module for it from the model config, fits the standardiser on the training songs and trains the head
as the Lightning phase would (AdamW, cosine schedule, mini-batches, β-NLL with MC Dropout), deterministically.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np
import torch

from emotune.audio.descriptors import descriptor_dim
from emotune.models.components.descriptor_backbone import DescriptorNorm
from emotune.models.components.heads import fit_log_variance
from emotune.models.music_module import MusicLitModule, feature_settings, wheel_extractor
from emotune.models.va_module import VARegressor, _calibration_features
from emotune.utils.errors import ConfigError

Inputs = Literal["descriptors", "musicnn", "both"]
INPUTS: tuple[str, ...] = ("descriptors", "musicnn", "both")


@dataclass(frozen=True)
class Candidate:
    """One design the cross-validation chooses among.

    Args:
        inputs: the descriptors alone, musicnn's embedding alone, or both.
        hidden: the head's hidden units (``None``: a linear head).
    """

    inputs: Inputs
    hidden: int | None

    @property
    def name(self) -> str:
        """``both/h32``-style label."""
        return f"{self.inputs}/{'linear' if self.hidden is None else f'h{self.hidden}'}"

    def columns(self, n_descriptors: int, width: int) -> np.ndarray:
        """The song-vector columns this candidate reads (descriptors first, then the embedding)."""
        if self.inputs == "descriptors":
            return np.arange(n_descriptors)
        if self.inputs == "musicnn":
            return np.arange(n_descriptors, width)
        return np.arange(width)

    def model_config(self, model: dict[str, Any]) -> dict[str, Any]:
        """The music model's constructor settings (``conf/model/music_musicnn.yaml`` as plain data, without
        ``_target_``) for this candidate."""
        cfg = copy.deepcopy({k: v for k, v in model.items() if k != "_target_"})
        features = dict(cfg["features"])
        if self.inputs == "descriptors":
            if not features.get("descriptors"):
                raise ConfigError("candidate inputs=descriptors needs model.features.descriptors settings.")
            cfg["features"] = dict(features["descriptors"])
        elif self.inputs == "musicnn":
            cfg["features"] = {**features, "descriptors": None}
        cfg["head"] = {**dict(cfg.get("head") or {}), "hidden": self.hidden}
        return cfg


def vector_layout(model: dict[str, Any]) -> tuple[int, int]:
    """``(descriptor count, musicnn embedding width)`` of the model config's song vectors."""
    cfg = feature_settings(model["features"])
    d = descriptor_dim(cfg["descriptors"]) if cfg.get("descriptors") else 0
    return d, wheel_extractor(str(cfg["net"])).num_features


@dataclass(frozen=True)
class FitSettings:
    """How a head is trained: epochs, batch size, the seed of its initialisation and shuffling."""

    epochs: int
    batch_size: int
    seed: int


def build(model: dict[str, Any], candidate: Candidate, seed: int) -> MusicLitModule:
    """The candidate's music module, its head initialised from ``seed`` (the same weights whatever the process
    built before: the frozen network, whose construction draws random numbers, is built first, once)."""
    cfg = feature_settings(candidate.model_config(model)["features"])
    if cfg["kind"] == "musicnn":
        wheel_extractor(str(cfg["net"]))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MusicLitModule(**candidate.model_config(model))


def fit_head(
    model: dict[str, Any], candidate: Candidate, x: np.ndarray, y: np.ndarray, n_descriptors: int, fit: FitSettings
) -> MusicLitModule:
    """A music module for ``candidate`` trained on song vectors ``x`` (``(N, width)``: ``n_descriptors``
    descriptors, then musicnn's embedding) and targets ``y`` (``(N, 2)`` on the reference scale); σ calibration is
    left at the identity (:func:`calibrate`)."""
    module = build(model, candidate, fit.seed)
    cols = candidate.columns(n_descriptors, x.shape[1])
    xt = torch.as_tensor(x[:, cols], dtype=torch.float32)
    yt = torch.as_tensor(y, dtype=torch.float32)
    cast(DescriptorNorm, module.backbone.body).fit(xt)
    opt_cfg: Any = module.configure_optimizers()
    optimizer = opt_cfg["optimizer"]
    scheduler = opt_cfg.get("lr_scheduler", {}).get("scheduler")
    gen = torch.Generator().manual_seed(fit.seed)
    module.train()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(fit.seed)  # dropout masks while training
        for _ in range(fit.epochs):
            order = torch.randperm(len(xt), generator=gen)
            for batch in order.split(fit.batch_size):
                loss, _, _ = module._loss(VARegressor.features(module, xt[batch]), yt[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            if scheduler is not None:
                scheduler.step()
    module.eval()
    object.__setattr__(module, "_fit_columns", cols)
    return module


@torch.no_grad()
def predict_vectors(module: MusicLitModule, x: np.ndarray, calibrated: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance ``(N, 2)`` each from song vectors ``x`` (all columns; the module's own are taken), the
    raw predictive variance when ``calibrated`` is false."""
    cols = module.__dict__["_fit_columns"]
    feats = VARegressor.features(module, torch.as_tensor(x[:, cols], dtype=torch.float32))
    if calibrated:
        mean, var = module.predict_features(feats)
    else:
        mean, var = module._raw_predictive(feats, None)
    return mean.numpy(), var.numpy()


def calibrate(module: MusicLitModule, mean: np.ndarray, var: np.ndarray, y: np.ndarray) -> None:
    """Fit the module's σ calibration (``log var' = c0 + c1 log var`` per dimension) on out-of-fold raw
    predictions of songs it was not fitted on, as the Lightning phase does on its validation split."""
    feats = _calibration_features(torch.as_tensor(var, dtype=torch.float32), torch.zeros(len(var)))
    err2 = torch.as_tensor((mean - y) ** 2, dtype=torch.float32)
    module.var_coef.copy_(fit_log_variance(feats, err2))
