"""OpenCV's YuNet (``cv2.FaceDetectorYN``): a small ONNX face detector (weights fetched once, see ``weights``)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from emotune.detect.detectors import downscale, empty_dets, five_point_keypoints, make_dets, scale_dets
from emotune.detect.weights import KNOWN_WEIGHTS, ensure_weights
from emotune.utils.errors import check_range


class YuNetFaceDetector:
    """YuNet from ``model_path`` (``face_detection_yunet_2023mar.onnx``; downloaded there once when online).

    ``max_side``: a larger image is searched on a copy downscaled to it (PERCEIVE downscales its frames to it).
    Every setting is required: ``conf/detector/yunet.yaml`` is its one home.
    """

    name = "yunet"

    def __init__(self, *, model_path: str, score_threshold: float, nms_threshold: float, max_side: int) -> None:
        check_range("detector.score_threshold", score_threshold, 0.0, 1.0)
        check_range("detector.nms_threshold", nms_threshold, 0.0, 1.0)
        self.max_side = int(check_range("detector.max_side", max_side, 64))
        self.model_path = str(ensure_weights(model_path, KNOWN_WEIGHTS["yunet"], "detector.model_path"))
        self.score_threshold, self.nms_threshold = float(score_threshold), float(nms_threshold)
        self._net = self._load()

    def _load(self) -> cv2.FaceDetectorYN:
        return cv2.FaceDetectorYN.create(self.model_path, "", (320, 320), self.score_threshold, self.nms_threshold)

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_net"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._net = self._load()

    def detect(self, image_bgr: np.ndarray) -> np.ndarray:
        """Faces in a BGR image: ``(N, 17)`` (its 5 landmarks as the eyes, nose and mouth centre; ears NaN)."""
        img = cv2.cvtColor(image_bgr, cv2.COLOR_GRAY2BGR) if image_bgr.ndim == 2 else image_bgr
        img, scale = downscale(img, self.max_side)
        self._net.setInputSize((img.shape[1], img.shape[0]))
        _, faces = self._net.detect(img)
        if faces is None or len(faces) == 0:
            return empty_dets()
        f = np.asarray(faces, np.float32)
        dets = make_dets(
            np.concatenate([f[:, :2], f[:, :2] + f[:, 2:4]], 1), f[:, 14], five_point_keypoints(f[:, 4:14])
        )
        return scale_dets(dets, 1 / scale)

    def settings(self) -> dict:
        """Cache key."""
        return {
            "name": self.name,
            "model": Path(self.model_path).name,
            "size": Path(self.model_path).stat().st_size,
            "score_threshold": self.score_threshold,
            "nms_threshold": self.nms_threshold,
            "max_side": self.max_side,
        }
