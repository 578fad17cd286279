"""Combining the scene and face paths: inverse-variance, conflict-aware, learned linear, fixed 0.6/0.4.

All take ``(B, 2)`` means and variances and a ``(B,)`` bool ``has_face``; where no face was found the
scene path is used alone (the design's contingency).
"""

from __future__ import annotations

import math

import torch
from torch import nn

FUSION_METHODS = ("ivw", "robust", "learned", "fixed")
DEFAULT_SCENE_WEIGHT = 0.6  # the design's fixed fallback: 0.6 scene / 0.4 face


def inverse_variance(
    m_s: torch.Tensor, v_s: torch.Tensor, m_f: torch.Tensor, v_f: torch.Tensor, has_face: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Precision-weighted mean; fused variance ``1 / (1/v_s + 1/v_f)``."""
    w_s, w_f = 1.0 / v_s.clamp_min(1e-6), 1.0 / v_f.clamp_min(1e-6)
    w_f = torch.where(has_face[:, None], w_f, torch.zeros_like(w_f))
    return (w_s * m_s + w_f * m_f) / (w_s + w_f), 1.0 / (w_s + w_f)


def fixed(
    m_s: torch.Tensor,
    v_s: torch.Tensor,
    m_f: torch.Tensor,
    v_f: torch.Tensor,
    has_face: torch.Tensor,
    scene_weight: float = DEFAULT_SCENE_WEIGHT,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``scene_weight * scene + (1 - scene_weight) * face`` (variance combined the same way)."""
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

    def forward(
        self, m_s: torch.Tensor, v_s: torch.Tensor, m_f: torch.Tensor, v_f: torch.Tensor, has_face: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Weighted sum where a face was found, the scene path elsewhere."""
        both = self.w[0] * m_s + self.w[1] * m_f + self.b
        mean = torch.where(has_face[:, None], both, m_s)
        var = torch.where(has_face[:, None], self.w[0] ** 2 * v_s + self.w[1] ** 2 * v_f, v_s)
        return mean, var


def _log_normal(x: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """Log density of ``N(0, var)`` at ``x``, summed over the last dimension."""
    return (-0.5 * (math.log(2 * math.pi) + var.log() + x**2 / var)).sum(-1)


def conflict_aware(
    m_s: torch.Tensor,
    v_s: torch.Tensor,
    m_f: torch.Tensor,
    v_f: torch.Tensor,
    has_face: torch.Tensor,
    prior: float,
    extra_var: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverse-variance fusion that allows the scene to mislead.

    With probability ``prior`` the context misleads: the scene path's error then has ``extra_var`` more
    variance. The disagreement ``m_s - m_f`` (both dimensions) gives the posterior probability ``r`` of that
    case; the fused estimate is the posterior mixture of the two inverse-variance fusions, so a scene path
    that contradicts the face beyond its stated spread loses its say, and the fused variance grows with the
    conflict.
    """
    v_s, v_f = v_s.clamp_min(1e-6), v_f.clamp_min(1e-6)
    delta = m_s - m_f
    log_in = math.log1p(-prior) + _log_normal(delta, v_s + v_f)
    log_out = math.log(prior) + _log_normal(delta, v_s + v_f + extra_var)
    r = torch.sigmoid(log_out - log_in)[:, None]  # P(context misleads | disagreement)
    mean_in, var_in = inverse_variance(m_s, v_s, m_f, v_f, has_face)
    mean_out, var_out = inverse_variance(m_s, v_s + extra_var, m_f, v_f, has_face)
    mean = (1 - r) * mean_in + r * mean_out
    var = (1 - r) * (var_in + mean_in**2) + r * (var_out + mean_out**2) - mean**2
    mean = torch.where(has_face[:, None], mean, m_s)
    var = torch.where(has_face[:, None], var.clamp_min(1e-8), v_s)
    return mean, var


PRIOR_GRID = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3)
EXTRA_VAR_GRID = (0.02, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6)


def fit_conflict_model(
    m_s: torch.Tensor,
    v_s: torch.Tensor,
    m_f: torch.Tensor,
    v_f: torch.Tensor,
    y: torch.Tensor,
    conflict_share: float,
    seed: int = 0,
) -> tuple[float, float]:
    """``(prior, extra_var)`` of :func:`conflict_aware` by maximum likelihood on held-out images with a face.

    The fitting set is the images as they are, plus a share ``conflict_share`` of them with the scene
    prediction taken from another image (a context that says something else, as a misleading scene would):
    the model learns how far the paths may disagree before the scene stops being trusted, without ever
    seeing a test split.
    """
    n = len(y)
    g = torch.Generator().manual_seed(seed)
    n_swap = round(n * conflict_share / max(1e-9, 1 - conflict_share))
    idx = torch.randint(0, n, (n_swap,), generator=g)
    other = (idx + torch.randint(1, max(2, n), (n_swap,), generator=g)) % n  # another image's scene
    ms = torch.cat([m_s, m_s[other]])
    vs = torch.cat([v_s, v_s[other]])
    mf, vf, yy = torch.cat([m_f, m_f[idx]]), torch.cat([v_f, v_f[idx]]), torch.cat([y, y[idx]])
    hf = torch.ones(len(yy), dtype=torch.bool)
    best, best_nll = (PRIOR_GRID[0], EXTRA_VAR_GRID[0]), float("inf")
    for prior in PRIOR_GRID:
        for extra in EXTRA_VAR_GRID:
            mean, var = conflict_aware(ms, vs, mf, vf, hf, prior, extra)
            nll = float((0.5 * (var.log() + (yy - mean) ** 2 / var)).mean())
            if nll < best_nll:
                best, best_nll = (prior, extra), nll
    return best
