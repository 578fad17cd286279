"""Detectors scored on real photographs with faces marked by eye (``tests/assets/real_photos.json``; the photographs
themselves ship inside published packages and are fetched by ``make photos``, never committed).

A detection finds a marked face when its centre lies inside the marked box; any other detection is a false
positive. Boxes reaching past the border (a face cut by it) are clipped to the image first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import cv2
import numpy as np

from emotune.data.pypi_media import PackagedFile, sha256
from emotune.detect.detectors import FaceDetector, as_dets

Boxes = tuple[tuple[int, int, int, int], ...]  # marked faces, x1, y1, x2, y2 each


@dataclass(frozen=True)
class Photo:
    """One photograph: where it ships and the faces a person would mark in it (none: a photo without a face)."""

    file: PackagedFile
    faces: Boxes = ()

    @property
    def name(self) -> str:
        """The file name in the photographs folder."""
        return self.file.name


def read_manifest(path: str | Path) -> list[Photo]:
    """The photographs listed in a manifest (``{"photos": [{name, package, member, sha256, kind, faces}]}``)."""
    rows = json.loads(Path(path).read_text())["photos"]
    return [
        Photo(
            PackagedFile(r["name"], r["package"], r["member"], r["sha256"], r.get("kind", "wheel"), r.get("note", "")),
            cast(Boxes, tuple(tuple(int(v) for v in f) for f in r.get("faces", []))),
        )
        for r in rows
    ]


def load_photos(manifest: str | Path, folder: str | Path) -> list[tuple[Photo, np.ndarray]]:
    """The manifest's photographs present in ``folder`` with the right hash, decoded as BGR."""
    out = []
    for p in read_manifest(manifest):
        f = Path(folder) / p.name
        if f.is_file():
            data = f.read_bytes()
            if sha256(data) == p.file.sha256:
                img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
                if img is not None:
                    out.append((p, img))
    return out


def score(
    detections: list[np.ndarray], photos: list[Photo], sizes: list[tuple[int, int]] | None = None
) -> dict[str, float]:
    """Recall over marked faces and false positives per image (``sizes``: each image's height, width)."""
    found = faces = fp = 0
    for i, (dets, p) in enumerate(zip(detections, photos)):
        marked = np.asarray(p.faces, float).reshape(-1, 4)
        hit = np.zeros(len(marked), bool)
        dets = as_dets(dets).astype(float)
        if sizes is not None:
            h, w = sizes[i]
            dets[:, [0, 2]] = dets[:, [0, 2]].clip(0, w)
            dets[:, [1, 3]] = dets[:, [1, 3]].clip(0, h)
        for d in dets:
            cx, cy = (d[0] + d[2]) / 2, (d[1] + d[3]) / 2
            inside = (marked[:, 0] <= cx) & (cx <= marked[:, 2]) & (marked[:, 1] <= cy) & (cy <= marked[:, 3])
            if inside.any():
                hit |= inside
            else:
                fp += 1
        found, faces = found + int(hit.sum()), faces + len(marked)
    n = max(1, len(photos))
    return {
        "images": len(photos),
        "faces": faces,
        "found": found,
        "recall": found / max(1, faces),
        "false_positives": fp,
        "false_positives_per_10_images": 10 * fp / n,
    }


def score_detector(detector: FaceDetector, photos: list[tuple[Photo, np.ndarray]]) -> dict[str, float]:
    """:func:`score` of ``detector.detect`` on the photographs present."""
    return score(
        [detector.detect(img) for _, img in photos], [p for p, _ in photos], [img.shape[:2] for _, img in photos]
    )
