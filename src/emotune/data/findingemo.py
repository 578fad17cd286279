"""FindingEmo annotations (``annotations_single.ann``), image validation and the seeded split.

The file is CSV text with the header
``index,user,image_path,tags,age,valence,arousal,emotion,dec_factors,ambiguity,datetime``;
valence is an integer -3..3, arousal 0..6, ambiguity 0..6, ``emotion`` one of 24 Plutchik labels,
and ``tags``/``age``/``dec_factors`` are comma-joined (quoted) lists. ``image_path`` starts with
``/`` and is relative to the download folder.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from emotune.utils.errors import DataError, MissingResourceError
from emotune.utils.io import atomic_path
from emotune.utils.scales import FINDINGEMO

log = logging.getLogger(__name__)

RUN_FOLDERS = ("Run_1", "Run_2")
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


def has_run_layout(image_root: str | Path) -> bool:
    """Whether a folder looks like a FindingEmo download (``Run_1/`` or ``Run_2/`` inside)."""
    return any((Path(image_root) / run).is_dir() for run in RUN_FOLDERS)


def resolve_annotations(annotations: str | Path | None, root: str | Path, image_root: str | Path) -> Path:
    """The annotation file to use: ``data.annotations``, else ``<root>/annotations_single.ann``, else (for a
    folder laid out like a FindingEmo download) the file packaged in findingemo-light. The choice is logged."""
    if annotations:
        path, why = Path(annotations), "data.annotations"
        if not path.is_file():
            raise MissingResourceError(f"data.annotations={path} does not exist; give an annotations_single.ann.")
    elif (Path(root) / "annotations_single.ann").is_file():
        path, why = Path(root) / "annotations_single.ann", "data.root"
    elif has_run_layout(image_root):
        path, why = packaged_annotations_path(), "findingemo-light's packaged file"
    elif not Path(root).is_dir():
        raise MissingResourceError(
            f"data.root={root} does not exist. Build the synthetic set with `make data`, or point data.root at a "
            "FindingEmo download (data=findingemo data.root=DIR)."
        )
    else:
        raise DataError(
            f"{image_root} is not laid out like a FindingEmo download: expected Run_1/ and Run_2/ folders holding "
            f"the images (or an annotations_single.ann in {root}). Point data.root at the download folder."
        )
    log.info("Annotations: %s (%s)", path, why)
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
        raise DataError(f"{path} lacks the column(s) {missing}; expected header: {','.join(ANNOTATION_COLUMNS)}.")
    df = pd.DataFrame({"image_path": raw["image_path"].str.strip()})
    for col in ("valence", "arousal", "ambiguity", "index"):
        df[col] = pd.to_numeric(raw[col], errors="coerce") if col in raw.columns else np.nan
    df["user"] = raw["user"].str.strip() if "user" in raw.columns else ""
    for col in ("tags", "age", "dec_factors"):
        df[col] = raw[col].map(_split_list) if col in raw.columns else [[] for _ in range(len(raw))]
    df["emotion"] = raw["emotion"].str.strip() if "emotion" in raw.columns else ""
    df["datetime"] = raw["datetime"].str.strip() if "datetime" in raw.columns else ""

    in_range = (
        df["valence"].between(*FINDINGEMO.valence)
        & df["arousal"].between(*FINDINGEMO.arousal)
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
