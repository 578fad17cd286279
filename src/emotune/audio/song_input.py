"""What a music model reads from one song's excerpt, by the kind of its preprocessing (``data_config["kind"]``).

* ``log_mel``: the samples themselves (the model windows them);
* ``descriptors``: the hand-crafted descriptor vector (:mod:`emotune.audio.descriptors`);
* ``musicnn``: one flat float32 vector, the descriptor vector (when ``descriptors`` settings are given) followed
  by ``patches`` log-mel patches of musicnn's input (:mod:`emotune.audio.musicnn_input`), flattened; the model
  splits it again (:func:`musicnn_layout`) and runs the network on the patches.

Everything here is numpy/torch on CPU and runs in the loader's worker processes.
"""

from __future__ import annotations

import numpy as np

from emotune.audio.descriptors import describe, descriptor_dim
from emotune.audio.musicnn_input import musicnn_patches
from emotune.utils.errors import ConfigError

KINDS = ("log_mel", "descriptors", "musicnn")


def musicnn_layout(cfg: dict) -> tuple[int, int, int, int]:
    """``(descriptor count, patches, patch frames, mel bands)`` of a ``musicnn`` input vector."""
    desc = cfg.get("descriptors")
    d = descriptor_dim(desc) if desc else 0
    return d, int(cfg["patches"]), int(cfg["patch_frames"]), int(cfg["n_mels"])


def check_musicnn_settings(cfg: dict) -> None:
    """Descriptors read the same decoded samples as the network: their sample rate must be musicnn's."""
    desc = cfg.get("descriptors")
    if desc and int(desc["sample_rate"]) != int(cfg["sample_rate"]):
        raise ConfigError(
            f"model.features.descriptors.sample_rate={desc['sample_rate']} must equal musicnn's "
            f"{cfg['sample_rate']} (one decode per song)."
        )
    if int(cfg["patches"]) < 1:
        raise ConfigError(f"model.features.patches={cfg['patches']} must be >= 1.")


def song_input(audio: np.ndarray, cfg: dict) -> np.ndarray:
    """The model input of one excerpt (mono float32 at ``cfg["sample_rate"]``), by ``cfg["kind"]``."""
    kind = cfg.get("kind", "log_mel")
    if kind == "descriptors":
        return describe(audio, cfg)
    if kind == "musicnn":
        desc = cfg.get("descriptors")
        parts = [describe(audio, desc)] if desc else []
        parts.append(musicnn_patches(audio, cfg, int(cfg["patches"])).reshape(-1))
        return np.concatenate(parts).astype(np.float32)
    if kind == "log_mel":
        return np.asarray(audio, np.float32)
    raise ConfigError(f"model.features.kind={kind!r} is not valid; choose one of: {', '.join(KINDS)}.")
