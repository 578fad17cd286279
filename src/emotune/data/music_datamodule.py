"""LightningDataModule for the music phase: songs with V-A and audio, as the model's input representation.

Song sets (``format``): ``deam`` (DEAM's layout: the real DEAM or the synthetic catalogue), ``fourq`` (the 4Q
clips, targets ±0.5 from their quadrant) and ``pmemo`` (PMEmo's static V-A). Each song's audio is decoded once
(``max_seconds`` around its middle) into what the model reads (``model.features.kind``): a log-mel kept whole
(training takes random excerpts, evaluation the first) or one descriptor vector. Both are cached in a file keyed
by the settings and each audio file's version. Missing and unreadable audio files are counted and skipped.
Targets are on the [-1, 1] reference.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import lightning as L
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from emotune.audio.features import excerpt_samples, log_mel
from emotune.audio.io import decode_excerpt
from emotune.audio.song_input import song_input
from emotune.data.catalog import Catalog
from emotune.data.deam import load_deam
from emotune.data.fourq import load_fourq
from emotune.data.pmemo import load_pmemo
from emotune.data.splits import annotation_fingerprint, load_or_make_split
from emotune.data.va_dataset import make_loader
from emotune.utils.errors import ConfigError, DataError
from emotune.utils.io import atomic_path, file_lock, file_stamp
from emotune.utils.scales import DEAM_STATIC

log = logging.getLogger(__name__)

VECTOR_KINDS = ("descriptors", "musicnn")  # one input vector per song (no random crops)
LOADERS: dict[str, Callable[[str | Path], Catalog]] = {"deam": load_deam, "fourq": load_fourq, "pmemo": load_pmemo}


def song_features(path: str, cfg: dict, max_seconds: float) -> torch.Tensor:
    """Log-mel ``(n_mels, frames)`` of a song: up to ``max_seconds`` around its middle, looped to one excerpt."""
    audio = decode_excerpt(path, int(cfg["sample_rate"]), max_seconds)
    n = excerpt_samples(cfg)
    if len(audio) < n:
        audio = np.tile(audio, int(np.ceil(n / max(1, len(audio)))))
    return log_mel(audio, cfg)[0].half()


def song_vector_input(path: str, cfg: dict) -> torch.Tensor:
    """The input vector of a song's ``excerpt_s`` seconds around its middle (descriptors, or a ``musicnn``
    input: :func:`emotune.audio.song_input.song_input`)."""
    audio = decode_excerpt(path, int(cfg["sample_rate"]), float(cfg["excerpt_s"]))
    return torch.from_numpy(song_input(audio, cfg))


class SongDataset(Dataset):
    """Cached song inputs: log-mels cropped to ``frames`` (random crops when training, else the first), or
    descriptor vectors as they are (``frames=None``)."""

    def __init__(self, inputs: list[torch.Tensor], va: np.ndarray, keys: list[str], frames: int | None, train: bool):
        self.inputs, self.keys, self.frames, self.train = inputs, keys, frames, train
        self.va = torch.tensor(va, dtype=torch.float32)

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, i: int) -> dict[str, Any]:
        x = self.inputs[i]
        if self.frames is None:
            return {"audio": x.float(), "va": self.va[i], "key": self.keys[i]}
        start = int(torch.randint(0, x.shape[1] - self.frames + 1, ()).item()) if self.train else 0
        return {"audio": x[None, :, start : start + self.frames].float(), "va": self.va[i], "key": self.keys[i]}


def collate(items: list[dict]) -> dict[str, Any]:
    """Stack tensors; keep keys as a list."""
    return {
        "audio": torch.stack([it["audio"] for it in items]),
        "va": torch.stack([it["va"] for it in items]),
        "key": [it["key"] for it in items],
    }


class MusicDataModule(L.LightningDataModule):
    """Songs for ``phase=music``.

    Args:
        root: the song set's folder.
        format: ``deam`` | ``fourq`` | ``pmemo`` (the layout of ``root``).
        split_file: the saved song split (``None``: ``<root>/music_splits.csv``).
        split_seed: seed of a new split.
        split_fractions: train, val, test shares of a new split (stratified on the V-A cell, i.e. the quadrant).
        cache_dir: where the feature cache lives.
        max_seconds: audio decoded per song for log-mel inputs (from its middle); descriptors read their own
            ``excerpt_s`` (the model's preprocessing).
        batch_size / num_workers: loader settings.
        limit_per_split: at most this many songs per split (quick checks).
    """

    test_split_names = ["test"]

    def __init__(
        self,
        *,
        root: str,
        format: str,
        split_file: str | None,
        split_seed: int,
        split_fractions: tuple[float, float, float],
        cache_dir: str | None,
        max_seconds: float,
        batch_size: int,
        num_workers: int,
        limit_per_split: int | None,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ConfigError(f"data.batch_size={batch_size} must be >= 1.")
        if format not in LOADERS:
            raise ConfigError(f"data.format={format!r} is not valid; choose one of: {', '.join(LOADERS)}.")
        self.root, self.format = Path(root), format
        self.split_file = Path(split_file) if split_file else self.root / "music_splits.csv"
        self.cache_dir = Path(cache_dir) if cache_dir else self.root / "cache"
        self.split_seed, self.max_seconds = split_seed, float(max_seconds)
        self.split_fractions = cast(tuple[float, float, float], tuple(float(f) for f in split_fractions))
        self.batch_size, self.num_workers, self.limit_per_split = batch_size, num_workers, limit_per_split
        self.data_configs: dict[str, dict] = {}
        self.datasets: dict[str, SongDataset] = {}
        self.stats: dict[str, Any] = {}

    def configure_inputs(self, data_configs: dict[str, dict]) -> None:
        """The input representation (spectrogram or descriptor settings) from the model."""
        self.data_configs = dict(data_configs)

    @property
    def kind(self) -> str:
        """``log_mel``, ``descriptors`` or ``musicnn``: what the model reads."""
        return str(self.data_configs["audio"].get("kind", "log_mel"))

    def _songs(self) -> pd.DataFrame:
        cat = LOADERS[self.format](self.root)
        songs = cat.songs
        has_audio = songs["path"].astype(bool)
        self.stats.update({"songs": len(songs), "songs_without_audio": int((~has_audio).sum()), "dropped": cat.dropped})
        songs = songs[has_audio].reset_index(drop=True)
        if len(songs) < 10:
            raise DataError(
                f"{self.root}: {len(songs)} songs with audio ({self.format} layout); the music phase needs at "
                "least 10 audio files beside the annotations (the synthetic ones: `make data`)."
            )
        songs[["valence_ref", "arousal_ref"]] = cat.scale.to_ref(songs[["valence", "arousal"]].to_numpy(float))
        # The split is stratified on V-A cells of DEAM's 1..9 scale (for 4Q: the quadrants); DEAM keeps its values.
        va = songs[["valence", "arousal"]].to_numpy(float) if cat.scale == DEAM_STATIC else None
        va = DEAM_STATIC.from_ref(songs[["valence_ref", "arousal_ref"]].to_numpy(float)) if va is None else va
        df = pd.DataFrame({"image_path": songs["song_id"], "valence": va[:, 0], "arousal": va[:, 1]})
        songs["split"] = load_or_make_split(
            df, self.split_file, annotation_fingerprint(df), seed=self.split_seed, fractions=self.split_fractions
        )
        return songs

    def _features(self, songs: pd.DataFrame) -> dict[str, torch.Tensor]:
        cfg = self.data_configs["audio"]
        spec = json.dumps({**cfg, "max_seconds": self.max_seconds}, sort_keys=True)
        path = self.cache_dir / f"music_{self.kind}_{hashlib.sha1(spec.encode()).hexdigest()[:12]}.pt"
        with file_lock(path):
            cached = torch.load(path, weights_only=True) if path.is_file() else {}
            keys = {sid: f"{sid}|{file_stamp(p)}" for sid, p in zip(songs["song_id"], songs["path"])}
            todo = [(sid, p) for sid, p in zip(songs["song_id"], songs["path"]) if keys[sid] not in cached]
            failed: list[str] = []  # song ids
            self._compute(todo, keys, cached, failed, cfg)
            if todo:
                path.parent.mkdir(parents=True, exist_ok=True)
                with atomic_path(path) as tmp:
                    torch.save(cached, tmp)
        self.stats["unreadable_audio"] = len(failed)
        return {sid: cached[k] for sid, k in keys.items() if k in cached}

    def _compute(self, todo: list, keys: dict, cached: dict, failed: list, cfg: dict) -> None:
        for sid, p in tqdm(todo, desc=f"music {self.kind}", unit="song", disable=not todo):
            try:
                if self.kind in VECTOR_KINDS:
                    cached[keys[sid]] = song_vector_input(p, cfg)
                else:
                    cached[keys[sid]] = song_features(p, cfg, self.max_seconds)
            except DataError as exc:
                failed.append(sid)
                log.warning("Skipped song %s: %s", sid, exc)

    def prepare_data(self) -> None:
        """Split and feature cache, once per node."""
        if self.data_configs:
            self._features(self._songs())

    def setup(self, stage: str | None = None) -> None:
        """Datasets of train, val and test."""
        if self.datasets:
            return
        if not self.data_configs:
            raise ConfigError("MusicDataModule.configure_inputs(model.data_configs) must be called before setup().")
        songs = self._songs()
        inputs = self._features(songs)
        songs = songs[songs["song_id"].isin(set(inputs))]
        cfg = self.data_configs["audio"]
        frames = None if self.kind in VECTOR_KINDS else excerpt_samples(cfg) // int(cfg["hop_length"]) + 1
        for name in ("train", "val", "test"):
            rows = songs[songs["split"] == name]
            if self.limit_per_split:
                rows = rows.iloc[: self.limit_per_split]
            if rows.empty:
                raise DataError(f"Split {name!r} of the songs is empty in {self.split_file}; delete it to re-split.")
            self.datasets[name] = SongDataset(
                [inputs[s] for s in rows["song_id"]],
                rows[["valence_ref", "arousal_ref"]].to_numpy(),
                rows["song_id"].tolist(),
                frames,
                train=name == "train",
            )
        va = self.datasets["train"].va
        self._label_moments = (va.mean(0), va.var(0, unbiased=False).clamp_min(1e-6))
        self.stats["sizes"] = {k: len(v) for k, v in self.datasets.items()}
        self.stats["song_ids"] = {k: list(v.keys) for k, v in self.datasets.items()}
        log.info("Music data: %s", self.stats["sizes"])

    def train_label_moments(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and variance of the training songs' V-A (the constant baseline)."""
        return self._label_moments

    def train_inputs(self) -> torch.Tensor:
        """The training songs' inputs stacked (descriptor vectors ``(N, D)``: what the standardiser is fitted on)."""
        return torch.stack([x.float() for x in self.datasets["train"].inputs])

    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        return make_loader(self.datasets[name], self.batch_size, self.num_workers, shuffle, collate)

    def train_dataloader(self) -> DataLoader:
        """Shuffled training songs."""
        return self._loader("train", True)

    def val_dataloader(self) -> DataLoader:
        """Validation songs."""
        return self._loader("val", False)

    def test_dataloader(self) -> DataLoader:
        """Test songs."""
        return self._loader("test", False)
