"""The seeded train/val/test split of a FindingEmo-format set, saved beside the data and tied to the
annotation set it was made from (a split from another annotation set is refused, not silently reused)."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from emotune.utils.errors import DataError
from emotune.utils.io import atomic_path, write_json_atomic

log = logging.getLogger(__name__)


def annotation_fingerprint(df: pd.DataFrame) -> str:
    """A short hash of an annotation set: its image paths and labels, order-free."""
    rows = sorted(f"{p}|{v}|{a}" for p, v, a in zip(df["image_path"], df["valence"], df["arousal"]))
    return hashlib.sha1("\n".join(rows).encode()).hexdigest()[:16]


def make_split(df: pd.DataFrame, fractions: tuple[float, float, float] = (0.7, 0.15, 0.15), seed: int = 0) -> pd.Series:
    """A seeded train/val/test assignment stratified on the (valence, arousal) cell.

    Each V-A cell is shuffled and dealt out in proportion, so every split covers the label range.
    Cells too small to split go to train.
    """
    if abs(sum(fractions) - 1.0) > 1e-6 or min(fractions) < 0:
        raise DataError(f"Split fractions {fractions} must be non-negative and sum to 1.")
    rng = np.random.default_rng(seed)
    out = pd.Series("train", index=df.index, dtype=object)
    cells = df.groupby([df["valence"].round().astype(int), df["arousal"].round().astype(int)]).indices
    for key in sorted(cells):
        idx = df.index[cells[key]].to_numpy().copy()
        rng.shuffle(idx)
        n = len(idx)
        n_val, n_test = round(n * fractions[1]), round(n * fractions[2])
        out.loc[idx[:n_val]] = "val"
        out.loc[idx[n_val : n_val + n_test]] = "test"
    return out


def hash_split(
    keys: Iterable[str], seed: int = 0, fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
) -> pd.Series:
    """A seeded train/val/test assignment from each key's hash: an item keeps its split whatever else is in the
    set, so a model fitted on one copy of a data set can be scored on a larger copy without seeing its rows again."""
    if abs(sum(fractions) - 1.0) > 1e-6 or min(fractions) < 0:
        raise DataError(f"Split fractions {fractions} must be non-negative and sum to 1.")
    keys = list(keys)
    u = np.array([int(hashlib.sha1(f"{seed}:{k}".encode()).hexdigest()[:12], 16) / 16**12 for k in keys])
    names = np.where(u < fractions[0], "train", np.where(u < fractions[0] + fractions[1], "val", "test"))
    return pd.Series(names, dtype=object)


HELD_OUT_PARTS = ("val_fit", "val_select")  # the two halves of ``val`` a second-stage model is fitted / chosen on


def halve_held_out(split: pd.Series, keys: pd.Series, seed: int = 0) -> pd.Series:
    """``split`` with each ``val`` row renamed ``val_fit`` or ``val_select`` by its key's hash (half each).

    A model fitted on the outputs of models that were chosen on ``val`` (the fusion) is fitted on one half and
    chosen (early stopping, ``best.ckpt``) on the other, as stacking recipes do: its selection never sees the rows
    it was fitted on.
    """
    halves = hash_split(keys, seed=seed + 7919, fractions=(0.5, 0.5, 0.0)).to_numpy()
    renamed = np.where(halves == "train", HELD_OUT_PARTS[0], HELD_OUT_PARTS[1])
    return split.where(split != "val", pd.Series(renamed, index=split.index))


def meta_path(split_file: Path) -> Path:
    """The split file's sidecar (which annotation set and seed made it)."""
    return split_file.with_name(split_file.name + ".meta.json")


def save_split(paths: pd.Series, split: pd.Series, split_file: str | Path, fingerprint: str, seed: int) -> None:
    """Write ``image_path,split`` and its sidecar."""
    split_file = Path(split_file)
    with atomic_path(split_file) as tmp:
        pd.DataFrame({"image_path": paths, "split": split}).to_csv(tmp, index=False)
    write_json_atomic(meta_path(split_file), {"annotations": fingerprint, "seed": seed, "rows": len(paths)})


def load_or_make_split(
    df: pd.DataFrame,
    split_file: str | Path,
    fingerprint: str,
    seed: int = 0,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
) -> pd.Series:
    """``df``'s split from ``split_file``, or a new seeded one saved there.

    Args:
        df: the usable rows.
        split_file: ``image_path,split`` CSV.
        fingerprint: :func:`annotation_fingerprint` of the whole annotation set the rows come from; a split
            file made from another set is refused.
        seed: for a new split.
        fractions: train, val, test.

    Rows absent from an existing split file are reported and left out (split ``""``).
    """
    split_file = Path(split_file)
    if not split_file.is_file():
        split = make_split(df, fractions, seed)
        save_split(df["image_path"], split, split_file, fingerprint, seed)
        log.info("Saved a new seeded split (seed=%d) to %s", seed, split_file)
        return split
    saved = pd.read_csv(split_file, dtype=str, keep_default_na=False)
    if not {"image_path", "split"} <= set(saved.columns):
        raise DataError(f"{split_file} must have columns image_path,split; delete it to regenerate.")
    meta = meta_path(split_file)
    made_from = json.loads(meta.read_text()).get("annotations") if meta.is_file() else None
    unknown = ~saved["image_path"].isin(set(df["image_path"]))
    if (made_from is not None and made_from != fingerprint) or (made_from is None and unknown.mean() > 0.5):
        raise DataError(
            f"{split_file} was made from another annotation set ({made_from or 'unknown'}, "
            f"{int(unknown.sum())} of its {len(saved)} images are not in this one); delete it (and its "
            ".meta.json) to re-split, or set data.split_file to this set's split."
        )
    split = df["image_path"].map(dict(zip(saved["image_path"], saved["split"]))).fillna("")
    n_new = int((split == "").sum())
    if n_new:
        log.warning("%d row(s) are not in %s and are left out; delete the file to re-split.", n_new, split_file)
    return split


def split_counts(split: Iterable[str]) -> dict[str, int]:
    """Rows per split name."""
    s = pd.Series(list(split))
    return {k: int(v) for k, v in s.value_counts().sort_index().items()}
