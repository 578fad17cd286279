"""Losses for V-A regression: MSE, Huber, and 1 - CCC (concordance)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class CCCLoss(nn.Module):
    """``1 - mean CCC`` over the two dimensions (batch statistics)."""

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``1 - mean CCC`` of a batch."""
        pm, tm = pred.mean(0), target.mean(0)
        pv, tv = pred.var(0, unbiased=False), target.var(0, unbiased=False)
        cov = ((pred - pm) * (target - tm)).mean(0)
        ccc = 2 * cov / (pv + tv + (pm - tm) ** 2 + 1e-8)
        return 1 - ccc.mean()


def build_loss(name: str) -> nn.Module:
    """``mse`` | ``huber`` | ``ccc``."""
    from emotune.utils.errors import ConfigError

    losses: dict[str, Callable[[], nn.Module]] = {
        "mse": nn.MSELoss,
        "huber": lambda: nn.HuberLoss(delta=0.5),
        "ccc": CCCLoss,
    }
    if name not in losses:
        raise ConfigError(f"model.loss={name!r} is not valid; choose one of: {', '.join(losses)}.")
    return losses[name]()
