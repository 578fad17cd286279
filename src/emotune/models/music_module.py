"""The music phase: log-mel spectrogram of a song excerpt -> V-A (the labeller ``make library`` uses)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from emotune.audio.features import DEFAULT_FEATURES, log_mel, windows
from emotune.data.scales import DEAM_STATIC
from emotune.models.va_module import VARegressor


class MusicLitModule(VARegressor):
    """Music path: reads ``batch["audio"]`` (``(B, 1, n_mels, frames)`` log-mel); labels on DEAM's 1..9 scale.

    Args:
        features: spectrogram settings (``sample_rate``, ``n_fft``, ``hop_length``, ``n_mels``, ``excerpt_s``,
            ``fmin``, ``fmax``); stored in the checkpoint as its preprocessing.
        **kwargs: see :class:`VARegressor` (its backbone is built with one input channel).
    """

    phase = "music"
    input_key = "audio"
    label_scale = DEAM_STATIC

    def __init__(self, features: dict | None = None, **kwargs: Any) -> None:
        kwargs["backbone"] = {**dict(kwargs["backbone"]), "in_chans": 1}
        kwargs.setdefault("data_config", {**DEFAULT_FEATURES, **dict(features or {})})
        super().__init__(**kwargs)

    @torch.no_grad()
    def predict_audio(self, audio: np.ndarray, max_windows: int = 5) -> tuple[np.ndarray, np.ndarray]:
        """V-A on the reference scale and its variance for one song's samples (mean over excerpt windows;
        the variance adds the spread between windows to the model's own)."""
        cfg = self.data_config
        x = torch.stack([log_mel(w, cfg) for w in windows(audio, cfg, max_windows)])
        mean, var = self.predict_mc(x)
        spread = mean.var(0, unbiased=False) if len(mean) > 1 else torch.zeros(2)
        return mean.mean(0).numpy(), (var.mean(0) + spread).numpy()
