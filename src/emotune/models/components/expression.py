"""Facial-expression probabilities -> valence-arousal: published coordinates of each expression category
(:mod:`emotune.data.expressions`).

The expected V-A of a face is the probability-weighted mean of its categories' coordinates; the spread of that
mixture is its aleatoric variance (a face read as half happy, half surprised is less certain than a clear smile).
The mean lies inside the coordinates' convex hull, so inside the plane.

With ``recalibrate``, the probabilities are the network's own corrected by a learned map with the network as its
prior: ``logits / T + b + W · h`` (``h``: the network's pooled penultimate features, standardised), which starts as
the identity (``T = 1``, ``b = 0``, ``W = 0``) and is fitted on labelled faces
(:mod:`emotune.models.components.expression_fit`); ``reading_temp`` (< 1 sharpens) sets how far a face's reading
goes towards its most likely category's coordinates.
"""

from __future__ import annotations

import torch
from torch import nn

from emotune.data.expressions import COORDINATES, canonical_expression
from emotune.models.components.heads import LOG_VAR_RANGE, MCDropout, ambiguity_pass
from emotune.utils.errors import ConfigError

EDGE = 1 - 1e-4


def coordinate_table(classes: tuple[str, ...] | list[str], source: str = "russell_mehrabian_1977") -> torch.Tensor:
    """``(K, 2)`` valence, arousal of each class in ``source``; the error names what is missing."""
    if source not in COORDINATES:
        raise ConfigError(f"model.head.coordinates={source!r} is not valid; choose one of: {', '.join(COORDINATES)}.")
    table = COORDINATES[source]
    missing = [c for c in classes if canonical_expression(c) not in table]
    if missing:
        raise ConfigError(f"No {source} coordinates for the expression classes {missing}; valid: {', '.join(table)}.")
    return torch.tensor([table[canonical_expression(c)] for c in classes], dtype=torch.float32)


class ExpressionVAHead(nn.Module):
    """Expression logits (and, when the backbone gives them, pooled features) ``(B, K + P)`` -> V-A: the mixture's
    mean and spread, plus a learned residual.

    The residual (dropout + linear, or an MLP with ``hidden``) starts at zero, so an untrained head is exactly the
    published mapping; training (``phase=face`` on FindingEmo crops) learns corrections to the mean and the
    log-variance, and its dropout gives MC Dropout something to sample once it has learned something.

    Args:
        in_features: K, the number of expression classes, plus P pooled features after them (``P >= 0``).
        classes: their names (looked up in the coordinate table).
        coordinates: which table (``russell_mehrabian_1977``).
        hidden: width of the residual MLP, ``None`` for a linear residual.
        dropout: dropout before each residual layer.
        heteroscedastic: must be true (the mixture's spread is the variance); kept for the common head signature.
        ambiguity: also predict an ambiguity logit.
        temperature: softmax temperature on the logits (1: the network's own probabilities).
        within_var: variance added inside each category (a clear face is still not a point).
        bounded: the residual moves the mean in atanh space (``tanh(atanh(mixture) + r)``), so the mean stays inside
            (-1, 1) by construction (``False`` only for checkpoints from before: ``mixture + r``).
        recalibrate: learn the map from the network's logits and pooled features described above.
    """

    coords: torch.Tensor  # buffers (registered in __init__)
    pool_mean: torch.Tensor
    pool_scale: torch.Tensor
    reading_temp: torch.Tensor

    def __init__(
        self,
        in_features: int,
        classes: tuple[str, ...] | list[str],
        coordinates: str = "russell_mehrabian_1977",
        hidden: int | None = None,
        dropout: float = 0.2,
        heteroscedastic: bool = True,
        ambiguity: bool = False,
        temperature: float = 1.0,
        within_var: float = 0.01,
        bounded: bool = False,
        recalibrate: bool = False,
    ) -> None:
        super().__init__()
        if not heteroscedastic:
            raise ConfigError(
                "model.uncertainty=mc_dropout: the expression head's variance is its mixture's spread; use "
                "model.uncertainty=both or heteroscedastic."
            )
        k = len(classes)
        if in_features < k:
            raise ConfigError(f"The expression head got {in_features} features for {k} classes {classes}.")
        self.heteroscedastic, self.has_ambiguity, self.bounded = True, ambiguity, bounded
        self.n_classes, self.n_pooled, self.class_names = k, in_features - k, tuple(str(c) for c in classes)
        self.temperature, self.within_var = float(temperature), float(within_var)
        self.register_buffer("coords", coordinate_table(classes, coordinates))
        self.recalibrate = recalibrate
        if recalibrate:
            self.expr_log_temp = nn.Parameter(torch.zeros(()))
            self.expr_bias = nn.Parameter(torch.zeros(k))
            self.expr_pool = nn.Parameter(torch.zeros(self.n_pooled, k))
            self.register_buffer("pool_mean", torch.zeros(self.n_pooled))
            self.register_buffer("pool_scale", torch.ones(self.n_pooled))
            self.register_buffer("reading_temp", torch.ones(()))
        out = 4 + ambiguity
        last = nn.Linear(hidden or in_features, out)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        if hidden:
            self.net = nn.Sequential(
                MCDropout(dropout), nn.Linear(in_features, hidden), nn.GELU(), MCDropout(dropout), last
            )
        else:
            self.net = nn.Sequential(MCDropout(dropout), last)

    def logits(self, feats: torch.Tensor) -> torch.Tensor:
        """The expression logits ``(B, K)`` the mixture weighs: the network's, through the learned map when
        ``recalibrate``."""
        z = feats[:, : self.n_classes] / self.temperature
        if not self.recalibrate:
            return z
        pooled = (feats[:, self.n_classes :] - self.pool_mean) / self.pool_scale
        return (z * torch.exp(-self.expr_log_temp) + self.expr_bias + pooled @ self.expr_pool) / self.reading_temp

    def mixture(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The published mapping of the (recalibrated) probabilities: expected V-A ``(B, 2)`` and the mixture's
        variance ``(B, 2)``."""
        p = torch.softmax(self.logits(feats), dim=-1)
        mean = p @ self.coords
        var = (p[..., None] * (self.coords[None] - mean[:, None]) ** 2).sum(1) + self.within_var
        return mean, var

    def forward(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``(mean (B, 2), log_var (B, 2), ambiguity logit (B,) or None)``, like :class:`VAHead`."""
        mean, var = self.mixture(feats)
        r = self.net(feats)
        log_var = (var.log() + r[:, 2:4]).clamp(*LOG_VAR_RANGE)
        mean = torch.tanh(torch.atanh(mean.clamp(-EDGE, EDGE)) + r[:, :2]) if self.bounded else mean + r[:, :2]
        return mean, log_var, r[:, -1] if self.has_ambiguity else None

    def ambiguity(self, feats: torch.Tensor) -> torch.Tensor:
        """Predicted ambiguity ``(B,)`` (0..1), a deterministic pass; zeros without the ambiguity output."""
        return ambiguity_pass(self, feats)
