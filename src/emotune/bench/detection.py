"""Face detectors side by side: recall and false positives on the synthetic test images and on real
photographs, and the cost per analysed frame of the default clip (full scans and with tracking)."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
from omegaconf import DictConfig

from emotune.bench.children import in_child
from emotune.data.face_sets import detector_dev_half
from emotune.detect.detectors import FaceDetector
from emotune.detect.tracking import TrackingDetector
from emotune.runtime.compose import build_detector

log = logging.getLogger(__name__)


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


def photo_rates(detector: FaceDetector, photos_dir: Path, manifest: Path) -> dict[str, float] | None:
    """Recall, false positives per 10 images and ms per image (a full scan at each photograph's own size) on the
    real photographs of ``manifest`` present in ``photos_dir`` (``None`` when none are)."""
    from emotune.eval.photos import load_photos, score

    if not Path(manifest).is_file():
        return None
    photos = load_photos(manifest, photos_dir)
    if not photos:
        return None
    detector.detect(photos[0][1])  # warm-up
    t0 = time.perf_counter()
    dets = [detector.detect(img) for _, img in photos]
    ms = 1e3 * (time.perf_counter() - t0) / len(photos)
    return {**score(dets, [p for p, _ in photos], [img.shape[:2] for _, img in photos]), "ms_per_image": ms}


def real_face_files(faces_dir: Path, split: str = "test") -> list[Path]:
    """The real face photographs of ``faces_dir/labels.csv`` in one half of a fixed split (``dev``: where detector
    settings are chosen; ``test``: where they are reported; ``all``), decided by a hash of each file name."""
    df = pd.read_csv(faces_dir / "labels.csv")
    files = sorted(df["file"])
    if split != "all":
        dev = detector_dev_half(files)
        files = [f for f, d in zip(files, dev) if d == (split == "dev")]
    return [faces_dir / f for f in files]


def webcam_frame(
    face: np.ndarray, side: int, rng: np.random.Generator, size: tuple[int, int] = (640, 480)
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """``face`` scaled so its longer side is ``side`` and placed at a random spot of a grey ``size`` frame (what a
    webcam shows of a person at some distance); the frame and where the face image lies (x1, y1, x2, y2)."""
    W, H = size
    h, w = face.shape[:2]
    r = side / max(h, w)
    fw, fh = max(1, round(w * r)), max(1, round(h * r))
    img = cv2.resize(face, (fw, fh), interpolation=cv2.INTER_AREA if r < 1 else cv2.INTER_LINEAR)
    frame = np.full((H, W, 3), 128, np.uint8)
    x, y = int(rng.integers(0, W - fw + 1)), int(rng.integers(0, H - fh + 1))
    frame[y : y + fh, x : x + fw] = img
    return frame, (x, y, x + fw, y + fh)


def webcam_rates(detector: FaceDetector, files: list[Path], sides: list[int], seed: int = 0) -> dict[str, Any] | None:
    """The share of real face photographs found when each is shown in a 640 x 480 frame at each of ``sides``
    (a detection whose centre lies on the photograph), false positives per frame elsewhere, and ms per frame."""
    if not files:
        return None
    faces = [im for im in (cv2.imread(str(f), cv2.IMREAD_COLOR) for f in files) if im is not None]
    out: dict[str, Any] = {"images": len(faces)}
    found_all, fp_all, t_all = 0, 0, 0.0
    for side in sides:
        rng = np.random.default_rng(seed + side)
        found = fp = 0
        t = 0.0
        for face in faces:
            frame, (x1, y1, x2, y2) = webcam_frame(face, side, rng)
            t0 = time.perf_counter()
            dets = detector.detect(frame)
            t += time.perf_counter() - t0
            cx, cy = (dets[:, 0] + dets[:, 2]) / 2, (dets[:, 1] + dets[:, 3]) / 2
            on = (x1 <= cx) & (cx <= x2) & (y1 <= cy) & (cy <= y2)
            found += bool(on.any())
            fp += int((~on).sum())
        out[f"recall_{side}"] = found / len(faces)
        out[f"false_positives_per_frame_{side}"] = fp / len(faces)
        found_all, fp_all, t_all = found_all + found, fp_all + fp, t_all + t
    n = len(faces) * len(sides)
    out.update({"recall": found_all / n, "false_positives_per_frame": fp_all / n, "ms_per_frame": 1e3 * t_all / n})
    return out


def clip_frames(video: Path, fps: float, max_side: int = 640) -> tuple[list[np.ndarray], np.ndarray | None]:
    """The clip's analysed frames and, when its ground truth exists, whether each shows a face."""
    from emotune.detect.detectors import downscale
    from emotune.media.video import FrameReader, open_capture
    from emotune.synthetic.truth import face_at

    cap, info = open_capture(str(video))
    timed = [(t, downscale(f, max_side)[0]) for t, f in FrameReader(cap, info, fps)]
    cap.release()
    gt = video.with_suffix(".va.csv")
    truth = face_at(pd.read_csv(gt), np.array([t for t, _ in timed])) if gt.is_file() else None
    return [f for _, f in timed], truth


def clip_speed(
    detector: FaceDetector, frames: list[np.ndarray], truth: np.ndarray | None, repeats: int = 1
) -> dict[str, float]:
    """ms per analysed frame (the fastest of ``repeats`` runs: the least disturbed by other jobs) and recall on the
    clip, scanning every frame vs tracking (looking near the last face); ``*_found``: the share of frames with a
    face (the recall of a clip that shows a face throughout)."""
    row: dict[str, float] = {}
    for mode, det in (("full", detector), ("tracking", TrackingDetector(detector))):
        det.detect(frames[0])  # warm-up (first call builds kernels / pyramids)
        best = float("inf")
        for _ in range(max(1, repeats)):
            if isinstance(det, TrackingDetector):
                det.reset()
            t0 = time.perf_counter()
            found = np.array([len(det.detect(f)) > 0 for f in frames])
            best = min(best, time.perf_counter() - t0)
        row[f"{mode}_ms"] = 1e3 * best / len(frames)
        row[f"{mode}_found"] = float(found.mean())
        if truth is not None:
            row[f"{mode}_recall"] = float(found[truth].mean())
            row[f"{mode}_false_positive_rate"] = float(found[~truth].mean()) if (~truth).any() else 0.0
    return row


def _measure(det: FaceDetector, cfg: DictConfig, clips: dict[str, tuple], faces: list[Path]) -> dict[str, Any]:
    """One detector on every benchmark present."""
    d = cfg.detection
    synth_root = Path(cfg.video).parents[1] / "findingemo"
    row: dict[str, Any] = {"synthetic": synthetic_rates(det, synth_root, limit=int(d.synthetic_images))}
    row["photos"] = photo_rates(det, Path(d.photos), Path(d.photos_manifest))
    for key, (frames, truth) in clips.items():
        row[key] = clip_speed(det, frames, truth, int(d.get("repeats", 1)))
    row["webcam"] = webcam_rates(det, faces, list(d.webcam.sides)) if faces else None
    return row


def detector_table(cfg: DictConfig) -> dict[str, Any]:
    """Every configured detector (and each of ``variants``) on every benchmark: the synthetic test split, the real
    photographs, the default clip (``clip``), a real face clip (``real_clip``, when present) and real face
    photographs shown as webcam frames (``webcam``, when present); ``clip_variants`` on the default clip only, each in
    its own process (so a variant may set the process's start-up settings, such as ``extras.torch_threads``).
    ``tracking_ms_vs_haar`` compares the costs side by side."""
    out, d = Path(cfg.out), cfg.detection
    clips = {"clip": clip_frames(Path(cfg.video), float(d.fps))}
    if d.get("real_clip") and Path(d.real_clip).is_file():
        clips["real_clip"] = clip_frames(Path(d.real_clip), float(d.fps))
    faces_dir = Path(d.webcam.faces) if d.get("webcam") and d.webcam.get("faces") else None
    faces = (
        real_face_files(faces_dir, d.webcam.split)[: d.webcam.get("images")]
        if faces_dir and (faces_dir / "labels.csv").is_file()
        else []
    )
    res: dict[str, Any] = {}
    runs: list[tuple[str, str, list[str]]] = [(name, name, []) for name in d.detectors]
    runs += [(label, name, list(ov)) for label, (name, *ov) in (d.get("variants") or {}).items()]
    for label, name, overrides in runs:
        det = build_detector(name, out, *overrides)
        res[label] = {"skipped": det} if isinstance(det, str) else _measure(det, cfg, clips, faces)
        log.info("detector %s: %s", label, res[label])
    for label, (name, *overrides) in (d.get("clip_variants") or {}).items():  # the clip's cost, in its own process
        result = out / "runs" / f"detector_{label}.json"
        args = ["clip", str(result), str(out / "runs" / f"detector_{label}"), str(cfg.video), str(float(d.fps)),
                str(int(d.get("repeats", 1))), str(name), *map(str, overrides)]  # fmt: skip
        res[label] = in_child(result, args, f"detector {label}")
    if "clip" in res.get("haar", {}):
        base = res["haar"]["clip"]["tracking_ms"]
        for row in res.values():
            if "clip" in row:
                row["clip"]["tracking_ms_vs_haar"] = row["clip"]["tracking_ms"] / base
    return res
