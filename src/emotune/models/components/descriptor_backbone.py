"""The music descriptors' "backbone": a frozen standardiser, registered in timm's model registry.

The descriptors themselves (:mod:`emotune.audio.descriptors`) are computed from audio by the datamodule and by
``make library``, as the log-mel is for the spectrogram model; this module turns a ``(B, D)`` batch of them into
standardised features with the training songs' mean and spread (buffers fitted once per training run and saved
in the checkpoint). Registering it with timm lets the music phase build it through the same backbone factory as
every other path (``source: timm``, ``name: emotune_music_descriptors``, ``in_chans``: the descriptor count).
"""

from __future__ import annotations

from typing import Any

import torch
from timm.models import register_model
from torch import nn

NAME = "emotune_music_descriptors"
CLIP = 5.0  # standardised values beyond ±5 σ are clipped (one odd song must not dominate a linear head)


class DescriptorNorm(nn.Module):
    """``(B, D)`` descriptors -> ``(B, D)`` standardised with the training set's statistics; no trainable weights.

    Args:
        in_chans: the descriptor count ``D``.
    """

    mean: torch.Tensor  # buffers (registered in __init__)
    scale: torch.Tensor
    fitted: torch.Tensor

    def __init__(self, in_chans: int = 1, **_: Any) -> None:
        super().__init__()
        self.num_features = int(in_chans)
        self.register_buffer("mean", torch.zeros(self.num_features))
        self.register_buffer("scale", torch.ones(self.num_features))
        self.register_buffer("fitted", torch.tensor(False))

    @torch.no_grad()
    def fit(self, x: torch.Tensor) -> None:
        """Set the statistics from the training songs' descriptors ``(N, D)``."""
        if x.ndim != 2 or x.shape[1] != self.num_features:
            raise ValueError(f"DescriptorNorm.fit expects (N, {self.num_features}) descriptors, got {tuple(x.shape)}.")
        x = x.float()
        self.mean.copy_(x.mean(0))
        self.scale.copy_(x.std(0, unbiased=False).clamp_min(1e-6))
        self.fitted.fill_(True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Standardised, clipped descriptors."""
        return ((x.float() - self.mean) / self.scale).clamp(-CLIP, CLIP)


@register_model
def emotune_music_descriptors(pretrained: bool = False, **kwargs: Any) -> DescriptorNorm:
    """timm entry point of :class:`DescriptorNorm` (nothing pretrained: its statistics come from training)."""
    return DescriptorNorm(in_chans=int(kwargs.get("in_chans", 1)))
