"""The face-detection cache (``emotune.detect.cache``): two processes building it at once, an image that changed."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from .helpers.configs import build
from .helpers.data import copy_synth


def _build_cache(args: tuple) -> int:
    from emotune.detect.cache import build_face_cache

    paths, image_root, cache_dir, detector = args
    return len(build_face_cache(paths, Path(image_root), detector, Path(cache_dir), progress=False))


def test_two_processes_building_one_face_cache(synth_root: Path, tmp_path: Path) -> None:
    import multiprocessing as mp

    from emotune.data.findingemo import read_annotations

    root = synth_root / "findingemo"
    paths = read_annotations(root / "annotations_single.ann")["image_path"].tolist()[:60]
    with mp.get_context("spawn").Pool(2) as pool:
        counts = pool.map(_build_cache, [(paths, str(root / "images"), str(tmp_path), build("detector", "haar"))] * 2)
    assert counts == [60, 60]
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1 and len(json.loads(files[0].read_text())["images"]) == 60
    assert not list(tmp_path.glob(".*.tmp*"))


def test_face_cache_invalidated_when_an_image_changes(synth_root: Path, tmp_path: Path) -> None:
    from emotune.data.findingemo import read_annotations
    from emotune.detect.cache import build_face_cache

    fe = copy_synth(synth_root, tmp_path) / "findingemo"
    paths = read_annotations(fe / "annotations_single.ann")["image_path"].tolist()[:10]
    boxes = build_face_cache(paths, fe / "images", build("detector", "haar"), tmp_path / "c", progress=False)
    first = next(p for p in paths if boxes[p])
    img = cv2.imread(str(fe / "images" / first.lstrip("/")))
    cv2.imwrite(str(fe / "images" / first.lstrip("/")), np.zeros_like(img))  # the face is gone
    again = build_face_cache(paths, fe / "images", build("detector", "haar"), tmp_path / "c", progress=False)
    assert again[first] == [] and all(again[p] == boxes[p] for p in paths if p != first)
