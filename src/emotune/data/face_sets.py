"""Real face photographs labelled with an expression, as folders of two common layouts: ``labels.csv``
(``file,emotion``; files relative to the folder) or one subfolder per expression (``<root>/<emotion>/*.jpg``, the
layout of FER2013-style sets); their development part; a photograph shown as a webcam frame."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from emotune.data.expressions import canonical_expression
from emotune.utils.errors import DataError, MissingResourceError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def read_face_set(root: str | Path) -> pd.DataFrame:
    """``file`` (relative to ``root``), ``path`` and ``expression`` (canonical spelling) of every labelled face."""
    root = Path(root)
    if not root.is_dir():
        raise MissingResourceError(f"Face set {root} does not exist.")
    labels = root / "labels.csv"
    if labels.is_file():
        raw = pd.read_csv(labels, dtype=str, keep_default_na=False)
        raw.columns = [c.strip().lower() for c in raw.columns]
        if not {"file", "emotion"} <= set(raw.columns):
            raise DataError(f"{labels} needs the columns file,emotion (found {', '.join(raw.columns)}).")
        df = pd.DataFrame(
            {
                "file": raw["file"].str.strip(),
                "path": [str(root / f.strip()) for f in raw["file"]],
                "emotion": raw["emotion"],
            }
        )
    else:
        rows = [
            (str(p), sub.name)
            for sub in sorted(root.iterdir())
            if sub.is_dir()
            for p in sorted(sub.iterdir())
            if p.suffix.lower() in IMAGE_SUFFIXES
        ]
        if not rows:
            raise DataError(
                f"{root} is not a face set: expected labels.csv (file,emotion) or one subfolder of images per "
                "expression (angry/, happy/, ...)."
            )
        df = pd.DataFrame(rows, columns=["path", "emotion"])
        df["file"] = [str(Path(p).relative_to(root)) for p in df["path"]]
    df["expression"] = df["emotion"].map(canonical_expression)
    df = df[df["path"].map(lambda p: Path(p).is_file())].reset_index(drop=True)
    if df.empty:
        raise DataError(f"No image of {root}'s labels exists.")
    return df[["file", "path", "expression"]]


def detector_dev_half(files: pd.Series | list[str]) -> np.ndarray:
    """Where detector settings were chosen: the files whose name's SHA-1 starts with an even byte (half a set)."""
    return np.array([hashlib.sha1(str(f).encode()).digest()[0] % 2 == 0 for f in files], dtype=bool)


def dev_part(files: pd.Series | list[str], tenths: int = 3) -> np.ndarray:
    """The development part of a face set: where the face crop's margin and the fusion were chosen (``tenths``/10
    of it, by each file name's SHA-1) and where detector settings were chosen (:func:`detector_dev_half`). ``make
    eval-real`` reports on the rest only; ``tenths=0`` (a face set nothing was chosen on) leaves nothing out."""
    if tenths <= 0:
        return np.zeros(len(files), dtype=bool)
    margin = np.array([int(hashlib.sha1(str(f).encode()).hexdigest(), 16) % 10 < tenths for f in files], dtype=bool)
    return margin | detector_dev_half(files)


def webcam_frame(image_bgr: np.ndarray, size: tuple[int, int] = (640, 480), fill: int = 114) -> np.ndarray:
    """A face photograph shown as a webcam frame: placed at its own size (shrunk only when larger) in the middle of
    a ``size`` (width, height) frame of plain grey."""
    W, H = size
    img = image_bgr if image_bgr.ndim == 3 else cv2.cvtColor(image_bgr, cv2.COLOR_GRAY2BGR)
    h, w = img.shape[:2]
    s = min(1.0, W / w, H / h)
    if s < 1.0:
        img = cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        h, w = img.shape[:2]
    frame = np.full((H, W, 3), fill, np.uint8)
    y, x = (H - h) // 2, (W - w) // 2
    frame[y : y + h, x : x + w] = img
    return frame
