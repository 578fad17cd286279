"""musicnn's Million-Song-Dataset taggers (Pons & Serra 2019, ISC) in PyTorch, with the weights of its wheel.

The ``musicnn`` wheel ships TensorFlow-1 checkpoints (``musicnn/MSD_musicnn/``, ``musicnn/MSD_vgg/``), read here
with :mod:`~emotune.models.components.tf_checkpoint` (no TensorFlow). The layers follow ``musicnn/models.py``:

* **musicnn** -- input ``(B, 187, 96)`` log-mel patches (3 s); batch norm on the input; a front end of timbral
  convolutions (7 x 38 and 7 x 67 over time x frequency, 204 filters each, time padded by 3) and temporal ones
  (128/64/32 x 1, 51 filters each, TensorFlow ``same`` padding: the odd extra row at the end), each ReLU -> batch
  norm -> max over frequency; a mid end of three 7-wide 1-D convolutions (64 filters, ReLU -> batch norm, the last
  two residual) whose outputs are stacked with the front end's (753 channels); a back end of max and mean pooling
  over time (interleaved, 1506), batch norm, a 200-unit dense layer (ReLU -> batch norm: the ``penultimate``
  features) and 50 tag logits. Dropout only acts in training; batch norm uses its moving statistics (eps 1e-3).
* **vgg** -- five 3 x 3 convolutions (128 filters, ``same``), each ReLU -> batch norm -> max pooling (4 x 1 stride
  2, then 2 x 2, 2 x 2, 2 x 2, 4 x 4), flattened (256) into 50 tag logits.

:func:`load_net` builds either from a checkpoint folder; :class:`MusicnnEmbedding` turns a song's patches into
one vector (tag probabilities and penultimate features averaged over the patches).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from emotune.audio.musicnn_input import MUSICNN_INPUT
from emotune.models.components.tf_checkpoint import read_checkpoint
from emotune.utils.errors import DataError

BN_EPS = 1e-3  # tf.compat.v1.layers.batch_normalization's default
CHUNK = 3  # patches per forward pass: larger batches fall out of the CPU caches (2x slower at 16)
MSD_TAGS = (
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s", "alternative rock",
    "jazz", "beautiful", "metal", "chillout", "male vocalists", "classic rock", "soul", "indie rock", "Mellow",
    "electronica", "80s", "folk", "90s", "chill", "instrumental", "punk", "oldies", "blues", "hard rock", "ambient",
    "acoustic", "experimental", "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country",
    "easy listening", "sexy", "catchy", "funk", "electro", "heavy metal", "Progressive rock", "60s", "rnb",
    "indie pop", "sad", "House", "happy",
)  # fmt: skip
Arch = Literal["musicnn", "vgg"]


def _bn(c: int, dims: int) -> nn.Module:
    return (nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d)(c, eps=BN_EPS)


class Musicnn(nn.Module):
    """musicnn (front end 7774 timbral + temporal, dense mid end, global-pool back end); see the module doc."""

    pad_extra_at_end = True  # TensorFlow's 'same' padding of an even kernel: the odd extra row after the input

    def __init__(
        self,
        n_mels: int = int(MUSICNN_INPUT["n_mels"]),
        n_classes: int = len(MSD_TAGS),
        midend: int = 64,
        backend: int = 200,
    ):
        super().__init__()
        self.bn_input = _bn(1, 2)
        self.timbral = nn.ModuleList(nn.Conv2d(1, 204, (7, int(r * n_mels))) for r in (0.4, 0.7))
        self.bn_timbral = nn.ModuleList(_bn(204, 2) for _ in range(2))
        self.temporal_kernels = (128, 64, 32)
        self.temporal = nn.ModuleList(nn.Conv2d(1, 51, (k, 1)) for k in self.temporal_kernels)
        self.bn_temporal = nn.ModuleList(_bn(51, 2) for _ in range(3))
        front = 2 * 204 + 3 * 51
        self.mid = nn.ModuleList(nn.Conv1d(c, midend, 7) for c in (front, midend, midend))
        self.bn_mid = nn.ModuleList(_bn(midend, 1) for _ in range(3))
        self.bn_pool = _bn(2 * (front + 3 * midend), 1)
        self.dense = nn.Linear(2 * (front + 3 * midend), backend)
        self.bn_dense = _bn(backend, 1)
        self.logits = nn.Linear(backend, n_classes)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``(B, frames, n_mels)`` log-mel -> ``logits (B, 50)``, ``penultimate (B, 200)``, ``mean_pool`` and
        ``max_pool`` ``(B, 753)``."""
        x = self.bn_input(x[:, None])  # (B, 1, T, F)
        feats = []
        for conv, bn in zip(self.timbral, self.bn_timbral):
            feats.append(self._conv_relu_bn_max(F.pad(x, (0, 0, 3, 3)), conv, bn))  # (B, 204, T)
        for conv, bn, k in zip(self.temporal, self.bn_temporal, self.temporal_kernels):
            short, long = (k - 1) // 2, k // 2
            pad = (0, 0, short, long) if self.pad_extra_at_end else (0, 0, long, short)
            feats.append(self._conv_relu_bn_max(F.pad(x, pad), conv, bn))  # (B, 51, T)
        front = torch.cat(feats, 1)  # (B, 561, T)
        h = self.bn_mid[0](F.relu(self.mid[0](F.pad(front, (3, 3)))))
        layers = [front, h]
        for conv, bn in zip(self.mid[1:], self.bn_mid[1:]):
            h = bn(F.relu(conv(F.pad(h, (3, 3))))) + h
            layers.append(h)
        mid = torch.cat(layers, 1)  # (B, 753, T)
        max_pool, mean_pool = mid.amax(-1), mid.mean(-1)
        pooled = torch.stack([max_pool, mean_pool], -1).flatten(1)  # TF: concat on a last axis, then flatten
        penultimate = self.bn_dense(F.relu(self.dense(self.bn_pool(pooled))))
        return {"logits": self.logits(penultimate), "penultimate": penultimate, "mean_pool": mean_pool,
                "max_pool": max_pool}  # fmt: skip

    def _conv_relu_bn_max(self, x: torch.Tensor, conv: nn.Module, bn: nn.Module) -> torch.Tensor:
        """Convolution -> ReLU -> batch norm -> max over frequency, ``(B, C, T, F) -> (B, C, T)``.

        In eval mode ReLU and the norm are monotonic per channel (non-increasing where the norm's scale is
        negative, as for most of musicnn's channels), so they are applied after the reduction: the max of the
        channels with a positive scale, the min of the others, taken as the max of the convolution with those
        channels' weights negated (exact in floating point). The same numbers; the large map is read once."""
        c, b = cast(nn.Conv2d, conv), cast(nn.BatchNorm2d, bn)
        if self.training:
            return b(F.relu(c(x))).amax(-1)
        sign = torch.where(cast(torch.Tensor, b.weight) >= 0, 1.0, -1.0)
        y = F.conv2d(x, c.weight * sign[:, None, None, None], cast(torch.Tensor, c.bias) * sign)
        extreme = y.amax(-1) * sign[None, :, None]  # the max, or (negated channels) the min, over frequency
        return F.batch_norm(F.relu(extreme), b.running_mean, b.running_var, b.weight, b.bias, False, 0.0, b.eps)

    def load_tf(self, t: dict[str, np.ndarray]) -> None:
        """Copy the TensorFlow variables (``conv2d*``, ``batch_normalization*``, ``dense*``) into this network."""
        convs = [*self.timbral, *self.temporal]
        for i, conv in enumerate(convs):
            _conv2d(cast(nn.Conv2d, conv), t, f"conv2d{_suffix(i)}")
        for i, conv in enumerate(self.mid):
            w = t[f"conv2d_{len(convs) + i}/kernel"]  # (7, C, 1, out): a 1-D convolution over time
            conv.weight.data = torch.from_numpy(w[:, :, 0, :].transpose(2, 1, 0).copy())
            conv.bias.data = torch.from_numpy(t[f"conv2d_{len(convs) + i}/bias"].copy())
        bns = [self.bn_input, *self.bn_timbral, *self.bn_temporal, *self.bn_mid, self.bn_pool, self.bn_dense]
        for i, bn in enumerate(bns):
            _batch_norm(bn, t, f"batch_normalization{_suffix(i)}")
        for lin, name in ((self.dense, "dense"), (self.logits, "dense_1")):
            lin.weight.data = torch.from_numpy(t[f"{name}/kernel"].T.copy())
            lin.bias.data = torch.from_numpy(t[f"{name}/bias"].copy())


