"""Real labelled images through PERCEIVE, one row each: what both paths, the frame context and the fusion read.

The real-input heads are fitted on these rows (:mod:`emotune.runtime.real_fit`) and ``make eval-real`` scores them
(:mod:`emotune.eval.real`). Face photographs are shown as webcam frames (the photo at its own size in a grey frame);
rated photographs as they are. Every image is identified by its content (a hash of its bytes), so a fitted head can
say which images it was fitted on in any copy of a data set, and which of its cross-fitting folds never saw one.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from tqdm.auto import tqdm

from emotune.data.expressions import RUSSELL_MEHRABIAN_1977
from emotune.data.face_sets import read_face_set, webcam_frame
from emotune.data.oasis import read_oasis
from emotune.data.splits import hash_split
from emotune.detect.context import CONTEXT_COLUMNS
from emotune.utils.scales import OASIS

log = logging.getLogger(__name__)
NO_EXPRESSION = ""


@dataclass(frozen=True)
class LabelledImage:
    """One labelled image: where it is, its label on the reference scale, and what groups it for splitting."""

    path: str
    label: tuple[float, float]  # reference-scale V-A (a face's expression's published coordinates)
    source: str  # the data set (a face set's folder name, or ``oasis``)
    group: str  # images of one person (faces) or one theme (photographs) share it
    expression: str = NO_EXPRESSION  # a face's expression (canonical name)
    category: str = ""  # a photograph's OASIS category
    split: str = ""  # a photograph's hash-split part
    webcam: bool = False  # shown as a webcam frame


def content_id(path: str | Path) -> str:
    """A short hash of a file's bytes: the same image in any folder has the same id."""
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()[:16]


def person_of(file: str) -> str:
    """The person a face photo shows, from its file name (``George_W_Bush_0486.jpg`` -> ``George_W_Bush``)."""
    stem = Path(file).stem
    return re.sub(r"[_\-\s]*\d+$", "", stem) or stem


def face_images(root: Path, with_coordinates_only: bool = True) -> list[LabelledImage]:
    """A labelled face set (:func:`emotune.data.face_sets.read_face_set`), labels = published coordinates; faces of
    expressions without coordinates (contempt) are left out unless ``with_coordinates_only`` is false."""
    df = read_face_set(root)
    out = []
    for file, path, expr in zip(df["file"], df["path"], df["expression"]):
        coords = RUSSELL_MEHRABIAN_1977.get(expr)
        if coords is None and with_coordinates_only:
            continue
        label = coords if coords is not None else (float("nan"), float("nan"))
        out.append(LabelledImage(path, label, root.name, person_of(file), expression=expr, webcam=True))
    return out


def photo_images(root: Path, splits: list[str] | None, split_seed: int = 0) -> list[LabelledImage]:
    """OASIS photographs (``OASIS.csv`` + ``images/``) of the hash-split parts ``splits`` (``None``: all) that exist."""
    df = read_oasis(root / "OASIS.csv")
    df["split"] = hash_split(df["theme"], seed=split_seed).to_numpy()
    target = OASIS.to_ref(df[["valence", "arousal"]].to_numpy(np.float64))
    out = []
    for i, row in enumerate(df.itertuples()):
        path = root / "images" / row.image_path
        if (splits is None or row.split in splits) and path.is_file():
            v, a = (float(x) for x in target[i])
            out.append(LabelledImage(str(path), (v, a), "oasis", row.theme, category=row.category, split=row.split))
    return out


@dataclass
class PerceivedRows:
    """Per image (``N`` rows): both paths' readings, the frame context, the fusion's reading and weight."""

    images: list[LabelledImage]
    scene_mean: np.ndarray
    scene_var: np.ndarray
    face_mean: np.ndarray  # NaN without a face
    face_var: np.ndarray
    face_found: np.ndarray
    context: np.ndarray
    face_features: np.ndarray  # zeros without a face
    fused_mean: np.ndarray
    fused_var: np.ndarray
    face_weight: np.ndarray
    content: list[str] = field(default_factory=list)
    cross_fitted: int = 0  # images scored by a cross-fitting fold that never saw them (eval-real)

    @property
    def label(self) -> np.ndarray:
        """``(N, 2)`` reference-scale labels."""
        return np.array([im.label for im in self.images], np.float64)

    def column(self, name: str) -> np.ndarray:
        """One attribute of every image (``source``, ``group``, ``expression``, ``category``, ``split``)."""
        return np.array([getattr(im, name) for im in self.images])

    def subset(self, keep: np.ndarray) -> PerceivedRows:
        """The rows where ``keep`` is true."""
        idx = np.flatnonzero(keep)
        out = copy.copy(self)
        for k, v in vars(self).items():
            if isinstance(v, np.ndarray):
                setattr(out, k, v[idx])
        out.images, out.content = [self.images[i] for i in idx], [self.content[i] for i in idx]
        return out


def perceive_images(
    perceiver: Any,
    images: list[LabelledImage],
    frame_size: tuple[int, int],
    before_each: Callable[[str], None] | None = None,
    desc: str = "perceive",
) -> PerceivedRows:
    """Each image through ``perceiver`` on its own (the tracker forgets the last one). ``before_each(content id)``
    runs first (eval-real puts in the cross-fitting fold that never saw the image). Unreadable images are skipped."""
    keep, rows = [], []
    for im in tqdm(images, desc=desc, unit="img", leave=False):
        img = cv2.imread(im.path, cv2.IMREAD_COLOR)
        if img is None:
            log.warning("Unreadable image skipped: %s", im.path)
            continue
        cid = content_id(im.path)
        if before_each is not None:
            before_each(cid)
        perceiver.reset()
        with torch.inference_mode():
            fp = perceiver([webcam_frame(img, frame_size) if im.webcam else img])[0]
        keep.append((im, cid))
        rows.append(fp)
    n, k = len(rows), len(CONTEXT_COLUMNS)
    n_feat = max((len(fp.face_features) for fp in rows if fp.face_features is not None), default=0)
    nan2 = np.full((n, 2), np.nan)
    out = PerceivedRows(
        images=[im for im, _ in keep],
        content=[c for _, c in keep],
        scene_mean=np.array([fp.scene_mean for fp in rows]).reshape(n, 2),
        scene_var=np.array([fp.scene_var for fp in rows]).reshape(n, 2),
        face_mean=nan2.copy(),
        face_var=nan2.copy(),
        face_found=np.array([fp.face_found for fp in rows], bool),
        context=np.array([fp.context if fp.context is not None else np.zeros(k) for fp in rows]).reshape(n, k),
        face_features=np.zeros((n, n_feat), np.float32),
        fused_mean=np.array([fp.fused_mean for fp in rows]).reshape(n, 2),
        fused_var=np.array([fp.fused_var for fp in rows]).reshape(n, 2),
        face_weight=np.array([fp.face_weight if fp.face_weight is not None else np.zeros(2) for fp in rows]).reshape(
            n, 2
        ),
    )
    for i, fp in enumerate(rows):
        if fp.face_found:
            out.face_mean[i], out.face_var[i] = fp.face_mean, fp.face_var
            if fp.face_features is not None:
                out.face_features[i] = fp.face_features
    return out
