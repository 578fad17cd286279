"""The detector interface, the one definition of a detection row, and what every detector shares.

Every detector maps a BGR ``uint8`` image to an ``(N, 17)`` float32 array (:data:`DET_COLUMNS`): the box
``x1, y1, x2, y2``, the ``score``, then six keypoints as ``(x, y)`` pairs in :data:`KEYPOINTS` order, all in
image pixels; a keypoint a detector does not give is NaN (Haar: all six; five-landmark detectors: the ears).
"Right" and "left" are the person's own, so in an unmirrored photograph of a frontal face the right eye has the
smaller x. Detectors report ``settings()`` (everything that changes their output: caches key on it), live in
their own modules (``mtcnn``, ``haar``, ``blazeface``, ``yuface``, ``yunet``, ``retinaface``) and are picked by
Hydra (``detector=...``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol, runtime_checkable

import cv2
import numpy as np
from numpy.typing import ArrayLike

KEYPOINTS = ("right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear_tragion", "left_ear_tragion")
BOX, SCORE, KP = slice(0, 4), 4, slice(5, 5 + 2 * len(KEYPOINTS))
N_COLS = KP.stop  # 17
DET_COLUMNS = ("x1", "y1", "x2", "y2", "score", *(f"{k}_{a}" for k in KEYPOINTS for a in "xy"))
DETS_FORMAT = 2  # version of this layout (1: the old (N, 5) rows); caches store it and rebuild on a change
POSE_COLUMNS = ("roll_deg", "yaw", "size_px")  # what :func:`face_pose` returns per face
_X_COLS = [0, 2, *range(KP.start, KP.stop, 2)]  # every x coordinate of a row
_Y_COLS = [1, 3, *range(KP.start + 1, KP.stop, 2)]
FacePolicy = Literal["largest", "confident"]  # which face the face model sees when there are several
FACE_POLICIES: tuple[FacePolicy, ...] = ("largest", "confident")


@runtime_checkable
class FaceDetector(Protocol):
    """What the data pipeline and ``infer.py`` need from a detector."""

    name: str

    # The longest image side it analyses (``detector.max_side``, the one setting of the size frames are analysed
    # at): ``detect`` searches a larger image on a copy downscaled to it, and PERCEIVE downscales each frame to it
    # once, before detection and the models. Read-only here: an attribute or a property (a wrapper's) both fit.
    @property
    def max_side(self) -> int:
        """The longest image side it analyses."""

    def detect(self, image_bgr: np.ndarray) -> np.ndarray:
        """``(N, 17)`` detections (:data:`DET_COLUMNS`), in ``image_bgr``'s pixels."""

    def settings(self) -> dict:
        """Everything that changes the output (cache key)."""


