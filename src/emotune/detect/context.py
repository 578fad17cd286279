"""What a frame shows about the face the face path reads: how much of the picture it fills, how many faces share
it, how frontal, upright and sharp it is, how sure the detector was. The fusion weighs the two paths with it (a face
filling a webcam frame says more about the moment than one face among many in a wide photograph).

One row per frame, :data:`CONTEXT_COLUMNS`; a frame without a face is all zeros (``has_face`` says which frames
have one). Computed the same way on training images (from their cached detections) and on video frames.
"""

from __future__ import annotations

import cv2
import numpy as np

from emotune.detect.detectors import BOX, SCORE, face_pose

CONTEXT_COLUMNS = (
    "log_face_area",  # log of the chosen face's box area over the frame's area
    "other_faces",  # log(1 + the number of other faces in view)
    "abs_yaw",  # |yaw| from the keypoints (0 frontal, ~0.5 in profile); 0 when the detector gives none
    "abs_roll",  # |roll| in units of 45 degrees; 0 when the detector gives no eyes
    "log_sharpness",  # log(1 + the variance of the Laplacian of the face at 64x64 grey): low when blurred
    "det_score",  # the detector's confidence in the face
)
SHARPNESS_SIDE = 64  # faces are compared at one size, so a large blurred face is not called sharp
MIN_AREA = 1e-4


def face_context(
    frame_hw: tuple[int, int], chosen: np.ndarray | None, n_faces: int, crop_rgb: np.ndarray | None
) -> np.ndarray:
    """``(len(CONTEXT_COLUMNS),)`` float32 for one frame of ``frame_hw`` pixels: ``chosen`` the face the face path
    reads (a detection row), ``n_faces`` how many faces are in view, ``crop_rgb`` the chosen face's crop. Zeros
    without a face."""
    out = np.zeros(len(CONTEXT_COLUMNS), np.float32)
    if chosen is None:
        return out
    h, w = frame_hw
    x1, y1, x2, y2 = (float(v) for v in chosen[BOX])
    area = max(0.0, x2 - x1) * max(0.0, y2 - y1) / max(1.0, float(h * w))
    roll, yaw, _ = face_pose(chosen)[0]
    out[0] = np.log(max(area, MIN_AREA))
    out[1] = np.log1p(max(0, n_faces - 1))
    out[2] = abs(float(yaw)) if np.isfinite(yaw) else 0.0
    out[3] = abs(float(roll)) / 45.0 if np.isfinite(roll) else 0.0
    out[4] = sharpness(crop_rgb) if crop_rgb is not None and crop_rgb.size else 0.0
    out[5] = float(chosen[SCORE]) if np.isfinite(chosen[SCORE]) else 0.0
    return out


def sharpness(crop_rgb: np.ndarray) -> float:
    """``log(1 + var(Laplacian))`` of the crop in grey at :data:`SHARPNESS_SIDE` pixels."""
    grey = crop_rgb if crop_rgb.ndim == 2 else cv2.cvtColor(crop_rgb, cv2.COLOR_RGB2GRAY)
    interp = cv2.INTER_AREA if grey.shape[0] > SHARPNESS_SIDE else cv2.INTER_LINEAR
    small = cv2.resize(grey, (SHARPNESS_SIDE, SHARPNESS_SIDE), interpolation=interp)
    return float(np.log1p(cv2.Laplacian(small, cv2.CV_32F).var()))
