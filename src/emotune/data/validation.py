"""The validation pass over a FindingEmo download: which images exist and decode (a real download is always
partial), the manifest of usable rows, the counts, and the seeded split."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from emotune.data.findingemo import has_run_layout, read_annotations, resolve_annotations
from emotune.data.splits import annotation_fingerprint, load_or_make_split, split_counts
from emotune.utils.errors import DataError, MissingResourceError
from emotune.utils.io import atomic_path, safe_join, write_json_atomic

log = logging.getLogger(__name__)


@dataclass
class ImageReport:
    """Counts from :func:`validate_images`."""

    total: int
    usable: int
    missing: int
    unreadable: int

    def line(self) -> str:
        """One line for people."""
        return f"{self.usable}/{self.total} images usable ({self.missing} missing, {self.unreadable} unreadable)"


def is_readable_image(path: Path) -> bool:
    """Whether an image file decodes (read at 1/8 size: cheap)."""
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
    found: list[str] = []
    for rel in tqdm(df["image_path"], desc="validate images", disable=not progress, unit="img"):
        p = safe_join(image_root, rel)
        found.append("missing" if not p.is_file() else ("ok" if is_readable_image(p) else "unreadable"))
    status = np.array(found)
    counts = [int((status == k).sum()) for k in ("ok", "missing", "unreadable")]
    return df.loc[status == "ok"].reset_index(drop=True), ImageReport(len(df), *counts)


def validate_download(
    root: str | Path,
    annotations: str | Path | None = None,
    image_root: str | Path | None = None,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Validate a download in ``root``: write ``manifest.csv`` (usable rows), ``validation.json`` (counts,
    annotation file, split sizes) and ``splits.csv``; return what ``validation.json`` holds."""
    root = Path(root)
    image_root = Path(image_root) if image_root else root
    ann = resolve_annotations(annotations, root, image_root)
    df = read_annotations(ann)
    if not has_run_layout(image_root) and df["image_path"].str.startswith(("/Run_1/", "/Run_2/")).any():
        raise DataError(
            f"{image_root} has no Run_1/ or Run_2/ folder: a FindingEmo download keeps its images there "
            "(paths like /Run_2/<query>/<file>.jpg). Point root= (DATA_DIR=) at the download folder."
        )
    usable, report = validate_images(df, image_root, progress)
    print(report.line())
    if usable.empty:
        raise DataError(f"No usable images under {image_root}; check the download folder.")
    with atomic_path(root / "manifest.csv") as tmp:
        usable[["image_path", "valence", "arousal"]].to_csv(tmp, index=False)
    split = load_or_make_split(usable, root / "splits.csv", annotation_fingerprint(df), seed=seed)
    result = {**asdict(report), "annotations": str(ann), "splits": split_counts(split)}
    write_json_atomic(root / "validation.json", result)
    return result


def read_validation(root: str | Path) -> dict | None:
    """``validation.json`` of a validated download (``None`` when it was never validated)."""
    p = Path(root) / "validation.json"
    return json.loads(p.read_text()) if p.is_file() else None
