"""A face-detection cache per data set: detections per image, built once, rebuilt when the detector,
its settings, the detection row format (``detectors.DETS_FORMAT``) or an image file changes. Safe when two
processes build it at once (file lock)."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from emotune.detect.detectors import DETS_FORMAT, FaceDetector, as_dets
from emotune.utils.io import file_lock, file_stamp, safe_join, write_json_atomic

log = logging.getLogger(__name__)


def cache_settings(detector: FaceDetector) -> dict:
    """What a cache file is valid for: the detector's settings and the detection row format."""
    return {"dets_format": DETS_FORMAT, **detector.settings()}


def detector_key(detector: FaceDetector) -> str:
    """Hash of the detector's name and settings and the row format."""
    return hashlib.sha1(json.dumps(cache_settings(detector), sort_keys=True).encode()).hexdigest()[:12]


def build_face_cache(
    image_paths: list[str],
    image_root: str | Path,
    detector: FaceDetector,
    cache_dir: str | Path,
    progress: bool = True,
) -> dict[str, list[list[float]]]:
    """Detections (rows of ``detectors.DET_COLUMNS`` as lists, ``None`` for NaN) per ``image_path``, loaded or
    computed; ``detectors.as_dets`` turns one entry back into an ``(N, 17)`` array.

    The cache file is ``<cache_dir>/faces_<detector>_<settings-hash>.json``; entries whose image
    file changed (size or mtime) are recomputed; a file written for other settings or another row format
    (the old 5-column one) is not read. Unreadable images get no entry.
    """
    image_root = Path(image_root)
    path = Path(cache_dir) / f"faces_{detector.name}_{detector_key(detector)}.json"
    with file_lock(path):
        cached: dict = {}
        if path.is_file():
            try:
                blob = json.loads(path.read_text())
                if blob.get("settings") == cache_settings(detector):
                    cached = blob.get("images", {})
            except json.JSONDecodeError:
                log.warning("Face cache %s is corrupt; rebuilding it.", path)
        out, todo = {}, []
        for rel in image_paths:
            p = safe_join(image_root, rel)
            if not p.is_file():
                continue
            stamp = file_stamp(p)
            hit = cached.get(rel)
            if hit is not None and hit.get("stamp") == stamp:
                out[rel] = hit
            else:
                todo.append((rel, p, stamp))
        for chunk in tqdm(
            list(_chunks(todo, 64)),
            desc=f"detect faces ({detector.name})",
            disable=not progress or not todo,
            unit="batch",
        ):
            read = [(rel, stamp, cv2.imread(str(p), cv2.IMREAD_COLOR)) for rel, p, stamp in chunk]
            images = [(rel, stamp, img) for rel, stamp, img in read if img is not None]  # unreadable: no entry
            for (rel, stamp, _), dets in zip(images, _detect_same_size(detector, [img for _, _, img in images])):
                out[rel] = {"stamp": stamp, "boxes": np.round(dets, 2).tolist()}
        if todo:
            write_json_atomic(path, {"settings": cache_settings(detector), "images": {**cached, **out}}, indent=0)
            n_face = sum(bool(v["boxes"]) for v in out.values())
            log.info(
                "Face cache %s: %d images, %d with a face, %d without",
                path.name,
                len(out),
                n_face,
                len(out) - n_face,
            )
    return {rel: v["boxes"] for rel, v in out.items()}


def _chunks(items: list, n: int) -> list[list]:
    return [items[i : i + n] for i in range(0, len(items), n)]


def _detect_same_size(detector: FaceDetector, images: list[np.ndarray]) -> list[np.ndarray]:
    """Detections in input order, batching images of the same size (a batched detector's fast path)."""
    from emotune.detect.detectors import detect_many

    out: dict[int, np.ndarray] = {}
    groups: dict[tuple, list[int]] = {}
    for i, img in enumerate(images):
        groups.setdefault(img.shape, []).append(i)
    for idx in groups.values():
        for i, dets in zip(idx, detect_many(detector, [images[i] for i in idx])):
            out[i] = dets
    return [out[i] for i in range(len(images))]


def detection_rate(boxes: dict[str, list], truth_csv: str | Path) -> dict[str, float]:
    """How often the detector's chosen face hits the drawn main face, on images whose main face is visible
    (synthetic truth file), and how often it reports a face where no face is visible."""
    from emotune.detect.detectors import choose_face

    truth = pd.read_csv(truth_csv)
    if "visible" not in truth.columns:
        truth["visible"] = True
    main = truth[truth["main"] & truth["visible"]].set_index("image_path")
    any_visible = set(truth.loc[truth["visible"], "image_path"])
    hits = n = false_pos = no_face = 0
    for rel, b in boxes.items():
        if rel not in any_visible:
            no_face += 1
            false_pos += bool(b)
            continue
        if rel not in main.index:
            continue
        n += 1
        f = choose_face(as_dets(b))
        if f is None:
            continue
        t = main.loc[rel]
        cx, cy = (f[0] + f[2]) / 2, (f[1] + f[3]) / 2
        hits += abs(cx - (t.x + t.w / 2)) < t.w / 2 and abs(cy - (t.y + t.h / 2)) < t.h / 2
    return {
        "images_with_face": n,
        "found": int(hits),
        "recall": hits / max(1, n),
        "images_without_face": no_face,
        "false_positive_rate": false_pos / max(1, no_face),
    }
