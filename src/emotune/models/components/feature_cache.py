"""Backbone features kept per input, in memory and in one file shared by runs (frozen backbones only).

The file is keyed by everything the features depend on (backbone spec and preprocessing), and each entry
by the input's identity (path, file version, crop), so a stale feature is never served.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path

import torch

from emotune.utils.io import atomic_path, file_lock

log = logging.getLogger(__name__)


class FeatureCache:
    """``key -> feature`` for a frozen backbone; ``load()`` before training, ``save()`` after each epoch."""

    def __init__(self, cache_dir: str | Path, spec: dict) -> None:
        digest = hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
        self.path = Path(cache_dir) / "features" / f"{digest}.pt"
        self._entries: dict[str, torch.Tensor] = {}
        self._dirty = False

    def __len__(self) -> int:
        return len(self._entries)

    def features(
        self, x: torch.Tensor, keys: list[str], compute: Callable[[torch.Tensor], torch.Tensor]
    ) -> torch.Tensor:
        """Features of ``x`` (one row per key): cached rows are served, the others computed and kept."""
        missing = [i for i, k in enumerate(keys) if k not in self._entries]
        if missing:
            with torch.no_grad():
                f = compute(x[missing]).float().cpu()
            for j, i in enumerate(missing):
                self._entries[keys[i]] = f[j]
            self._dirty = True
        return torch.stack([self._entries[k] for k in keys]).to(x.device)

    def load(self) -> None:
        """Merge the cache file's entries into memory (when the file exists)."""
        if self.path.is_file():
            with file_lock(self.path):
                self._entries.update(torch.load(self.path, map_location="cpu", weights_only=True))
            log.info("Feature cache: %d entries from %s", len(self._entries), self.path)

    def save(self) -> None:
        """Merge this process's new entries into the file (locked, atomic); a no-op when nothing is new."""
        if not self._dirty:
            return
        with file_lock(self.path):
            merged = torch.load(self.path, map_location="cpu", weights_only=True) if self.path.is_file() else {}
            merged.update(self._entries)
            with atomic_path(self.path) as tmp:
                torch.save(merged, tmp)
        self._dirty = False
