"""Combining the scene and face paths: inverse-variance (of calibrated measurements), conflict-aware, learned
linear, fixed 0.6/0.4.

All take both paths' readings as one :class:`PathEstimates` (``(B, 2)`` means and variances, a ``(B,)`` bool
``has_face``); where no face was found the scene path is used alone (the design's contingency).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import torch
from torch import nn

from emotune.detect.context import CONTEXT_COLUMNS

LEGACY_METHODS = ("ivw", "robust", "learned", "fixed")  # scored beside the default; each has a VarianceModel slot
FUSION_METHODS = ("context", *LEGACY_METHODS)  # context: models/components/context_fusion.py
DEFAULT_SCENE_WEIGHT = 0.6  # the design's fixed fallback: 0.6 scene / 0.4 face


@dataclass
class PathEstimates:
    """Both paths' readings of a batch, on the reference scale: what every fusion takes.

    Rows without a face carry a placeholder face reading (``has_face`` says which rows have one).
    """

    scene_mean: torch.Tensor  # (B, 2)
    scene_var: torch.Tensor  # (B, 2)
    face_mean: torch.Tensor  # (B, 2)
    face_var: torch.Tensor  # (B, 2)
    has_face: torch.Tensor  # (B,) bool
    context: torch.Tensor | None = None  # (B, len(detect.context.CONTEXT_COLUMNS)): what the frame shows of the face

    def unpack(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(scene_mean, scene_var, face_mean, face_var, has_face)``."""
        return self.scene_mean, self.scene_var, self.face_mean, self.face_var, self.has_face

    def frame_context(self) -> torch.Tensor:
        """``context``, zeros where it was not given (no face in view reads as zeros too)."""
        if self.context is not None:
            return self.context
        return torch.zeros(len(self.has_face), len(CONTEXT_COLUMNS), device=self.has_face.device)

    def to(self, device: torch.device | str) -> PathEstimates:
        """The same readings on ``device``."""
        return self._map(lambda t: t.to(device))

    def rows(self, index: torch.Tensor | slice) -> PathEstimates:
        """A subset of the rows."""
        return self._map(lambda t: t[index])

    def _map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> PathEstimates:
        m_s, v_s, m_f, v_f, hf = (fn(t) for t in self.unpack())
        return PathEstimates(m_s, v_s, m_f, v_f, hf, None if self.context is None else fn(self.context))

    @staticmethod
    def concat(a: PathEstimates, b: PathEstimates) -> PathEstimates:
        """``a``'s rows then ``b``'s (context kept when both have one)."""
        m_s, v_s, m_f, v_f, hf = (torch.cat([x, y]) for x, y in zip(a.unpack(), b.unpack()))
        ctx = None if a.context is None or b.context is None else torch.cat([a.context, b.context])
        return PathEstimates(m_s, v_s, m_f, v_f, hf, ctx)

    def __len__(self) -> int:
        return len(self.has_face)


SCENE_WITH_FACE, FACE, SCENE_ALONE = 0, 1, 2  # the measurement model's slots
FLAT_PRIOR_VAR = 1e6  # a prior that says nothing: the paths' readings alone are weighted
MIN_SLOPE = 0.1  # a path whose reading moves less than this with the label says nothing: its weight becomes zero
UNINFORMATIVE_NOISE = 1e6


