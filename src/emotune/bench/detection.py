"""Face detectors side by side: recall and false positives on the synthetic test images and on real
photographs, and the cost per analysed frame of the default clip (full scans and with tracking)."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import cv2
import hydra
import numpy as np
import pandas as pd
from omegaconf import DictConfig

from emotune.detect.detectors import FaceDetector
from emotune.detect.tracking import TrackingDetector
from emotune.runtime.compose import compose_config
from emotune.utils.errors import EmotuneError

log = logging.getLogger(__name__)


def build_detector(name: str, out: Path, *overrides: str) -> FaceDetector | str:
    """``conf/detector/<name>.yaml`` as ``infer.py`` builds it, or why it cannot be built here (one line)."""
    cfg = compose_config("infer", [f"detector={name}", "video=x", *overrides], out)
    try:
        return hydra.utils.instantiate(cfg.detector)
    except Exception as exc:  # Hydra wraps the detector's own one-line error
        cause = exc
        while cause.__cause__ is not None and not isinstance(cause, EmotuneError):
            cause = cause.__cause__
        return str(cause).splitlines()[0]


def synthetic_rates(
    detector: FaceDetector, root: Path, split: str = "test", limit: int | None = None
) -> dict[str, float]:
    """How often the chosen face hits the drawn main face on a synthetic split, and false positives on its
    images without a face (the set's ``faces_truth.csv``)."""
    from emotune.detect.cache import detection_rate

    splits = pd.read_csv(root / "splits.csv")
    paths = splits.loc[splits["split"] == split, "image_path"].tolist()[:limit]
    boxes = {}
    t0 = time.perf_counter()
    for rel in paths:
        img = cv2.imread(str(root / "images" / rel.lstrip("/")), cv2.IMREAD_COLOR)
        if img is not None:
            boxes[rel] = detector.detect(img).tolist()
    rate = detection_rate(boxes, root / "faces_truth.csv")
    rate["ms_per_image"] = 1e3 * (time.perf_counter() - t0) / max(1, len(boxes))
    return rate


def photo_rates(detector: FaceDetector, photos_dir: Path) -> dict[str, float] | None:
    """Recall and false positives per 10 images on the real photographs present (``None`` when none are)."""
    from emotune.detect.photos import load_photos, score_detector

    photos = load_photos(photos_dir)
    return score_detector(detector, photos) if photos else None


def clip_frames(video: Path, fps: float, max_side: int = 640) -> tuple[list[np.ndarray], np.ndarray | None]:
    """The clip's analysed frames and, when its ground truth exists, whether each shows a face."""
    from emotune.eval.metrics import face_at
    from emotune.pipeline.perceive import downscale
    from emotune.pipeline.video import FrameReader, open_capture

    cap, info = open_capture(str(video))
    timed = [(t, downscale(f, max_side)[0]) for t, f in FrameReader(cap, info, fps)]
    cap.release()
    gt = video.with_suffix(".va.csv")
    truth = face_at(pd.read_csv(gt), np.array([t for t, _ in timed])) if gt.is_file() else None
    return [f for _, f in timed], truth


def clip_speed(detector: FaceDetector, frames: list[np.ndarray], truth: np.ndarray | None) -> dict[str, float]:
    """ms per analysed frame and recall on the clip, scanning every frame vs tracking (looking near the last face)."""
    row: dict[str, float] = {}
    for mode, det in (("full", detector), ("tracking", TrackingDetector(detector))):
        det.detect(frames[0])  # warm-up (first call builds kernels / pyramids)
        if isinstance(det, TrackingDetector):
            det.reset()
        t0 = time.perf_counter()
        found = np.array([len(det.detect(f)) > 0 for f in frames])
        row[f"{mode}_ms"] = 1e3 * (time.perf_counter() - t0) / len(frames)
        if truth is not None:
            row[f"{mode}_recall"] = float(found[truth].mean())
            row[f"{mode}_false_positive_rate"] = float(found[~truth].mean()) if (~truth).any() else 0.0
    return row


def detector_table(cfg: DictConfig) -> dict[str, Any]:
    """Every configured detector on the three benchmarks; ``tracking_ms_vs_haar`` compares the costs side by side."""
    out = Path(cfg.out)
    frames, truth = clip_frames(Path(cfg.video), float(cfg.detection.fps))
    synth_root = Path(cfg.video).parents[1] / "findingemo"
    res: dict[str, Any] = {}
    for name in cfg.detection.detectors:
        det = build_detector(name, out)
        if isinstance(det, str):
            res[name] = {"skipped": det}
            continue
        row: dict[str, Any] = {"synthetic": synthetic_rates(det, synth_root, limit=int(cfg.detection.synthetic_images))}
        row["photos"] = photo_rates(det, Path(cfg.detection.photos))
        row["clip"] = clip_speed(det, frames, truth)
        res[name] = row
        log.info("detector %s: %s", name, row)
    for label, (name, *overrides) in (cfg.detection.get("variants") or {}).items():  # the clip's cost only
        det = build_detector(name, out, *overrides)
        res[label] = {"skipped": det} if isinstance(det, str) else {"clip": clip_speed(det, frames, truth)}
    if "clip" in res.get("haar", {}):
        base = res["haar"]["clip"]["tracking_ms"]
        for row in res.values():
            if "clip" in row:
                row["clip"]["tracking_ms_vs_haar"] = row["clip"]["tracking_ms"] / base
    return res
