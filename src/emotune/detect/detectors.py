"""The detector interface and what every detector shares.

Every detector maps a BGR ``uint8`` image to an ``(N, 5)`` float array ``x1, y1, x2, y2, score`` in
pixels and reports ``settings()`` (everything that changes its output: caches key on it). Detectors
live in their own modules (``haar``, ``mtcnn``, ``yunet``, ``retinaface``) and are picked by Hydra
(``detector=mtcnn|haar|yunet|retinaface``).
"""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

import cv2
import numpy as np


@runtime_checkable
class FaceDetector(Protocol):
    """What the data pipeline and ``infer.py`` need from a detector."""

    name: str

    def detect(self, image_bgr: np.ndarray) -> np.ndarray:
        """``(N, 5)``: x1, y1, x2, y2, score."""

    def settings(self) -> dict:
        """Everything that changes the output (cache key)."""


def empty_dets() -> np.ndarray:
    """No face: a ``(0, 5)`` array."""
    return np.zeros((0, 5), np.float32)


def xywh_to_dets(boxes: np.ndarray, weights: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """``x, y, w, h`` boxes found on a copy scaled by ``scale`` -> ``(N, 5)`` in original pixels."""
    if len(boxes) == 0:
        return empty_dets()
    b = np.asarray(boxes, np.float32) / scale
    return np.concatenate([b[:, :2], b[:, :2] + b[:, 2:], np.asarray(weights, np.float32).reshape(-1, 1)], 1)


def detect_many(detector: FaceDetector, images: list[np.ndarray]) -> list[np.ndarray]:
    """Detections per image, batched when the detector can (``detect_batch``)."""
    batch = getattr(detector, "detect_batch", None)
    return batch(images) if batch is not None else [detector.detect(im) for im in images]


def choose_face(dets: np.ndarray, policy: Literal["largest", "confident"] = "largest") -> np.ndarray | None:
    """The single face the face model sees: the largest box, or the most confident one."""
    if dets is None or len(dets) == 0:
        return None
    if policy == "confident":
        return dets[int(np.argmax(dets[:, 4]))]
    area = (dets[:, 2] - dets[:, 0]) * (dets[:, 3] - dets[:, 1])
    return dets[int(np.argmax(area))]


def crop_face(image: np.ndarray, box: np.ndarray, margin: float, size: int | None = None) -> np.ndarray:
    """Square crop around ``box`` enlarged by ``margin`` of its size, padded at borders (edge replicate)."""
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    side = max(x2 - x1, y2 - y1) * (1 + 2 * margin)
    half = max(1.0, side / 2)
    X1, Y1, X2, Y2 = round(cx - half), round(cy - half), round(cx + half), round(cy + half)
    H, W = image.shape[:2]
    pad = max(0, -X1, -Y1, X2 - W, Y2 - H)
    if pad:
        image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        X1, Y1, X2, Y2 = X1 + pad, Y1 + pad, X2 + pad, Y2 + pad
    crop = image[Y1:Y2, X1:X2]
    if size is not None and crop.size:
        interp = cv2.INTER_AREA if crop.shape[0] > size else cv2.INTER_LINEAR
        crop = cv2.resize(crop, (size, size), interpolation=interp)
    return crop


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of ``(N, >=4)`` and ``(M, >=4)`` boxes."""
    a, b = np.asarray(a, float)[:, None, :4], np.asarray(b, float)[None, :, :4]
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    area = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1]) + (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return inter / np.maximum(area - inter, 1e-9)