class MeasurementModel(nn.Module):
    """What each path's output says about the label, fitted on held-out data (per slot and dimension).

    A path's mean is a shrunk, offset reading of the label, ``m = a + lam * y + e`` with ``e ~ N(0, kappa * v)``
    (``v``: the path's own predicted variance): regression toward the mean is why it is shrunk. Inverted, each
    path gives an unbiased estimate ``(m - a) / lam`` with variance ``kappa * v / lam**2``; together with the
    labels' prior ``N(mu, s2)`` these are the measurements that inverse-variance weighting combines.

    The scene has two slots: what it says when a face is also in view (``SCENE_WITH_FACE``) and when it is alone
    (``SCENE_ALONE``): a scene can tell a lot about a photograph's mood and little about the expression of the
    person filling a webcam frame.
    """

    offset: torch.Tensor  # buffers (registered in __init__)
    slope: torch.Tensor
    noise: torch.Tensor
    prior: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("offset", torch.zeros(3, 2))  # [slot (scene with a face, face, scene alone), dim]
        self.register_buffer("slope", torch.ones(3, 2))
        self.register_buffer("noise", torch.ones(3, 2))  # kappa: scale of the path's predicted variance
        self.register_buffer("prior", torch.tensor([[0.0, 0.0], [1.0, 1.0]]))  # [mean, variance] of the labels

    @torch.no_grad()
    def fit(
        self,
        e: PathEstimates,
        y: torch.Tensor,
        slots: tuple[int, ...] = (SCENE_WITH_FACE, FACE, SCENE_ALONE),
        flat_prior: bool = False,
    ) -> None:
        """Least squares of each path's mean on the label, per slot (a scene slot with fewer than 8 rows of its
        kind is fitted on every row); the prior from ``y``, or a flat one (``flat_prior``: the fusion then only
        weighs the paths, and a single path's ranking of inputs is kept as it is)."""
        m_s, v_s, m_f, v_f, has_face = e.unpack()
        var = torch.full((2,), FLAT_PRIOR_VAR) if flat_prior else y.var(0, unbiased=False).clamp_min(1e-4)
        self.prior.copy_(torch.stack([y.mean(0), var]))
        every = torch.ones_like(has_face)
        rows_of = {
            SCENE_WITH_FACE: (m_s, v_s, has_face),
            FACE: (m_f, v_f, has_face),
            SCENE_ALONE: (m_s, v_s, ~has_face),
        }
        for slot in slots:
            m, v, rows = rows_of[slot]
            if rows.sum() < 8:
                if slot == FACE:
                    continue
                rows = every
            mm, vv, yy = m[rows], v[rows].clamp_min(1e-6), y[rows]
            cov = ((mm - mm.mean(0)) * (yy - yy.mean(0))).mean(0)
            slope = cov / yy.var(0, unbiased=False).clamp_min(1e-6)
            offset = mm.mean(0) - slope * yy.mean(0)
            noise = ((mm - offset - slope * yy) ** 2 / vv).mean(0).clamp(1e-3, 1e3)
            # A path that barely follows the label would be inverted through a tiny slope, blowing any reading
            # outside its fitting data up into a confident estimate: it gets no say instead.
            useless = slope < MIN_SLOPE
            self.slope[slot] = torch.where(useless, torch.ones_like(slope), slope)
            self.offset[slot] = torch.where(useless, torch.zeros_like(offset), offset)
            self.noise[slot] = torch.where(useless, torch.full_like(noise, UNINFORMATIVE_NOISE), noise)

    def estimate(self, slot: int, m: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One slot's unbiased estimate of the label and its variance."""
        slope = self.slope[slot]
        return (m - self.offset[slot]) / slope, self.noise[slot] * v.clamp_min(1e-6) / slope**2

    def scene_estimate(
        self, m_s: torch.Tensor, v_s: torch.Tensor, has_face: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The scene's estimate per row: its with-a-face slot where a face was found, its alone slot elsewhere."""
        with_face, alone = self.estimate(SCENE_WITH_FACE, m_s, v_s), self.estimate(SCENE_ALONE, m_s, v_s)
        hf = has_face[:, None]
        return torch.where(hf, with_face[0], alone[0]), torch.where(hf, with_face[1], alone[1])

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args: object, **kwargs: object) -> None:
        # checkpoints from before the two scene slots hold (2, 2): the scene's one fit serves both
        for name in ("offset", "slope", "noise"):
            key = prefix + name
            if key in state_dict and state_dict[key].shape == (2, 2):
                state_dict[key] = torch.cat([state_dict[key], state_dict[key][:1]])
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


def _combine(estimates: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Precision-weighted mean and variance of ``(mean, variance, used)`` measurements."""
    # sum() of tensors is a tensor (typed as possibly its int start, 0)
    precision = cast(
        torch.Tensor, sum(torch.where(used, 1.0 / var, torch.zeros_like(var)) for _, var, used in estimates)
    )
    weighted = cast(
        torch.Tensor, sum(torch.where(used, est / var, torch.zeros_like(var)) for est, var, used in estimates)
    )
    mean = weighted / precision
    return mean, 1.0 / precision


def inverse_variance(
    mm: MeasurementModel,
    e: PathEstimates,
    extra_scene_var: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The labels' prior and each path's calibrated measurement, weighted by inverse variance (the face path only
    where a face was found); ``extra_scene_var`` widens the scene's."""
    m_s, v_s, m_f, v_f, has_face = e.unpack()
    y_s, u_s = mm.scene_estimate(m_s, v_s, has_face)
    y_f, u_f = mm.estimate(FACE, m_f, v_f)
    prior_mean, prior_var = mm.prior[0].expand_as(y_s), mm.prior[1].expand_as(y_s)
    everywhere = torch.ones_like(y_s, dtype=torch.bool)
    face = has_face[:, None].expand_as(y_s)
    return _combine([(prior_mean, prior_var, everywhere), (y_s, u_s + extra_scene_var, everywhere), (y_f, u_f, face)])


def fixed(
    e: PathEstimates,
    scene_weight: float = DEFAULT_SCENE_WEIGHT,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``scene_weight * scene + (1 - scene_weight) * face`` (variance combined the same way)."""
    m_s, v_s, m_f, v_f, has_face = e.unpack()
    w = scene_weight
    mean = torch.where(has_face[:, None], w * m_s + (1 - w) * m_f, m_s)
    var = torch.where(has_face[:, None], w**2 * v_s + (1 - w) ** 2 * v_f, v_s)
    return mean, var


class LinearFusion(nn.Module):
    """Learned per-dimension weights for each path plus a bias (initialised at the fixed weights)."""

    def __init__(self, scene_weight: float = DEFAULT_SCENE_WEIGHT) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor([[scene_weight, scene_weight], [1 - scene_weight, 1 - scene_weight]]))
        self.b = nn.Parameter(torch.zeros(2))

    def forward(self, e: PathEstimates) -> tuple[torch.Tensor, torch.Tensor]:
        """Weighted sum where a face was found, the scene path elsewhere."""
        m_s, v_s, m_f, v_f, has_face = e.unpack()
        both = self.w[0] * m_s + self.w[1] * m_f + self.b
        mean = torch.where(has_face[:, None], both, m_s)
        var = torch.where(has_face[:, None], self.w[0] ** 2 * v_s + self.w[1] ** 2 * v_f, v_s)
        return mean, var


def _log_normal(x: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """Log density of ``N(0, var)`` at ``x``, summed over the last dimension."""
    return (-0.5 * (math.log(2 * math.pi) + var.log() + x**2 / var)).sum(-1)


def conflict_aware(
    mm: MeasurementModel,
    e: PathEstimates,
    prior: float,
    extra_var: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverse-variance fusion that allows the scene to mislead.

    With probability ``prior`` the context misleads: the scene's measurement then has ``extra_var`` more
    variance. The disagreement of the two paths' estimates (both dimensions) gives the posterior probability
    ``r`` of that case; the result is the posterior mixture of the two fusions, so a scene that contradicts the
    face beyond their stated spread loses its say, and the fused variance grows with the conflict.
    """
    m_s, v_s, m_f, v_f, has_face = e.unpack()
    y_s, u_s = mm.scene_estimate(m_s, v_s, has_face)
    y_f, u_f = mm.estimate(FACE, m_f, v_f)
    delta = y_s - y_f
    log_in = math.log1p(-prior) + _log_normal(delta, u_s + u_f)
    log_out = math.log(prior) + _log_normal(delta, u_s + u_f + extra_var)
    r = torch.where(has_face, torch.sigmoid(log_out - log_in), torch.zeros_like(log_in))[:, None]
    mean_in, var_in = inverse_variance(mm, e)
    mean_out, var_out = inverse_variance(mm, e, extra_var)
    mean = (1 - r) * mean_in + r * mean_out
    var = (1 - r) * (var_in + mean_in**2) + r * (var_out + mean_out**2) - mean**2
    return mean, var.clamp_min(1e-8)


PRIOR_GRID = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)
EXTRA_VAR_GRID = (0.02, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4)


def fit_conflict_model(
    mm: MeasurementModel, e: PathEstimates, y: torch.Tensor, conflict_share: float, seed: int = 0
) -> tuple[float, float]:
    """``(prior, extra_var)`` of :func:`conflict_aware` by maximum likelihood on held-out images with a face
    (``e``'s rows all have one).

    The fitting set is the images as they are, plus a share ``conflict_share`` of them with the scene
    prediction taken from another image (a context that says something else, as a misleading scene would):
    the model learns how far the paths may disagree before the scene stops being trusted, without ever
    seeing a test split.
    """
    mixed, yy, _ = with_swapped_scenes(e, y, conflict_share, seed)
    best, best_nll = (PRIOR_GRID[0], EXTRA_VAR_GRID[0]), float("inf")
    for prior in PRIOR_GRID:
        for extra in EXTRA_VAR_GRID:
            mean, var = conflict_aware(mm, mixed, prior, extra)
            nll = float((0.5 * (var.log() + (yy - mean) ** 2 / var)).mean())
            if nll < best_nll:
                best, best_nll = (prior, extra), nll
    return best


def with_swapped_scenes(
    e: PathEstimates, y: torch.Tensor, conflict_share: float, seed: int = 0
) -> tuple[PathEstimates, torch.Tensor, torch.Tensor]:
    """The rows as they are (domain 0) plus copies of rows with a face whose scene reading is another image's
    (domain 1: a context that says something else, as a misleading scene would), so that they make up
    ``conflict_share`` of the result; returns ``(rows, labels, domain)``. The copies keep their own face, frame context
    and label."""
    faces = torch.nonzero(e.has_face).flatten()
    n = len(faces)
    n_swap = round(len(y) * conflict_share / max(1e-9, 1 - conflict_share)) if n >= 2 else 0
    g = torch.Generator().manual_seed(seed)
    idx = faces[torch.randint(0, max(1, n), (n_swap,), generator=g)]
    other = faces[(torch.searchsorted(faces, idx) + torch.randint(1, max(2, n), (n_swap,), generator=g)) % max(1, n)]
    swapped = e.rows(idx)
    swapped.scene_mean, swapped.scene_var = e.scene_mean[other], e.scene_var[other]
    rows = PathEstimates.concat(e, swapped)
    domain = torch.cat([torch.zeros(len(y), dtype=torch.long), torch.ones(n_swap, dtype=torch.long)])
    return rows, torch.cat([y, y[idx]]), domain


def disagreement(mm: MeasurementModel, e: PathEstimates) -> torch.Tensor:
    """How far the two paths' estimates disagree relative to their stated spread: ``log(1 + mean z^2)``, ``(B,)``
    (0 where no face was found)."""
    m_s, v_s, m_f, v_f, has_face = e.unpack()
    y_s, u_s = mm.scene_estimate(m_s, v_s, has_face)
    y_f, u_f = mm.estimate(FACE, m_f, v_f)
    z2 = ((y_s - y_f) ** 2 / (u_s + u_f)).mean(-1)
    return torch.where(has_face, torch.log1p(z2), torch.zeros_like(z2))


class VarianceModel(nn.Module):
    """A fused variance that knows what predicts error, fitted on held-out data per method and dimension:
    ``log var' = c0 + c1 log var + c2 [no face] + c3 disagreement`` by Gaussian maximum likelihood.

    With ``c = (0, 1, 0, 0)`` it is the method's own variance; fitting ``c0`` alone is a plain calibration scale.
    """

    coef: torch.Tensor  # a buffer (registered in __init__)

    def __init__(self, methods: int) -> None:
        super().__init__()
        init = torch.tensor([0.0, 1.0, 0.0, 0.0]).expand(methods, 2, 4).clone()
        self.register_buffer("coef", init)

    @staticmethod
    def _features(var: torch.Tensor, has_face: torch.Tensor, conflict: torch.Tensor) -> torch.Tensor:
        ones = torch.ones_like(var)
        no_face = (~has_face).float()[:, None].expand_as(var)
        return torch.stack([ones, var.clamp_min(1e-8).log(), no_face, conflict[:, None].expand_as(var)], -1)

    def forward(self, method: int, var: torch.Tensor, has_face: torch.Tensor, conflict: torch.Tensor) -> torch.Tensor:
        """The calibrated variance ``(B, 2)`` of ``method``."""
        return ((self._features(var, has_face, conflict) * self.coef[method]).sum(-1)).clamp(-12, 6).exp()

    def fit(
        self,
        method: int,
        mean: torch.Tensor,
        var: torch.Tensor,
        has_face: torch.Tensor,
        conflict: torch.Tensor,
        y: torch.Tensor,
    ) -> None:
        """Maximum likelihood of the coefficients of ``method`` on ``(mean, var)`` against labels ``y``."""
        from emotune.models.components.heads import fit_log_variance

        x = self._features(var.detach(), has_face, conflict.detach())
        self.coef[method] = fit_log_variance(x, (mean.detach() - y) ** 2)
