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


def build_transform(data_config: dict, train: bool = False, color_jitter: float = 0.0) -> T.Compose:
    """uint8 ``(3, H, W)`` RGB tensor -> normalised float tensor at ``input_size`` (grey ``(1, H, W)`` when the
    data config says ``channels: 1``); ``train`` adds random crops, flips and colour jitter, stronger with
    ``color_jitter`` (0..1; 1: any hue, wide brightness and saturation, so colour cannot stand in for shape)."""
    size = int(data_config["input_size"])
    interp = _INTERP.get(str(data_config.get("interpolation", "bilinear")), InterpolationMode.BILINEAR)
    norm = T.Normalize(mean=data_config["mean"], std=data_config["std"])
    # ITU-R 601 luma, as cv2's BGR2GRAY that grey-input networks (fer) were trained with
    grey = [T.Grayscale(1)] if int(data_config.get("channels", 3)) == 1 else []
    if train:
        return T.Compose(
            [
                T.RandomResizedCrop(size, scale=(0.75, 1.0), ratio=(0.9, 1.1), interpolation=interp, antialias=True),
                T.RandomHorizontalFlip(),
                T.ColorJitter(
                    brightness=0.2 + 0.4 * color_jitter,
                    contrast=0.2 + 0.3 * color_jitter,
                    saturation=0.15 + 0.65 * color_jitter,
                    hue=0.5 * color_jitter,
                ),
                *grey,
                T.ToDtype(torch.float32, scale=True),
                norm,
            ]
        )
    return T.Compose(
        [
            T.Resize(size, interpolation=interp, antialias=True),
            T.CenterCrop(size),
            *grey,
            T.ToDtype(torch.float32, scale=True),
            norm,
        ]
    )
