"""The V-A regression head and MC Dropout through the head only."""

from __future__ import annotations

import torch
from torch import nn


class VAHead(nn.Module):
    """Linear (``hidden=None``) or MLP head mapping features to (valence, arousal) on [-1, 1].

    Dropout sits before each linear layer so MC Dropout has something to sample.
    """

    def __init__(self, in_features: int, hidden: int | None = None, dropout: float = 0.2) -> None:
        super().__init__()
        if hidden:
            self.net = nn.Sequential(
                nn.Dropout(dropout),
                nn.Linear(in_features, hidden),
                nn.GELU(),
                nn.Dropout(dropout),
                nn.Linear(hidden, 2),
            )
        else:
            self.net = nn.Sequential(nn.Dropout(dropout), nn.Linear(in_features, 2))

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.net(feats)


@torch.no_grad()
def mc_dropout(head: nn.Module, feats: torch.Tensor, samples: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance of ``samples`` stochastic head passes over fixed features.

    The features are repeated once and pushed through the head in one batch, so the cost is one
    backbone pass plus ``samples`` cheap head passes. Returns ``(B, 2)`` mean and ``(B, 2)`` variance.
    """
    was_training = head.training
    head.train()  # dropout on (the head has no batch norm)
    try:
        B = feats.shape[0]
        out = head(feats.repeat(samples, 1)).view(samples, B, -1)
    finally:
        head.train(was_training)
    var = out.var(dim=0, unbiased=True) if samples > 1 else torch.zeros_like(out[0])
    return out.mean(dim=0), var
