"""Image transforms built from a backbone's data config (size, mean, std): augmented for training,
deterministic for evaluation and inference."""

from __future__ import annotations

import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms import v2 as T

_INTERP = {
    "bicubic": InterpolationMode.BICUBIC,
    "bilinear": InterpolationMode.BILINEAR,
    "nearest": InterpolationMode.NEAREST,
}


def build_transform(data_config: dict, train: bool = False) -> T.Compose:
    """uint8 ``(3, H, W)`` RGB tensor -> normalised float tensor at ``input_size``."""
    size = int(data_config["input_size"])
    interp = _INTERP.get(str(data_config.get("interpolation", "bilinear")), InterpolationMode.BILINEAR)
    norm = T.Normalize(mean=data_config["mean"], std=data_config["std"])
    if train:
        return T.Compose(
            [
                T.RandomResizedCrop(
                    size, scale=(0.75, 1.0), ratio=(0.9, 1.1), interpolation=interp, antialias=True
                ),
                T.RandomHorizontalFlip(),
                T.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.15),
                T.ToDtype(torch.float32, scale=True),
                norm,
            ]
        )
    return T.Compose(
        [
            T.Resize(size, interpolation=interp, antialias=True),
            T.CenterCrop(size),
            T.ToDtype(torch.float32, scale=True),
            norm,
        ]
    )
