"""OASIS photographs as a :class:`VADataModule` (``data=oasis``): real rated photographs for the scene path."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from emotune.data.oasis import read_oasis
from emotune.data.splits import hash_split, split_counts
from emotune.data.va_datamodule import VADataModule
from emotune.data.validation import is_readable_image
from emotune.utils.errors import DataError, MissingResourceError
from emotune.utils.io import safe_join
from emotune.utils.scales import OASIS, VAScale

log = logging.getLogger(__name__)


class OasisDataModule(VADataModule):
    """``<root>/OASIS.csv`` + ``<root>/images/<Theme>.jpg`` with a seeded split by each theme's hash.

    The split is a function of the theme and the seed alone (:func:`emotune.data.splits.hash_split`), so a
    photograph keeps its split in any copy of OASIS, whole or partial: a head fitted on one copy's train part is
    never scored on its own training images in another. Missing or unreadable images are counted and skipped.

    Args:
        root: the OASIS folder.
        annotations: the ratings file (``None``: ``<root>/OASIS.csv``).
        image_root: the images (``None``: ``<root>/images``).
        split_seed: seed of the hash split.
        **kwargs: see :class:`VADataModule` (view, batch size, workers, augmentation, caches ...).
    """

    label_scale: VAScale = OASIS

    def __init__(
        self, *, root: str, annotations: str | None, image_root: str | None, split_seed: int, **kwargs: Any
    ) -> None:
        kwargs["split_file"] = None  # the split is a function of each theme: no file to keep in step
        super().__init__(root=root, annotations=annotations, image_root=image_root, split_seed=split_seed, **kwargs)

    def _rows(self) -> pd.DataFrame:
        if not self.root.is_dir():
            raise MissingResourceError(
                f"data.root={self.root} does not exist; point it at an OASIS folder (OASIS.csv + images/)."
            )
        csv = Path(self.annotations) if self.annotations else self.root / "OASIS.csv"
        df = read_oasis(csv)
        self.stats["annotations"] = str(csv)
        paths = [safe_join(self.image_root, p) for p in df["image_path"]]
        exists = np.array([p.is_file() for p in paths])
        readable = np.array([e and is_readable_image(p) for e, p in zip(exists, paths)])
        if not readable.any():
            raise DataError(
                f"None of the {len(df)} OASIS images can be read under {self.image_root} (expected <Theme>.jpg "
                "files); set data.image_root to the images folder."
            )
        missing, unreadable = int((~exists).sum()), int((exists & ~readable).sum())
        if missing or unreadable:
            log.warning(
                "OASIS: %d of %d images missing and %d unreadable under %s; they are skipped.",
                missing,
                len(df),
                unreadable,
                self.image_root,
            )
        self.stats.update(missing_images=missing, unreadable_images=unreadable)
        df = df[readable].reset_index(drop=True)
        df["split"] = hash_split(df["theme"], self.split_seed).to_numpy()
        self.stats["splits"] = split_counts(df["split"])
        return df
