"""Combining the scene and face paths: inverse-variance, learned linear, fixed 0.6/0.4.

All functions take ``(B, 2)`` means and variances and a ``(B,)`` bool ``has_face``; where no face
was found the scene path is used alone (the design's contingency).
"""

from __future__ import annotations

import torch
from torch import nn

FUSION_METHODS = ("ivw", "learned", "fixed")


def inverse_variance(
    m_s: torch.Tensor,
    v_s: torch.Tensor,
    m_f: torch.Tensor,
    v_f: torch.Tensor,
    has_face: torch.Tensor,
    eps: float = 1e-6,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Precision-weighted mean; fused variance ``1 / (1/v_s + 1/v_f)``."""
    w_s, w_f = 1.0 / (v_s + eps), 1.0 / (v_f + eps)
    w_f = torch.where(has_face[:, None], w_f, torch.zeros_like(w_f))
    mean = (w_s * m_s + w_f * m_f) / (w_s + w_f)
    return mean, 1.0 / (w_s + w_f)


def fixed(
    m_s: torch.Tensor,
    v_s: torch.Tensor,
    m_f: torch.Tensor,
    v_f: torch.Tensor,
    has_face: torch.Tensor,
    scene_weight: float = 0.6,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``scene_weight * scene + (1 - scene_weight) * face`` (variance combined the same way)."""
    w = scene_weight
    mean = torch.where(has_face[:, None], w * m_s + (1 - w) * m_f, m_s)
    var = torch.where(has_face[:, None], w**2 * v_s + (1 - w) ** 2 * v_f, v_s)
    return mean, var


class LinearFusion(nn.Module):
    """Learned per-dimension weights for each path plus a bias (initialised at 0.6/0.4)."""

    def __init__(self, scene_weight: float = 0.6) -> None:
        super().__init__()
        self.w = nn.Parameter(
            torch.tensor([[scene_weight, scene_weight], [1 - scene_weight, 1 - scene_weight]])
        )
        self.b = nn.Parameter(torch.zeros(2))

    def forward(
        self,
        m_s: torch.Tensor,
        v_s: torch.Tensor,
        m_f: torch.Tensor,
        v_f: torch.Tensor,
        has_face: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        both = self.w[0] * m_s + self.w[1] * m_f + self.b
        mean = torch.where(has_face[:, None], both, m_s)
        var = torch.where(has_face[:, None], self.w[0] ** 2 * v_s + self.w[1] ** 2 * v_f, v_s)
        return mean, var
