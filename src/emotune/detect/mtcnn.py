"""MTCNN (facenet-pytorch; its weights ship inside the wheel): finds real faces, frontal to three-quarter,
offline, batched over frames, on CPU or GPU."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from emotune.detect.detectors import SCORE, empty_dets, five_point_keypoints, make_dets, scale_dets
from emotune.utils.errors import MissingResourceError, check_range


class MTCNNDetector:
    """Joint cascade of three small CNNs (P-, R-, O-Net).

    Args:
        min_face_size: smallest face searched for, in pixels of the (downscaled) image.
        thresholds: the three stages' acceptance thresholds.
        factor: image pyramid scale step.
        score_threshold: final confidence a face must reach (0.9 drops the low-score false positives).
        max_side: larger images are searched on a downscaled copy (PERCEIVE downscales its frames to it).
        device: ``cpu`` or ``cuda``.

    The networks run on torch's CPU threads, a process-wide setting made once at start-up (``extras.torch_threads``,
    the page's ``server.torch_threads``), never per call.

    Every setting is required: ``conf/detector/mtcnn.yaml`` is its one home.
    """

    name = "mtcnn"

    def __init__(
        self,
        *,
        min_face_size: int,
        thresholds: tuple[float, float, float] | list[float],
        factor: float,
        score_threshold: float,
        max_side: int,
        device: str,
    ) -> None:
        check_range("detector.min_face_size", min_face_size, 12)
        check_range("detector.factor", factor, 0.3, 0.95)
        check_range("detector.score_threshold", score_threshold, 0.0, 1.0)
        check_range("detector.max_side", max_side, 64)
        for t in thresholds:
            check_range("detector.thresholds", t, 0.0, 1.0)
        try:
            from facenet_pytorch import MTCNN
        except ImportError:
            raise MissingResourceError(
                "MTCNN needs facenet-pytorch: `pip install --no-deps facenet-pytorch==2.6.0` (done by `make install`)."
            ) from None
        self.min_face_size, self.thresholds, self.factor = int(min_face_size), [float(t) for t in thresholds], factor
        self.score_threshold, self.max_side, self.device = float(score_threshold), int(max_side), device
        self._net = MTCNN(
            min_face_size=self.min_face_size, thresholds=self.thresholds, factor=factor, keep_all=True, device=device
        )

    def to(self, device: str | torch.device) -> MTCNNDetector:
        """Run the networks on ``device`` (``perceive.device`` moves the detector with the models)."""
        self._net.to(device)
        self._net.device = torch.device(device)
        self.device = str(device)
        return self

    def _run(self, rgb: np.ndarray | list[np.ndarray], min_face: float) -> list[np.ndarray]:
        """MTCNN on one RGB image or a list of same-size ones; detections above ``score_threshold``."""
        self._net.min_face_size = max(12, round(min_face))
        boxes, probs, points = self._net.detect(rgb, landmarks=True)
        if not isinstance(rgb, list):
            boxes, probs, points = [boxes], [probs], [points]
        out = []
        for b, p, lm in zip(boxes, probs, points):
            if b is None or len(b) == 0:
                out.append(empty_dets())
                continue
            dets = make_dets(b, p, five_point_keypoints(lm))  # its 5 landmarks: eyes, nose, mouth corners
            out.append(dets[dets[:, SCORE] >= self.score_threshold])
        return out

    def _prepare(self, image_bgr: np.ndarray, max_side: float) -> tuple[np.ndarray, float]:
        img = (
            cv2.cvtColor(image_bgr, cv2.COLOR_GRAY2RGB)
            if image_bgr.ndim == 2
            else cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
        )
        scale = min(1.0, max_side / max(img.shape[:2]))
        if scale < 1.0:
            img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(img), scale

    @staticmethod
    def _rescale(dets: np.ndarray, scale: float) -> np.ndarray:
        return scale_dets(dets, 1.0 / scale) if len(dets) and scale != 1.0 else dets

    def detect(self, image_bgr: np.ndarray) -> np.ndarray:
        """Faces in a BGR image: ``(N, 17)`` (``detectors.DET_COLUMNS``; ears NaN)."""
        img, scale = self._prepare(image_bgr, self.max_side)
        return self._rescale(self._run(img, self.min_face_size)[0], scale)

    def detect_batch(self, images_bgr: list[np.ndarray]) -> list[np.ndarray]:
        """Faces per image; same-size images (video frames) go through the networks as one batch."""
        if len(images_bgr) <= 1 or len({im.shape for im in images_bgr}) > 1:
            return [self.detect(im) for im in images_bgr]
        prepared = [self._prepare(im, self.max_side) for im in images_bgr]
        found = self._run([im for im, _ in prepared], self.min_face_size)
        return [self._rescale(d, s) for d, (_, s) in zip(found, prepared)]

    def detect_sized(self, image_bgr: np.ndarray, face_px: float, tolerance: float = 1.6) -> np.ndarray:
        """Faces about ``face_px`` wide: the image is shrunk so such a face is ~64 px and the pyramid starts
        near that size (what the tracker uses to look near the last face)."""
        img, scale = self._prepare(image_bgr, max(image_bgr.shape[:2]) * min(1.0, 64.0 / max(face_px, 1.0)))
        return self._rescale(self._run(img, face_px * scale / tolerance)[0], scale)

    def settings(self) -> dict:
        """Cache key."""
        return {
            "name": self.name,
            "min_face_size": self.min_face_size,
            "thresholds": self.thresholds,
            "factor": self.factor,
            "score_threshold": self.score_threshold,
            "max_side": self.max_side,
        }
