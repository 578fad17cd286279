"""LightningDataModule for the music phase: songs in DEAM's layout (static CSVs + ``MEMD_audio/<id>.<ext>``),
the real DEAM or the synthetic catalogue, as log-mel excerpts with their song-level V-A.

Each song's audio is decoded once (up to ``max_seconds`` from its middle) and its log-mel kept in a cache
file keyed by the feature settings and each file's version; training takes random excerpts, evaluation
the first one. Targets are on the [-1, 1] reference (DEAM static: (x - 5) / 4).
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from emotune.audio.features import excerpt_samples, log_mel
from emotune.audio.io import audio_duration, decode_audio
from emotune.data.deam import load_deam
from emotune.data.splits import annotation_fingerprint, load_or_make_split
from emotune.data.va_dataset import make_loader
from emotune.utils.errors import ConfigError, DataError
from emotune.utils.io import atomic_path, file_lock, file_stamp

log = logging.getLogger(__name__)


def song_features(path: str, cfg: dict, max_seconds: float) -> torch.Tensor:
    """Log-mel ``(n_mels, frames)`` of a song: up to ``max_seconds`` around its middle, looped to one excerpt."""
    sr = int(cfg["sample_rate"])
    total = audio_duration(path) or 0.0
    offset = max(0.0, total / 2 - max_seconds / 2) if total > max_seconds else 0.0
    audio = decode_audio(path, sr, offset_s=offset, duration_s=max_seconds)
    n = excerpt_samples(cfg)
    if len(audio) < n:
        audio = np.tile(audio, int(np.ceil(n / max(1, len(audio)))))
    return log_mel(audio, cfg)[0].half()


class MelDataset(Dataset):
    """Excerpts of cached log-mels: random crops when training, the first excerpt otherwise."""

    def __init__(self, mels: list[torch.Tensor], va: np.ndarray, keys: list[str], frames: int, train: bool) -> None:
        self.mels, self.va, self.keys, self.frames, self.train = (
            mels,
            torch.tensor(va, dtype=torch.float32),
            keys,
            frames,
            train,
        )

    def __len__(self) -> int:
        return len(self.mels)

    def __getitem__(self, i: int) -> dict[str, Any]:
        mel = self.mels[i]
        start = int(torch.randint(0, mel.shape[1] - self.frames + 1, ()).item()) if self.train else 0
        return {"audio": mel[None, :, start : start + self.frames].float(), "va": self.va[i], "key": self.keys[i]}


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
        root: a folder in DEAM's layout (the synthetic catalogue, or a DEAM download).
        split_file: the saved song split (``None``: ``<root>/music_splits.csv``).
        split_seed: seed of a new split.
        cache_dir: where the log-mel cache lives.
        max_seconds: audio decoded per song (from its middle).
        batch_size / num_workers: loader settings.
        limit_per_split: at most this many songs per split (quick checks).
    """

    test_split_names = ["test"]

    def __init__(
        self,
        root: str,
        split_file: str | None = None,
        split_seed: int = 0,
        cache_dir: str | None = None,
        max_seconds: float = 30.0,
        batch_size: int = 32,
        num_workers: int = 0,
        limit_per_split: int | None = None,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ConfigError(f"data.batch_size={batch_size} must be >= 1.")
        self.root = Path(root)
        self.split_file = Path(split_file) if split_file else self.root / "music_splits.csv"
        self.cache_dir = Path(cache_dir) if cache_dir else self.root / "cache"
        self.split_seed, self.max_seconds = split_seed, float(max_seconds)
        self.batch_size, self.num_workers, self.limit_per_split = batch_size, num_workers, limit_per_split
        self.data_configs: dict[str, dict] = {}
        self.datasets: dict[str, MelDataset] = {}
        self.stats: dict[str, Any] = {}

    def configure_inputs(self, data_configs: dict[str, dict]) -> None:
        """The spectrogram settings from the model."""
        self.data_configs = dict(data_configs)

    def _songs(self) -> pd.DataFrame:
        cat = load_deam(self.root)
        songs = cat.songs
        has_audio = songs["path"].astype(bool)
        self.stats.update({"songs": len(songs), "songs_without_audio": int((~has_audio).sum()), "dropped": cat.dropped})
        songs = songs[has_audio].reset_index(drop=True)
        if len(songs) < 10:
            raise DataError(
                f"{self.root}: {len(songs)} songs with audio (MEMD_audio/<id>.mp3 or .flac ...); the music "
                "phase needs audio files beside the annotations. Build them with `make data`."
            )
        df = pd.DataFrame({"image_path": songs["song_id"], "valence": songs["valence"], "arousal": songs["arousal"]})
        songs["split"] = load_or_make_split(df, self.split_file, annotation_fingerprint(df), seed=self.split_seed)
        songs[["valence_ref", "arousal_ref"]] = cat.scale.to_ref(songs[["valence", "arousal"]].to_numpy(float))
        return songs

    def _features(self, songs: pd.DataFrame) -> dict[str, torch.Tensor]:
        cfg = self.data_configs["audio"]
        spec = json.dumps({**cfg, "max_seconds": self.max_seconds}, sort_keys=True)
        path = self.cache_dir / f"music_mel_{hashlib.sha1(spec.encode()).hexdigest()[:12]}.pt"
        with file_lock(path):
            cached = torch.load(path, weights_only=True) if path.is_file() else {}
            keys = {sid: f"{sid}|{file_stamp(p)}" for sid, p in zip(songs["song_id"], songs["path"])}
            todo = [(sid, p) for sid, p in zip(songs["song_id"], songs["path"]) if keys[sid] not in cached]
            failed = []
            for sid, p in tqdm(todo, desc="music features", unit="song", disable=not todo):
                try:
                    cached[keys[sid]] = song_features(p, cfg, self.max_seconds)
                except DataError as exc:
                    failed.append(sid)
                    log.warning("Skipped song %s: %s", sid, exc)
            if todo:
                with atomic_path(path) as tmp:
                    torch.save(cached, tmp)
        self.stats["unreadable_audio"] = len(failed)
        return {sid: cached[k] for sid, k in keys.items() if k in cached}

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
        mels = self._features(songs)
        songs = songs[songs["song_id"].isin(set(mels))]
        cfg = self.data_configs["audio"]
        frames = excerpt_samples(cfg) // int(cfg["hop_length"]) + 1
        for name in ("train", "val", "test"):
            rows = songs[songs["split"] == name]
            if self.limit_per_split:
                rows = rows.iloc[: self.limit_per_split]
            if rows.empty:
                raise DataError(f"Split {name!r} of the songs is empty in {self.split_file}; delete it to re-split.")
            self.datasets[name] = MelDataset(
                [mels[s] for s in rows["song_id"]],
                rows[["valence_ref", "arousal_ref"]].to_numpy(),
                rows["song_id"].tolist(),
                frames,
                train=name == "train",
            )
        va = self.datasets["train"].va
        self._label_moments = (va.mean(0), va.var(0, unbiased=False).clamp_min(1e-6))
        self.stats["sizes"] = {k: len(v) for k, v in self.datasets.items()}
        log.info("Music data: %s", self.stats["sizes"])

    def train_label_moments(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and variance of the training songs' V-A (the constant baseline)."""
        return self._label_moments

    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        return make_loader(self.datasets[name], self.batch_size, self.num_workers, shuffle, collate)

    def train_dataloader(self) -> DataLoader:
        """Shuffled random excerpts."""
        return self._loader("train", True)

    def val_dataloader(self) -> DataLoader:
        """Validation excerpts."""
        return self._loader("val", False)

    def test_dataloader(self) -> DataLoader:
        """Test excerpts."""
        return self._loader("test", False)