def downscale(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """``image`` shrunk so its longer side is at most ``max_side`` (aspect kept; as is when already smaller) and the
    scale used (``<= 1``)."""
    h, w = image.shape[:2]
    s = max_side / max(h, w)
    if s >= 1.0:
        return image, 1.0
    return cv2.resize(image, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA), s


def empty_dets() -> np.ndarray:
    """No face: a ``(0, 17)`` array."""
    return np.zeros((0, N_COLS), np.float32)


def make_dets(boxes_xyxy: np.ndarray, scores: ArrayLike, keypoints: np.ndarray | None = None) -> np.ndarray:
    """``(N, 17)`` rows from boxes ``(N, 4)``, scores ``(N,)`` and keypoints ``(N, 6, 2)`` (``None``: all NaN)."""
    boxes = np.asarray(boxes_xyxy, np.float32).reshape(-1, 4)
    out = np.full((len(boxes), N_COLS), np.nan, np.float32)
    out[:, BOX] = boxes
    out[:, SCORE] = np.asarray(scores, np.float32).reshape(-1)
    if keypoints is not None:
        out[:, KP] = np.asarray(keypoints, np.float32).reshape(len(boxes), -1)
    return out


def as_dets(rows: object) -> np.ndarray:
    """Stored rows (a list of lists, ``None`` for NaN as JSON writes it) -> ``(N, 17)`` float32."""
    return np.asarray(rows if rows is not None else [], np.float32).reshape(-1, N_COLS)


def five_point_keypoints(points: np.ndarray) -> np.ndarray:
    """Five landmarks ``(N, 5, 2)`` (eyes, nose, the two mouth corners; MTCNN / YuNet / RetinaFace order: the eye
    with the smaller x first) -> the six :data:`KEYPOINTS`: mouth centre = mean of the corners, ears NaN."""
    p = np.asarray(points, np.float32).reshape(-1, 5, 2)
    out = np.full((len(p), len(KEYPOINTS), 2), np.nan, np.float32)
    out[:, :3] = p[:, :3]
    out[:, 3] = p[:, 3:5].mean(1)
    return out


def keypoints(dets: np.ndarray) -> np.ndarray:
    """The six keypoints of each detection: ``(N, 6, 2)`` (NaN where the detector has none)."""
    d = np.asarray(dets, np.float32).reshape(-1, N_COLS)
    return d[:, KP].reshape(-1, len(KEYPOINTS), 2)


def scale_dets(dets: np.ndarray, factor: float) -> np.ndarray:
    """Detections on an image resized by ``factor`` -> the same in its pixels (boxes and keypoints; a copy)."""
    out = np.array(dets, np.float32, copy=True)
    if out.size and factor != 1.0:
        mask = np.ones(out.shape[-1], bool)
        mask[SCORE] = False
        out[..., mask] *= factor
    return out


def shift_dets(dets: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Detections in a crop whose top-left corner is ``(dx, dy)`` -> in the full image (a copy)."""
    out = np.array(dets, np.float32, copy=True)
    if out.size:
        out[..., _X_COLS] += dx
        out[..., _Y_COLS] += dy
    return out


def face_pose(dets: np.ndarray) -> np.ndarray:
    """Per face ``(N, 3)``, :data:`POSE_COLUMNS`: ``roll_deg``, the in-plane angle of the line from the right eye
    to the left (0 upright, positive when the left eye, on the image's right, is lower); ``yaw``, a turn proxy:
    the nose's offset from the eyes' midpoint along that line, in eye distances (about 0 frontal, growing towards
    ±0.5 as the head turns; positive when the nose is nearer the left eye); ``size_px``, the box's larger side. NaN where the keypoints are missing."""
    d = np.asarray(dets, np.float32).reshape(-1, N_COLS)
    kp = keypoints(d).astype(np.float64)
    eye = kp[:, 1] - kp[:, 0]
    dist = np.hypot(eye[:, 0], eye[:, 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        roll = np.degrees(np.arctan2(eye[:, 1], eye[:, 0]))
        unit = eye / dist[:, None]
        yaw = ((kp[:, 2] - (kp[:, 0] + kp[:, 1]) / 2) * unit).sum(1) / dist
    yaw[~(dist > 0)] = np.nan
    size = np.maximum(d[:, 2] - d[:, 0], d[:, 3] - d[:, 1])
    return np.stack([roll, yaw, size], 1).astype(np.float32)


def xywh_to_dets(
    boxes: np.ndarray | Sequence[Sequence[int]],
    weights: ArrayLike,
    scale: float = 1.0,
    points: np.ndarray | None = None,
) -> np.ndarray:
    """``x, y, w, h`` boxes (and ``(N, 6, 2)`` keypoints) found on a copy scaled by ``scale`` -> ``(N, 17)`` in
    original pixels."""
    if len(boxes) == 0:
        return empty_dets()
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    dets = make_dets(np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], 1), weights, points)
    return scale_dets(dets, 1.0 / scale)


def detect_many(detector: FaceDetector, images: list[np.ndarray]) -> list[np.ndarray]:
    """Detections per image, batched when the detector can (``detect_batch``)."""
    batch = getattr(detector, "detect_batch", None)
    return batch(images) if batch is not None else [detector.detect(im) for im in images]


def choose_face(dets: np.ndarray, policy: FacePolicy = "largest") -> np.ndarray | None:
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
