"""The music phase: a song excerpt -> V-A with σ (the labeller ``make library`` uses).

Three input representations, chosen by ``features.kind`` and stored in the checkpoint as its preprocessing:

* ``log_mel`` (the demo's): log-mel excerpts into a small timm ConvNeXt trained end to end;
* ``descriptors``: hand-crafted descriptors of a 30-second excerpt (:mod:`emotune.audio.descriptors`) into a
  frozen standardiser (:mod:`emotune.models.components.descriptor_backbone`) and the usual V-A head;
* ``musicnn`` (the default labeller's): the descriptors (optional) beside musicnn's MSD tag probabilities and
  penultimate features averaged over a few 3-second patches of the excerpt. The musicnn network is a frozen
  extractor built from its wheel (``features.net``: ``model/backbone=musicnn_msd``'s packaged network), never
  trained and never stored in checkpoints; its song vectors go through the same standardiser and head.

Predictions are reproducible: MC Dropout draws the same masks for every song (a fixed seed per row), so a song's
V-A and σ depend neither on the run nor on which other songs share its batch.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, cast

import numpy as np
import torch

from emotune.audio.descriptors import DEFAULT_DESCRIPTORS, descriptor_dim
from emotune.audio.features import DEFAULT_FEATURES, log_mel, windows
from emotune.audio.song_input import KINDS, check_musicnn_settings, musicnn_layout, song_input
from emotune.data.music_datamodule import VECTOR_KINDS, MusicDataModule
from emotune.models.base import plain
from emotune.models.components import descriptor_backbone
from emotune.models.components.backbones import Backbone, build_backbone
from emotune.models.components.packaged import get_packaged
from emotune.models.va_module import VARegressor
from emotune.utils.errors import ConfigError
from emotune.utils.scales import DEAM_STATIC

MC_SEED = 0  # MC Dropout's masks: the same for every song and every run


@lru_cache(maxsize=2)
def wheel_extractor(net: str) -> Backbone:
    """The frozen musicnn network ``net`` from its wheel, built once per process (the labelling workers and the
    module share it)."""
    return build_backbone("packaged", net, "wheel").eval().requires_grad_(False)


@torch.no_grad()
def song_vectors_of(x: torch.Tensor, cfg: dict) -> torch.Tensor:
    """``musicnn`` inputs ``(B, D + P * frames * n_mels)`` -> song vectors ``(B, D + E)``: the descriptors, then
    the network's embedding of the patches (in whatever process calls it: a labelling worker or the module)."""
    d, p, f, m = musicnn_layout(cfg)
    x = x.float().cpu()
    return torch.cat([x[:, :d], wheel_extractor(str(cfg["net"]))(x[:, d:].reshape(len(x), p, f, m))], 1)


def feature_settings(features: dict | None) -> dict:
    """The full preprocessing of a ``features`` node: its kind's defaults, then the given values."""
    features = dict(features or {})
    kind = features.get("kind", "log_mel")
    if kind not in KINDS:
        raise ConfigError(f"model.features.kind={kind!r} is not valid; choose one of: {', '.join(KINDS)}.")
    if kind == "descriptors":
        return {**DEFAULT_DESCRIPTORS, **features}
    if kind == "musicnn":
        net = get_packaged(str(features.get("net", "musicnn_msd")))
        out = {**net.data_config, "net": str(features.get("net", "musicnn_msd")), **features}
        if out.get("descriptors"):
            out["descriptors"] = {**DEFAULT_DESCRIPTORS, **out["descriptors"]}
        check_musicnn_settings(out)
        return out
    return {**DEFAULT_FEATURES, "kind": "log_mel", **features}


