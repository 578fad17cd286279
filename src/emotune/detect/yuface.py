"""libfacedetection (YuNet's CNN) through the ``yuface`` wheel (BSD-3): weights compiled in, nothing to fetch."""

from __future__ import annotations

import ctypes
from pathlib import Path

import cv2
import numpy as np

from emotune.detect.detectors import empty_dets, five_point_keypoints, xywh_to_dets
from emotune.utils.errors import MissingResourceError, check_range


def _openmp(package_dir: Path) -> ctypes.CDLL | None:
    """The OpenMP runtime vendored in the wheel (``yuface.libs/libgomp-*.so``), its own copy, apart from torch's:
    setting its thread count here leaves torch's alone (``OMP_NUM_THREADS`` would set both)."""
    libs = sorted((package_dir.parent / "yuface.libs").glob("libgomp*.so*"))
    try:
        return ctypes.CDLL(str(libs[0])) if libs else None
    except OSError:
        return None


class YuFaceDetector:
    """libfacedetection's CNN face detector (5 landmarks), on a copy downscaled to ``max_side``.

    Args:
        score_threshold: confidence a face must reach (the wheel reports 0-100; here 0-1).
        max_side: larger images are searched on a downscaled copy (its cost grows with the area); PERCEIVE
            downscales its frames to it.
        threads: OpenMP threads of the wheel's own runtime (``None``: its default, ``OMP_NUM_THREADS`` or all cores).
    """

    name = "yuface"

    def __init__(self, *, score_threshold: float, max_side: int, threads: int | None) -> None:
        check_range("detector.score_threshold", score_threshold, 0.0, 1.0)
        check_range("detector.max_side", max_side, 64)
        if threads is not None:
            check_range("detector.threads", threads, 1)
        try:
            import yuface
        except ImportError:
            raise MissingResourceError(
                "detector=yuface needs the yuface wheel (libfacedetection; CPython 3.10/3.11 on Linux x86-64): "
                "`pip install yuface==2023.5.1`, or pick another detector (detector=blazeface)."
            ) from None

        self._detect = yuface.c_detect  # (N, 16) int16: score 0-100, x, y, w, h, 5 landmarks, one spare value
        self._omp = _openmp(Path(yuface.__file__).parent)
        self.score_threshold, self.max_side = float(score_threshold), int(max_side)
        self.threads = None if threads is None else int(threads)

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("_detect", "_omp")}

    def __setstate__(self, state: dict) -> None:
        YuFaceDetector.__init__(  # rebuild the wheel's handles (not picklable) from the settings
            self, score_threshold=state["score_threshold"], max_side=state["max_side"], threads=state["threads"]
        )

    def detect(self, image_bgr: np.ndarray) -> np.ndarray:
        """Faces in a BGR image: ``(N, 17)`` (its 5 landmarks as the eyes, nose and mouth centre; ears NaN)."""
        img = cv2.cvtColor(image_bgr, cv2.COLOR_GRAY2BGR) if image_bgr.ndim == 2 else image_bgr
        scale = min(1.0, self.max_side / max(img.shape[:2]))
        if scale < 1.0:
            img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        if self.threads is not None and self._omp is not None:
            self._omp.omp_set_num_threads(self.threads)  # per calling thread in OpenMP: set before every call
        r = np.asarray(self._detect(np.ascontiguousarray(img)), np.float32).reshape(-1, 16)
        r = r[r[:, 0] >= 100 * self.score_threshold]
        if len(r) == 0:
            return empty_dets()
        return xywh_to_dets(r[:, 1:5], r[:, 0] / 100, scale, five_point_keypoints(r[:, 5:15]))

    def settings(self) -> dict:
        """Cache key."""
        return {"name": self.name, "score_threshold": self.score_threshold, "max_side": self.max_side}