class VGG(nn.Module):
    """musicnn's VGG baseline (five 3 x 3 conv blocks, 128 filters); see the module doc."""

    POOLS = (((4, 1), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((4, 4), (4, 4)))

    def __init__(self, n_classes: int = len(MSD_TAGS), filters: int = 128) -> None:
        super().__init__()
        self.bn_input = _bn(1, 2)
        self.convs = nn.ModuleList(nn.Conv2d(1 if i == 0 else filters, filters, 3, padding=1) for i in range(5))
        self.bns = nn.ModuleList(_bn(filters, 2) for _ in range(5))
        self.logits = nn.Linear(2 * filters, n_classes)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``(B, 187, 96)`` log-mel -> ``logits (B, 50)`` and ``pool5 (B, 256)`` (TensorFlow's flattening order)."""
        h = self.bn_input(x[:, None])
        for conv, bn, (k, s) in zip(self.convs, self.bns, self.POOLS):
            h = F.max_pool2d(bn(F.relu(conv(h))), k, s)  # TF 'valid' pooling: no padding
        pool5 = h.permute(0, 2, 3, 1).flatten(1)  # NHWC order, as tf.layers.flatten
        return {"logits": self.logits(pool5), "pool5": pool5}

    def load_tf(self, t: dict[str, np.ndarray]) -> None:
        """Copy the TensorFlow variables (``1CNN``..``5CNN``, ``batch_normalization*``, ``dense``)."""
        for i, conv in enumerate(self.convs):
            _conv2d(cast(nn.Conv2d, conv), t, f"{i + 1}CNN")
        for i, bn in enumerate([self.bn_input, *self.bns]):
            _batch_norm(bn, t, f"batch_normalization{_suffix(i)}")
        self.logits.weight.data = torch.from_numpy(t["dense/kernel"].T.copy())
        self.logits.bias.data = torch.from_numpy(t["dense/bias"].copy())


def _suffix(i: int) -> str:
    return "" if i == 0 else f"_{i}"


def _conv2d(conv: nn.Conv2d, t: dict[str, np.ndarray], name: str) -> None:
    w = t[f"{name}/kernel"]  # (kh, kw, in, out)
    if tuple(w.shape) != (*conv.kernel_size, conv.in_channels, conv.out_channels):
        raise DataError(f"musicnn checkpoint: {name}/kernel {w.shape} does not fit {conv}.")
    conv.weight.data = torch.from_numpy(w.transpose(3, 2, 0, 1).copy())
    if conv.bias is not None:
        conv.bias.data = torch.from_numpy(t[f"{name}/bias"].copy())


def _batch_norm(bn: nn.Module, t: dict[str, np.ndarray], name: str) -> None:
    for ours, theirs in (("weight", "gamma"), ("bias", "beta"), ("running_mean", "moving_mean"),
                         ("running_var", "moving_variance")):  # fmt: skip
        value = torch.from_numpy(t[f"{name}/{theirs}"].copy())
        target = getattr(bn, ours)
        if target.shape != value.shape:
            raise DataError(
                f"musicnn checkpoint: {name}/{theirs} {tuple(value.shape)} does not fit {tuple(target.shape)}."
            )
        target.data = value


def load_net(folder: str | Path | None, arch: Arch) -> nn.Module:
    """musicnn or VGG with the weights of the checkpoint in ``folder`` (``None``: random init), in eval mode."""
    net: Musicnn | VGG = Musicnn() if arch == "musicnn" else VGG()
    if folder is not None:
        net.load_tf(_weights(str(folder).rstrip("/") + "/"))
    return net.eval()


@lru_cache(maxsize=4)
def _weights(prefix: str) -> dict[str, np.ndarray]:
    """The checkpoint's variables without the optimizer's slots (read once per process; the wheel's files are
    named ``.index`` and ``.data-...``: an empty name after the folder)."""
    tensors = read_checkpoint(prefix)
    return {k: v for k, v in tensors.items() if not k.endswith(("/Adam", "/Adam_1", "_power"))}


LAYERS: dict[str, dict[str, int]] = {  # what an embedding can take from each architecture, and its width
    "musicnn": {"tags": 50, "penultimate": 200, "mean_pool": 753, "max_pool": 753},
    "vgg": {"tags": 50, "pool5": 256},
}


class MusicnnEmbedding(nn.Module):
    """A song's patches ``(B, P, frames, n_mels)`` -> ``(B, E)``: the chosen layers of every patch (tags as
    probabilities), averaged over the patches.

    Args:
        net: a :class:`Musicnn` or :class:`VGG` (frozen, eval mode).
        arch: ``musicnn`` or ``vgg``.
        layers: which outputs, in order (:data:`LAYERS`).
    """

    def __init__(self, net: nn.Module, arch: Arch, layers: tuple[str, ...] = ("tags", "penultimate")) -> None:
        super().__init__()
        bad = [k for k in layers if k not in LAYERS[arch]]
        if bad:
            raise DataError(f"musicnn {arch} has no layer(s) {', '.join(bad)}; valid: {', '.join(LAYERS[arch])}.")
        self.net: nn.Module = net
        self.arch, self.layers = arch, tuple(layers)
        self.num_features = sum(LAYERS[arch][k] for k in layers)

    def per_patch(self, patches: torch.Tensor) -> torch.Tensor:
        """``(N, frames, n_mels)`` -> ``(N, E)`` (the chosen layers of each patch)."""
        out = self.net(patches)
        out["tags"] = torch.sigmoid(out["logits"])
        return torch.cat([out[k] for k in self.layers], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, P, frames, n_mels)`` -> ``(B, E)``, the mean over the ``P`` patches (run :data:`CHUNK` patches at
        a time: one patch's front end holds about 9 MB of activations)."""
        b, p = x.shape[:2]
        flat = x.reshape(b * p, *x.shape[2:]).float()
        out = torch.cat([self.per_patch(c) for c in flat.split(CHUNK)]) if len(flat) else flat.new_zeros(0, 1)
        return out.view(b, p, -1).mean(1)
