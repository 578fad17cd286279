"""Decode songs and compute what a music model reads from them, in the loader's worker processes.

Shared by ``make library`` (:mod:`emotune.runtime.library`), the labeller's fit (:mod:`emotune.runtime.music_head`)
and the evaluation: each job is one file; the worker reads its tags (optionally), decodes its excerpt around the
middle at the model's sample rate and turns it into the model's input (:func:`emotune.audio.song_input.song_input`).
A file that does not decode is an error string, never an exception. torch's DataLoader keeps the order and gives
each worker one thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from emotune.audio.io import decode_excerpt
from emotune.audio.song_input import song_input
from emotune.audio.tags import read_tags
from emotune.utils.errors import DataError

log = logging.getLogger(__name__)
MIN_AUDIO_S = 1.0  # a file that decodes to less than this is listed as unreadable (truncated, not music)


@dataclass(frozen=True)
class Prepared:
    """One file's tags (when asked for), its model input, or why it could not be read."""

    tags: dict[str, Any] | None
    x: np.ndarray | None
    error: str | None


def prepare(path: str | Path, cfg: dict, with_tags: bool = True, vectors: bool = True) -> Prepared:
    """Tags, then the excerpt (``cfg["excerpt_s"]`` seconds, default 30) decoded and turned into the model input;
    with ``vectors``, a ``musicnn`` input goes through the network here too (the song vector: each worker does a
    whole song, so the cores stay balanced)."""
    path = Path(path)
    try:
        tags = read_tags(path) if with_tags else None
        sr = int(cfg["sample_rate"])
        duration = tags["duration_s"] if tags else None
        audio = decode_excerpt(path, sr, float(cfg.get("excerpt_s", 30.0)), duration)
        if len(audio) < MIN_AUDIO_S * sr:
            raise DataError(f"{path} holds only {len(audio) / sr:.2f} s of audio (truncated?).")
        x = song_input(audio, cfg)
        if vectors and cfg.get("kind") == "musicnn":
            from emotune.models.music_module import song_vectors_of

            x = song_vectors_of(torch.from_numpy(x)[None], cfg)[0].numpy()
        return Prepared(tags, x, None)
    except DataError as exc:
        return Prepared(None, None, str(exc).splitlines()[0])


class _Jobs(Dataset):
    """The files to prepare (one item per file)."""

    def __init__(self, paths: list[str], cfg: dict, with_tags: bool, vectors: bool) -> None:
        self.paths, self.cfg, self.with_tags, self.vectors = paths, cfg, with_tags, vectors

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> Prepared:
        return prepare(self.paths[i], self.cfg, self.with_tags, self.vectors)


def _as_is(item: Any) -> Any:  # batch_size=None: the loader hands it single items, not lists
    return item


def prepared(
    paths: list[str],
    cfg: dict,
    workers: int,
    with_tags: bool = True,
    progress: bool = False,
    on_item: Callable[[int, int], None] | None = None,
    vectors: bool = True,
) -> Iterator[Prepared]:
    """:func:`prepare` over ``paths`` in order, in ``workers`` processes (0: in this one; a handful of files is not
    worth starting processes). ``on_item(done, total)`` is called after each file (the page's progress bar)."""
    workers = workers if len(paths) >= 2 * workers else 0
    loader = DataLoader(_Jobs(paths, cfg, with_tags, vectors), batch_size=None, num_workers=workers, collate_fn=_as_is)
    for i, item in enumerate(tqdm(loader, total=len(paths), desc="songs", unit="song", disable=not progress)):
        yield item
        if on_item is not None:
            on_item(i + 1, len(paths))
