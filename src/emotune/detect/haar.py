"""OpenCV's Haar cascade: the lightest detector, offline, no weights to fetch (bundled in OpenCV 4.x wheels)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from emotune.detect.detectors import xywh_to_dets
from emotune.utils.errors import MissingResourceError, check_range


class HaarFaceDetector:
    """Frontal faces with a Haar cascade.

    Args:
        cascade: a file name in ``cv2.data.haarcascades`` or a path to a cascade XML.
        scale_factor / min_neighbors: ``detectMultiScale`` settings.
        min_size_frac: smallest face as a fraction of the image's shorter side.
        max_side: larger images are scanned on a downscaled copy (PERCEIVE downscales its frames to it).

    Every setting is required: ``conf/detector/haar.yaml`` is its one home.
    """

    name = "haar"

    def __init__(
        self, *, cascade: str, scale_factor: float, min_neighbors: int, min_size_frac: float, max_side: int
    ) -> None:
        check_range("detector.scale_factor", scale_factor, 1.0, None, low_inclusive=False)
        check_range("detector.max_side", max_side, 64)
        check_range("detector.min_neighbors", min_neighbors, 0)
        check_range("detector.min_size_frac", min_size_frac, 0.0, 1.0)
        path = Path(cascade)
        if not path.is_file():
            data = getattr(cv2, "data", None)  # the wheel's cascades (4.x wheels; 5.x ship none)
            path = Path(data.haarcascades if data is not None else "") / cascade
        if not path.is_file():
            raise MissingResourceError(
                f"Haar cascade {cascade!r} not found (OpenCV {cv2.__version__}; 5.x wheels ship none). "
                "Install opencv-python-headless<5 (`make install`) or pass detector.cascade=/path/to.xml."
            )
        self._path = path
        self._cascade = self._load(path)
        self.cascade = path.name
        self.scale_factor, self.min_neighbors = float(scale_factor), int(min_neighbors)
        self.min_size_frac, self.max_side = float(min_size_frac), int(max_side)

    @staticmethod
    def _load(path: Path) -> cv2.CascadeClassifier:
        cascade = cv2.CascadeClassifier(str(path))
        if cascade.empty():
            raise MissingResourceError(f"Haar cascade {path} failed to load; the file is not a cascade XML.")
        return cascade

    # OpenCV objects do not pickle: spawned DDP ranks and DataLoader workers reload the cascade from its path.
    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_cascade"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._cascade = self._load(self._path)

    def detect(self, image_bgr: np.ndarray) -> np.ndarray:
        """Faces in a BGR image: ``(N, 17)`` (a cascade has no keypoints: all NaN)."""
        gray = image_bgr if image_bgr.ndim == 2 else cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
        scale = min(1.0, self.max_side / max(gray.shape[:2]))  # big frames: detect on a downscaled copy
        if scale < 1.0:
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        side = max(12, int(self.min_size_frac * min(gray.shape[:2])))
        boxes, _, weights = self._cascade.detectMultiScale3(
            gray, self.scale_factor, self.min_neighbors, minSize=(side, side), outputRejectLevels=True
        )
        return xywh_to_dets(boxes, weights, scale)

    def detect_sized(self, image_bgr: np.ndarray, face_px: float, tolerance: float = 1.6) -> np.ndarray:
        """Faces about ``face_px`` wide (within ``tolerance`` x either way): few scales on a small copy, so a
        tracker's look near the last box costs a fraction of a full scan."""
        gray = image_bgr if image_bgr.ndim == 2 else cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
        scale = min(1.0, 96.0 / max(face_px, 1.0))  # ~96 px faces are plenty for a 24 px cascade
        if scale < 1.0:
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        lo, hi = int(face_px * scale / tolerance), int(np.ceil(face_px * scale * tolerance))
        boxes, _, weights = self._cascade.detectMultiScale3(
            gray,
            self.scale_factor,
            self.min_neighbors,
            minSize=(max(lo, 12), max(lo, 12)),
            maxSize=(hi, hi),
            outputRejectLevels=True,
        )
        return xywh_to_dets(boxes, weights, scale)

    def settings(self) -> dict:
        """Cache key."""
        return {
            "name": self.name,
            "cascade": self.cascade,
            "scale_factor": self.scale_factor,
            "min_neighbors": self.min_neighbors,
            "min_size_frac": self.min_size_frac,
            "max_side": self.max_side,
        }