class MusicLitModule(VARegressor):
    """Music path: reads ``batch["audio"]`` (log-mel ``(B, 1, n_mels, frames)``, descriptors ``(B, D)`` or a
    ``musicnn`` input vector ``(B, D + P * frames * n_mels)``).

    Args:
        features: the input representation (``kind`` and its settings); stored in the checkpoint.
        **kwargs: see :class:`VARegressor`. With ``kind=descriptors`` or ``musicnn`` the backbone must be
            ``emotune_music_descriptors`` (the standardiser; its width is set here).
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
        extractor: Backbone | None = None
        if cfg["kind"] in VECTOR_KINDS:
            if backbone.get("name") != descriptor_backbone.NAME:
                raise ConfigError(
                    f"model.features.kind={cfg['kind']} needs model.backbone.name={descriptor_backbone.NAME} "
                    f"(got {backbone.get('name')!r}); use model=music_descriptors or model=music_musicnn."
                )
            width = descriptor_dim(cfg) if cfg["kind"] == "descriptors" else musicnn_layout(cfg)[0]
            if cfg["kind"] == "musicnn":  # frozen, from its wheel whatever load_pretrained says: never trained
                extractor = wheel_extractor(str(cfg["net"]))
                width += extractor.num_features
            backbone["in_chans"] = width
        else:
            backbone["in_chans"] = 1
        kwargs["backbone"] = backbone
        kwargs["data_config"] = cfg
        super().__init__(**kwargs)
        self.hparams["features"] = plain(features)  # as given (restoring reads data_config, the full preprocessing)
        # Not a registered submodule: its weights stay out of checkpoints (the wheel holds them).
        object.__setattr__(self, "_extractor", extractor)
        self._vectors: dict[str, torch.Tensor] = {}  # song key -> song vector, while training (the network is frozen)

    @property
    def kind(self) -> str:
        """``log_mel``, ``descriptors`` or ``musicnn``."""
        return str(self.data_config.get("kind", "log_mel"))

    @property
    def extractor(self) -> Backbone | None:
        """The frozen musicnn network of ``kind=musicnn`` (``None`` otherwise)."""
        return cast("Backbone | None", self.__dict__.get("_extractor"))

    # ------------------------------------------------------------------ song vectors
    @torch.no_grad()
    def song_vectors(self, x: torch.Tensor, keys: list[str] | None = None) -> torch.Tensor:
        """``musicnn`` inputs ``(B, D + P * frames * n_mels)`` -> song vectors ``(B, D + E)``: the descriptors,
        then the network's embedding of the patches (remembered per key while training)."""
        if self.extractor is None:
            return x
        todo = list(range(len(x))) if keys is None else [i for i, k in enumerate(keys) if k not in self._vectors]
        rows: dict[int, torch.Tensor] = {}
        if todo:
            for i, v in zip(todo, song_vectors_of(x[todo], self.data_config)):
                rows[i] = v
                if keys is not None:
                    self._vectors[keys[i]] = v
        out = [rows[i] if i in rows else self._vectors[cast(list, keys)[i]] for i in range(len(x))]
        return torch.stack(out).to(x.device)

    def features(self, x: torch.Tensor, keys: list[str] | None = None) -> torch.Tensor:
        """Backbone features; ``musicnn`` inputs become song vectors first."""
        if self.extractor is not None:
            x = self.song_vectors(x, keys)
        return super().features(x, keys)

    def on_fit_start(self) -> None:
        """Fit the standardiser on the training songs' vectors (a frozen backbone with statistics)."""
        super().on_fit_start()
        dm = getattr(self.trainer, "datamodule", None)  # set by Trainer.fit, not declared on Trainer
        if self.kind in VECTOR_KINDS:
            if not isinstance(dm, MusicDataModule):
                raise ConfigError(
                    f"features.kind={self.kind} trains on a music datamodule (data=fourq | pmemo | deam_audio)."
                )
            inputs = dm.train_inputs()
            vectors = self.song_vectors(inputs, dm.datasets["train"].keys if self.extractor is not None else None)
            norm = cast(descriptor_backbone.DescriptorNorm, self.backbone.body)  # the descriptors' backbone
            norm.fit(vectors.to(self.device))

    # ------------------------------------------------------------------ prediction
    def _raw_predictive(
        self, feats: torch.Tensor, samples: int | None, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """MC Dropout with the same masks for every song: each row is sampled alone from its own generator seeded at
        :data:`MC_SEED`, so its prediction depends neither on the run, nor on the other rows of the batch, nor on
        other threads (``generator`` is not used: a song's masks never depend on the caller)."""
        if self.hparams["uncertainty"] == "heteroscedastic" or len(feats) == 0:
            return super()._raw_predictive(feats, samples)
        means, variances = [], []
        for row in feats.split(1):
            masks = torch.Generator(device=row.device).manual_seed(MC_SEED)
            m, v = super()._raw_predictive(row, samples, masks)
            means.append(m)
            variances.append(v)
        return torch.cat(means), torch.cat(variances)

    @torch.no_grad()
    def predict_vectors(self, v: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """V-A on the reference scale and its variance for a batch of song vectors (:meth:`song_vectors`, e.g.
        computed by labelling workers with :func:`song_vectors_of`)."""
        mean, var = self.predict_features(VARegressor.features(self, v.to(self.device)))
        return mean.cpu().numpy(), var.cpu().numpy()

    @torch.no_grad()
    def predict_inputs(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """V-A on the reference scale and its variance for a batch of song inputs (descriptor or ``musicnn``
        vectors, :meth:`song_input`)."""
        mean, var = self.predict_mc(x.to(self.device))
        return mean.cpu().numpy(), var.cpu().numpy()

    def song_input(self, audio: np.ndarray) -> np.ndarray:
        """What this model reads from one song's excerpt (:func:`emotune.audio.song_input.song_input`)."""
        return song_input(audio, self.data_config)

    @torch.no_grad()
    def predict_audio(self, audio: np.ndarray, max_windows: int = 5) -> tuple[np.ndarray, np.ndarray]:
        """V-A on the reference scale and its variance for one song's samples at ``data_config["sample_rate"]``.

        Descriptors and ``musicnn`` summarise the whole excerpt; log-mel takes the mean over excerpt windows, and
        its variance adds the spread between windows to the model's own.
        """
        if self.kind in VECTOR_KINDS:
            means, variances = self.predict_inputs(torch.from_numpy(self.song_input(audio))[None])
            return means[0], variances[0]
        cfg = self.data_config
        x = torch.stack([log_mel(w, cfg) for w in windows(audio, cfg, max_windows)])
        mean, var = self.predict_mc(x)
        spread = mean.var(0, unbiased=False) if len(mean) > 1 else torch.zeros(2)
        return mean.mean(0).numpy(), (var.mean(0) + spread).numpy()
