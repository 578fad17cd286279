"""The music phase: a song excerpt -> V-A with σ (the labeller ``make library`` uses).

Two input representations, chosen by ``features.kind`` and stored in the checkpoint as its preprocessing:

* ``log_mel`` (the demo's): log-mel excerpts into a small timm ConvNeXt trained end to end;
* ``descriptors`` (the default labeller's): hand-crafted descriptors of a 30-second excerpt
  (:mod:`emotune.audio.descriptors`) into a frozen standardiser
  (:mod:`emotune.models.components.descriptor_backbone`) and the usual V-A head.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import torch

from emotune.audio.descriptors import DEFAULT_DESCRIPTORS, describe, descriptor_dim
from emotune.audio.features import DEFAULT_FEATURES, log_mel, windows
from emotune.data.music_datamodule import MusicDataModule
from emotune.models.base import plain
from emotune.models.components import descriptor_backbone
from emotune.models.va_module import VARegressor
from emotune.utils.errors import ConfigError
from emotune.utils.scales import DEAM_STATIC

KINDS = ("log_mel", "descriptors")


def feature_settings(features: dict | None) -> dict:
    """The full preprocessing of a ``features`` node: its kind's defaults, then the given values."""
    features = dict(features or {})
    kind = features.get("kind", "log_mel")
    if kind not in KINDS:
        raise ConfigError(f"model.features.kind={kind!r} is not valid; choose one of: {', '.join(KINDS)}.")
    return {**(DEFAULT_DESCRIPTORS if kind == "descriptors" else {**DEFAULT_FEATURES, "kind": "log_mel"}), **features}


class MusicLitModule(VARegressor):
    """Music path: reads ``batch["audio"]`` (log-mel ``(B, 1, n_mels, frames)`` or descriptors ``(B, D)``).

    Args:
        features: the input representation (``kind`` and its settings); stored in the checkpoint.
        **kwargs: see :class:`VARegressor`. With ``kind=descriptors`` the backbone must be
            ``emotune_music_descriptors`` (its input width is set here from the descriptor count).
    """

    phase = "music"
    input_key = "audio"
    label_scale = DEAM_STATIC
    # checkpoints before ``features`` was saved: their ``data_config`` is the preprocessing
    legacy_hparams = {**VARegressor.legacy_hparams, "features": None}

    def __init__(self, *, features: dict | None, **kwargs: Any) -> None:
        saved = kwargs.get("data_config")  # restoring a checkpoint: its own preprocessing (older ones: log-mel)
        cfg = feature_settings(saved if saved else features)
        backbone = dict(kwargs["backbone"])
        if cfg["kind"] == "descriptors":
            if backbone.get("name") != descriptor_backbone.NAME:
                raise ConfigError(
                    f"model.features.kind=descriptors needs model.backbone.name={descriptor_backbone.NAME} "
                    f"(got {backbone.get('name')!r}); use model=music_descriptors."
                )
            backbone["in_chans"] = descriptor_dim(cfg)
        else:
            backbone["in_chans"] = 1
        kwargs["backbone"] = backbone
        kwargs["data_config"] = cfg
        super().__init__(**kwargs)
        self.hparams["features"] = plain(features)  # as given (restoring reads data_config, the full preprocessing)

    @property
    def kind(self) -> str:
        """``log_mel`` or ``descriptors``."""
        return str(self.data_config.get("kind", "log_mel"))

    def on_fit_start(self) -> None:
        """Fit the descriptor standardiser on the training songs (a frozen backbone with statistics)."""
        super().on_fit_start()
        dm = getattr(self.trainer, "datamodule", None)  # set by Trainer.fit, not declared on Trainer
        if self.kind == "descriptors":
            if not isinstance(dm, MusicDataModule):
                raise ConfigError(
                    "model=music_descriptors trains on a music datamodule (data=fourq | pmemo | deam_audio)."
                )
            norm = cast(descriptor_backbone.DescriptorNorm, self.backbone.body)  # the descriptors' backbone
            norm.fit(dm.train_inputs().to(self.device))

    @torch.no_grad()
    def predict_inputs(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """V-A on the reference scale and its variance for a batch of descriptor vectors ``(B, D)``."""
        mean, var = self.predict_mc(x.to(self.device))
        return mean.cpu().numpy(), var.cpu().numpy()

    def song_input(self, audio: np.ndarray) -> np.ndarray:
        """What this model reads from one song's excerpt: its descriptor vector, or (log-mel) the audio itself."""
        return describe(audio, self.data_config) if self.kind == "descriptors" else np.asarray(audio, np.float32)

    @torch.no_grad()
    def predict_audio(self, audio: np.ndarray, max_windows: int = 5) -> tuple[np.ndarray, np.ndarray]:
        """V-A on the reference scale and its variance for one song's samples at ``data_config["sample_rate"]``.

        Descriptors summarise the whole excerpt; log-mel takes the mean over excerpt windows, and its variance
        adds the spread between windows to the model's own.
        """
        if self.kind == "descriptors":
            means, variances = self.predict_inputs(torch.from_numpy(describe(audio, self.data_config))[None])
            return means[0], variances[0]
        cfg = self.data_config
        x = torch.stack([log_mel(w, cfg) for w in windows(audio, cfg, max_windows)])
        mean, var = self.predict_mc(x)
        spread = mean.var(0, unbiased=False) if len(mean) > 1 else torch.zeros(2)
        return mean.mean(0).numpy(), (var.mean(0) + spread).numpy()
