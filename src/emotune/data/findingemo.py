"""FindingEmo annotations (``annotations_single.ann``), image validation and the seeded split.

The file is CSV text with the header
``index,user,image_path,tags,age,valence,arousal,emotion,dec_factors,ambiguity,datetime``;
valence is an integer -3..3, arousal 0..6, ambiguity 0..6, ``emotion`` one of 24 Plutchik labels,
and ``tags``/``age``/``dec_factors`` are comma-joined (quoted) lists. ``image_path`` starts with
``/`` and is relative to the download folder.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from emotune.utils.errors import DataError, MissingResourceError
from emotune.utils.io import atomic_path, safe_join

log = logging.getLogger(__name__)

ANNOTATION_COLUMNS = [
    "index",
    "user",
    "image_path",
    "tags",
    "age",
    "valence",
    "arousal",
    "emotion",
    "dec_factors",
    "ambiguity",
    "datetime",
]

# Plutchik's wheel: 8 primaries, each with (mild, basic, intense) labels as FindingEmo spells them.
PLUTCHIK: dict[str, tuple[str, str, str]] = {
    "Joy": ("Serenity", "Joy", "Ecstasy"),
    "Trust": ("Acceptance", "Trust", "Admiration"),
    "Fear": ("Apprehension", "Fear", "Terror"),
    "Surprise": ("Distraction", "Surprise", "Amazement"),
    "Sadness": ("Pensiveness", "Sadness", "Grief"),
    "Disgust": ("Boredom", "Disgust", "Loathing"),
    "Anger": ("Annoyance", "Anger", "Rage"),
    "Anticipation": ("Interest", "Anticipation", "Vigilance"),
}
EMOTION_TO_PRIMARY: dict[str, str] = {lab: p for p, labs in PLUTCHIK.items() for lab in labs}
EMOTIONS: tuple[str, ...] = tuple(EMOTION_TO_PRIMARY)
PRIMARIES: tuple[str, ...] = tuple(PLUTCHIK)

VALENCE_RANGE = (-3, 3)
AROUSAL_RANGE = (0, 6)
AMBIGUITY_RANGE = (0, 6)


def packaged_annotations_path() -> Path:
    """Path of ``annotations_single.ann`` inside the installed ``findingemo-light`` package."""
    try:
        import findingemo_light
    except ImportError:  # pragma: no cover - dependency is declared
        raise MissingResourceError(
            "The package `findingemo-light` is not installed; run `make install` "
            "or pass an annotation file with `data.annotations=PATH`."
        ) from None
    path = Path(findingemo_light.__file__).parent / "data" / "annotations_single.ann"
    if not path.is_file():
        raise MissingResourceError(f"findingemo-light has no annotation file at {path}; reinstall it.")
    return path


def _split_list(cell: object) -> list[str]:
    if not isinstance(cell, str) or not cell.strip():
        return []
    return [part.strip() for part in cell.split(",") if part.strip()]


@dataclass
class LabelReport:
    """What cleaning dropped from an annotation file."""

    rows_read: int
    rows_kept: int
    out_of_range: int
    unknown_emotion: int
    duplicates: int


def read_annotations(path: str | Path | None = None, strict: bool = False) -> pd.DataFrame:
    """Read a FindingEmo annotation file into typed columns.

    Args:
        path: the ``.ann`` file; ``None`` uses the one shipped in ``findingemo-light``.
        strict: raise on rows with out-of-range labels instead of dropping (and counting) them.

    Returns:
        One row per image with ``valence``/``arousal``/``ambiguity`` as ints, ``tags``/``age``/
        ``dec_factors`` as lists of str, ``emotion`` and its 8-way ``primary``. ``df.attrs["report"]``
        holds a :class:`LabelReport`.
    """
    path = Path(path) if path is not None else packaged_annotations_path()
    if not path.is_file():
        raise MissingResourceError(
            f"FindingEmo annotation file not found: {path}. Pass `data.annotations=PATH` or install findingemo-light."
        )
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path} is not a FindingEmo annotation CSV ({exc}).") from None
    raw.columns = [c.strip() for c in raw.columns]
    missing = [c for c in ("image_path", "valence", "arousal") if c not in raw.columns]
    if missing:
        raise DataError(
            f"{path} lacks the column(s) {missing}; expected header: {','.join(ANNOTATION_COLUMNS)}."
        )
    df = pd.DataFrame({"image_path": raw["image_path"].str.strip()})
    for col in ("valence", "arousal", "ambiguity", "index"):
        df[col] = pd.to_numeric(raw[col], errors="coerce") if col in raw.columns else np.nan
    df["user"] = raw["user"].str.strip() if "user" in raw.columns else ""
    for col in ("tags", "age", "dec_factors"):
        df[col] = raw[col].map(_split_list) if col in raw.columns else [[] for _ in range(len(raw))]
    df["emotion"] = raw["emotion"].str.strip() if "emotion" in raw.columns else ""
    df["datetime"] = raw["datetime"].str.strip() if "datetime" in raw.columns else ""

    in_range = (
        df["valence"].between(*VALENCE_RANGE)
        & df["arousal"].between(*AROUSAL_RANGE)
        & (df["valence"] % 1 == 0)
        & (df["arousal"] % 1 == 0)
        & (df["image_path"] != "")
    )
    known = df["emotion"].isin(EMOTIONS) | (df["emotion"] == "")
    n_bad = int((~in_range).sum())
    if strict and n_bad:
        first = df.loc[~in_range].iloc[0]
        raise DataError(
            f"{path}: {n_bad} row(s) with labels out of range, first {first['image_path']!r} "
            f"(valence={first['valence']}, arousal={first['arousal']}); valid: valence -3..3, arousal 0..6."
        )
    dup = df["image_path"].duplicated(keep="first")
    keep = in_range & ~dup
    report = LabelReport(len(df), int(keep.sum()), n_bad, int((~known).sum()), int((dup & in_range).sum()))
    if n_bad or report.duplicates:
        log.warning(
            "%s: dropped %d row(s) with out-of-range labels and %d duplicate path(s)",
            path,
            n_bad,
            report.duplicates,
        )
    df = df.loc[keep].reset_index(drop=True)
    if df.empty:
        raise DataError(f"{path}: no usable rows (valence -3..3, arousal 0..6) are left after cleaning.")
    df["valence"] = df["valence"].astype(int)
    df["arousal"] = df["arousal"].astype(int)
    df["ambiguity"] = df["ambiguity"].fillna(-1).astype(int)
    df["primary"] = df["emotion"].map(EMOTION_TO_PRIMARY).fillna("")
    df.attrs["report"] = report
    df.attrs["source"] = str(path)
    return df


def write_annotations(df: pd.DataFrame, path: str | Path) -> Path:
    """Write rows in the published ``annotations_single.ann`` format (lists joined by commas)."""
    out = pd.DataFrame({c: df[c] if c in df.columns else "" for c in ANNOTATION_COLUMNS})
    for col in ("tags", "age", "dec_factors"):
        out[col] = out[col].map(lambda v: ",".join(v) if isinstance(v, list | tuple) else (v or ""))
    with atomic_path(path) as tmp:
        out.to_csv(tmp, index=False)
    return Path(path)


# ---------------------------------------------------------------------------------------------
# Images: validation pass and manifest


@dataclass
class ImageReport:
    """Counts from :func:`validate_images`."""

    total: int
    usable: int
    missing: int
    unreadable: int

    def line(self) -> str:
        return (
            f"{self.usable}/{self.total} images usable ({self.missing} missing, {self.unreadable} unreadable)"
        )


def _readable(path: Path) -> bool:
    import cv2

    try:
        img = cv2.imread(str(path), cv2.IMREAD_REDUCED_COLOR_8)
    except cv2.error:
        return False
    return img is not None and img.size > 0


def validate_images(
    df: pd.DataFrame, image_root: str | Path, progress: bool = True
) -> tuple[pd.DataFrame, ImageReport]:
    """Check that each row's image exists and decodes; return the usable rows and the counts."""
    from tqdm.auto import tqdm

    image_root = Path(image_root)
    if not image_root.is_dir():
        raise MissingResourceError(
            f"Image folder not found: {image_root}. Download FindingEmo with "
            f"`make data-findingemo DATA_DIR={image_root}` or set `data.image_root`."
        )
    status = []
    for rel in tqdm(df["image_path"], desc="validate images", disable=not progress, unit="img"):
        p = safe_join(image_root, rel)
        status.append("missing" if not p.is_file() else ("ok" if _readable(p) else "unreadable"))
    status = np.array(status)
    report = ImageReport(
        len(df),
        int((status == "ok").sum()),
        int((status == "missing").sum()),
        int((status == "unreadable").sum()),
    )
    return df.loc[status == "ok"].reset_index(drop=True), report


