"""Video helper: look for the face near where it was last seen before scanning the whole frame."""

from __future__ import annotations

import numpy as np

from emotune.detect.detectors import FaceDetector, choose_face, empty_dets, shift_dets
from emotune.utils.errors import check_range


class TrackingDetector:
    """Wraps a detector for video: first a window ``roi_scale`` times the last box, the whole frame when that
    finds nothing or every ``full_every`` calls (a new, larger face elsewhere is then picked up within
    ``full_every`` frames). ``settings()`` is the wrapped detector's.

    A detector's cost grows with the area it scans; in video the face moves little between analysed frames.
    Detectors with ``detect_sized(image, face_px)`` also search only near the last face's size.

    While no face is in view, a detector with ``detect_quick(image)`` (its first pass alone: BlazeFace's model on
    the whole frame) runs that on all but every ``lost_full_every``-th frame: a face that fills a fifth of the frame
    or more is found at once, a smaller one within ``lost_full_every`` frames, and an empty room costs one model
    pass a frame instead of seven.
    """

    def __init__(
        self, detector: FaceDetector, roi_scale: float = 2.2, full_every: int = 8, lost_full_every: int = 4
    ) -> None:
        check_range("perceive.track_roi_scale", roi_scale, 1.0)
        check_range("perceive.track_full_every", full_every, 1)
        check_range("perceive.track_lost_full_every", lost_full_every, 1)
        self.detector, self.roi_scale, self.full_every = detector, float(roi_scale), int(full_every)
        self.lost_full_every = int(lost_full_every)
        self.name = detector.name
        self.reset()

    def reset(self) -> None:
        """Forget the last face."""
        self._last: np.ndarray | None = None
        self._calls = 0
        self._lost = 0  # frames since a face was last seen (0: one is in view)
        self.faces_in_view = 0  # faces found by the last scan of the whole frame (a look near one face sees one)

    @property
    def max_side(self) -> int:
        """The wrapped detector's."""
        return self.detector.max_side

    def settings(self) -> dict:
        """The wrapped detector's settings."""
        return self.detector.settings()

    def detect(self, image_bgr: np.ndarray) -> np.ndarray:
        """Faces in a frame, looking near the last one first."""
        self._calls += 1
        dets = empty_dets()
        if self._last is not None and self._calls % self.full_every:
            dets = self._detect_near(image_bgr, self._last)
        if len(dets) == 0:
            quick = getattr(self.detector, "detect_quick", None)
            if self._lost % self.lost_full_every and quick is not None:
                dets = quick(image_bgr)
            else:
                dets = self.detector.detect(image_bgr)
            self.faces_in_view = len(dets)
        best = choose_face(dets)
        self._last = None if best is None else best[:4].copy()
        self._lost = 0 if best is not None else self._lost + 1
        return dets

    def _detect_near(self, image: np.ndarray, box: np.ndarray) -> np.ndarray:
        H, W = image.shape[:2]
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        half = max(box[2] - box[0], box[3] - box[1]) * self.roi_scale / 2
        x1, y1 = int(max(0, cx - half)), int(max(0, cy - half))
        x2, y2 = int(min(W, cx + half)), int(min(H, cy + half))
        if x2 - x1 < 24 or y2 - y1 < 24:
            return empty_dets()
        roi = np.ascontiguousarray(image[y1:y2, x1:x2])
        if hasattr(self.detector, "detect_sized"):  # expected size known: scan only near it
            dets = self.detector.detect_sized(roi, float(max(box[2] - box[0], box[3] - box[1])))
        else:
            dets = self.detector.detect(roi)
        return shift_dets(dets, x1, y1) if len(dets) else dets  # boxes and keypoints back to frame pixels