# ---------------------------------------------------------------------------------------------
# Split


SPLITS = ("train", "val", "test")


def make_split(
    df: pd.DataFrame, fractions: tuple[float, float, float] = (0.7, 0.15, 0.15), seed: int = 0
) -> pd.Series:
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
        n_val = round(n * fractions[1])
        n_test = round(n * fractions[2])
        out.loc[idx[:n_val]] = "val"
        out.loc[idx[n_val : n_val + n_test]] = "test"
    return out


def load_or_make_split(
    df: pd.DataFrame,
    split_file: str | Path,
    seed: int = 0,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
) -> pd.Series:
    """Read ``image_path,split`` from ``split_file`` or make (and save) a seeded split.

    Rows absent from an existing split file are reported and left out (split ``""``).
    """
    split_file = Path(split_file)
    if split_file.is_file():
        saved = pd.read_csv(split_file, dtype=str, keep_default_na=False)
        if not {"image_path", "split"} <= set(saved.columns):
            raise DataError(f"{split_file} must have columns image_path,split; delete it to regenerate.")
        mapping = dict(zip(saved["image_path"], saved["split"]))
        split = df["image_path"].map(mapping).fillna("")
        n_new = int((split == "").sum())
        if n_new:
            log.warning(
                "%d row(s) are not in %s and are left out; delete the file to re-split.", n_new, split_file
            )
        return split
    split = make_split(df, fractions, seed)
    with atomic_path(split_file) as tmp:
        pd.DataFrame({"image_path": df["image_path"], "split": split}).to_csv(tmp, index=False)
    log.info("Saved a new seeded split (seed=%d) to %s", seed, split_file)
    return split


def split_counts(split: Iterable[str]) -> dict[str, int]:
    """Rows per split name."""
    s = pd.Series(list(split))
    return {k: int(v) for k, v in s.value_counts().sort_index().items()}
