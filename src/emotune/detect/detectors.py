"""Face detectors behind one small interface, selectable from Hydra (``detector=haar|yunet|retinaface``).

Every detector maps a BGR ``uint8`` image to an ``(N, 5)`` float array ``x1, y1, x2, y2, score``
in pixels, and reports ``settings()`` so caches can tell when detection must be redone.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import cv2
import numpy as np

from emotune.utils.errors import ConfigError, MissingResourceError, check_range

log = logging.getLogger(__name__)


@runtime_checkable
class FaceDetector(Protocol):
    """What the data pipeline and ``infer.py`` need from a detector."""

    name: str

    def detect(self, image_bgr: np.ndarray) -> np.ndarray:
        """``(N, 5)``: x1, y1, x2, y2, score."""

    def settings(self) -> dict:
        """Everything that changes the output (cache key)."""


def _empty() -> np.ndarray:
    return np.zeros((0, 5), np.float32)


def _xywh_to_dets(boxes: np.ndarray, weights: np.ndarray, scale: float) -> np.ndarray:
    """OpenCV's ``x, y, w, h`` boxes found on a copy scaled by ``scale`` -> ``(N, 5)`` in original pixels."""
    if len(boxes) == 0:
        return _empty()
    b = np.asarray(boxes, np.float32) / scale
    return np.concatenate([b[:, :2], b[:, :2] + b[:, 2:], np.asarray(weights, np.float32).reshape(-1, 1)], 1)


class HaarFaceDetector:
    """OpenCV's Haar cascade: offline, no weights to fetch (bundled in OpenCV 4.x wheels)."""

    name = "haar"

    def __init__(
        self,
        cascade: str = "haarcascade_frontalface_default.xml",
        scale_factor: float = 1.1,
        min_neighbors: int = 4,
        min_size_frac: float = 0.08,
        max_side: int = 480,
    ) -> None:
        check_range("detector.scale_factor", scale_factor, 1.0, None, low_inclusive=False)
        check_range("detector.min_neighbors", min_neighbors, 0)
        check_range("detector.min_size_frac", min_size_frac, 0.0, 1.0)
        path = Path(cascade)
        if not path.is_file():
            path = Path(getattr(cv2, "data", None).haarcascades if hasattr(cv2, "data") else "") / cascade
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
        gray = image_bgr if image_bgr.ndim == 2 else cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
        scale = min(1.0, self.max_side / max(gray.shape[:2]))  # big frames: detect on a downscaled copy
        if scale < 1.0:
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        side = max(12, int(self.min_size_frac * min(gray.shape[:2])))
        boxes, _, weights = self._cascade.detectMultiScale3(
            gray, self.scale_factor, self.min_neighbors, minSize=(side, side), outputRejectLevels=True
        )
        return _xywh_to_dets(boxes, weights, scale)

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
        return _xywh_to_dets(boxes, weights, scale)

    def settings(self) -> dict:
        return {
            "name": self.name,
            "cascade": self.cascade,
            "scale_factor": self.scale_factor,
            "min_neighbors": self.min_neighbors,
            "min_size_frac": self.min_size_frac,
            "max_side": self.max_side,
        }


class YuNetFaceDetector:
    """OpenCV's YuNet (``cv2.FaceDetectorYN``) from a local ONNX file (face_detection_yunet_*.onnx)."""

    name = "yunet"

    def __init__(self, model_path: str, score_threshold: float = 0.7, nms_threshold: float = 0.3) -> None:
        if not model_path or not Path(model_path).is_file():
            raise MissingResourceError(
                f"YuNet model not found: {model_path!r}. Download face_detection_yunet_2023mar.onnx from the "
                "OpenCV model zoo on a machine with internet and pass detector.model_path=/path/to/it.onnx."
            )
        check_range("detector.score_threshold", score_threshold, 0.0, 1.0)
        self.model_path, self.score_threshold, self.nms_threshold = (
            str(model_path),
            score_threshold,
            nms_threshold,
        )
        self._net = self._load()

    def _load(self) -> cv2.FaceDetectorYN:
        return cv2.FaceDetectorYN.create(
            self.model_path, "", (320, 320), self.score_threshold, self.nms_threshold
        )

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_net"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._net = self._load()

    def detect(self, image_bgr: np.ndarray) -> np.ndarray:
        img = cv2.cvtColor(image_bgr, cv2.COLOR_GRAY2BGR) if image_bgr.ndim == 2 else image_bgr
        self._net.setInputSize((img.shape[1], img.shape[0]))
        _, faces = self._net.detect(img)
        if faces is None or len(faces) == 0:
            return _empty()
        f = np.asarray(faces, np.float32)
        return np.concatenate([f[:, :2], f[:, :2] + f[:, 2:4], f[:, 14:15]], 1)

    def settings(self) -> dict:
        return {
            "name": self.name,
            "model": Path(self.model_path).name,
            "size": Path(self.model_path).stat().st_size,
            "score_threshold": self.score_threshold,
            "nms_threshold": self.nms_threshold,
        }


class RetinaFaceDetector:
    """RetinaFace (Pytorch_Retinaface weight format) through ``facexlib``, from a local weight file.

    ``facexlib`` is installed with ``--no-deps`` (it would otherwise pull OpenCV 5, which has no
    Haar cascades). ``weights=null`` builds a randomly initialised net (tests only).
    """

    name = "retinaface"

    def __init__(
        self,
        weights: str | None,
        network: Literal["mobile0.25", "resnet50"] = "mobile0.25",
        conf_threshold: float = 0.8,
        device: str = "cpu",
    ) -> None:
        if network not in ("mobile0.25", "resnet50"):
            raise ConfigError(
                f"detector.network={network!r} is not valid; choose one of: mobile0.25, resnet50."
            )
        check_range("detector.conf_threshold", conf_threshold, 0.0, 1.0)
        try:
            import torch
            from facexlib.detection.retinaface import RetinaFace
        except ImportError:
            raise MissingResourceError(
                "RetinaFace needs facexlib: `pip install --no-deps facexlib==0.3.0` (done by `make install`)."
            ) from None
        self.net = RetinaFace(network_name=network, half=False, device=torch.device(device))
        if weights is not None:
            if not Path(weights).is_file():
                raise MissingResourceError(
                    f"RetinaFace weights not found: {weights}. Get {'mobilenet0.25_Final.pth' if network == 'mobile0.25' else 'Resnet50_Final.pth'} "
                    "(Pytorch_Retinaface release) and pass detector.weights=/path/to/file.pth."
                )
            state = torch.load(weights, map_location="cpu", weights_only=True)
            state = {k.removeprefix("module."): v for k, v in state.items()}
            self.net.load_state_dict(state, strict=True)
        else:
            log.warning(
                "RetinaFace built with random weights (detector.weights=null): detections are meaningless."
            )
        self.net.eval()
        self.weights, self.network, self.conf_threshold = weights, network, float(conf_threshold)

    def detect(self, image_bgr: np.ndarray) -> np.ndarray:
        import torch

        img = cv2.cvtColor(image_bgr, cv2.COLOR_GRAY2BGR) if image_bgr.ndim == 2 else image_bgr
        with torch.inference_mode():
            dets = self.net.detect_faces(img, self.conf_threshold)
        if dets is None or len(dets) == 0:
            return _empty()
        return np.asarray(dets, np.float32)[:, :5]

    def settings(self) -> dict:
        w = Path(self.weights) if self.weights else None
        return {
            "name": self.name,
            "network": self.network,
            "conf_threshold": self.conf_threshold,
            "weights": w.name if w else None,
            "weights_size": w.stat().st_size if w else None,
        }


def choose_face(dets: np.ndarray, policy: Literal["largest", "confident"] = "largest") -> np.ndarray | None:
    """The single face the face model sees: the largest box, or the most confident one."""
    if dets is None or len(dets) == 0:
        return None
    if policy == "confident":
        return dets[int(np.argmax(dets[:, 4]))]
    area = (dets[:, 2] - dets[:, 0]) * (dets[:, 3] - dets[:, 1])
    return dets[int(np.argmax(area))]


def crop_face(
    image: np.ndarray, box: np.ndarray, margin: float = 0.25, size: int | None = None
) -> np.ndarray:
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
        crop = cv2.resize(
            crop, (size, size), interpolation=cv2.INTER_AREA if crop.shape[0] > size else cv2.INTER_LINEAR
        )
    return crop


class TrackingDetector:
    """Video helper: look for the face near where it was last seen before scanning the whole frame.

    A detector's cost grows with the area it scans; in video the face moves little between analysed
    frames. Each call first runs ``detector`` on a window ``roi_scale`` times the last box, and falls back
    to the whole frame when that finds nothing or every ``full_every`` calls (a new, larger face elsewhere
    is then picked up within ``full_every`` frames). ``settings()`` is the wrapped detector's.
    """

    def __init__(self, detector: FaceDetector, roi_scale: float = 2.2, full_every: int = 8) -> None:
        check_range("perceive.track_roi_scale", roi_scale, 1.0)
        check_range("perceive.track_full_every", full_every, 1)
        self.detector, self.roi_scale, self.full_every = detector, float(roi_scale), int(full_every)
        self.name = detector.name
        self.reset()

    def reset(self) -> None:
        self._last: np.ndarray | None = None
        self._calls = 0

    def settings(self) -> dict:
        return self.detector.settings()

    def detect(self, image_bgr: np.ndarray) -> np.ndarray:
        self._calls += 1
        dets = _empty()
        if self._last is not None and self._calls % self.full_every:
            dets = self._detect_near(image_bgr, self._last)
        if len(dets) == 0:
            dets = self.detector.detect(image_bgr)
        best = choose_face(dets)
        self._last = None if best is None else best[:4].copy()
        return dets

    def _detect_near(self, image: np.ndarray, box: np.ndarray) -> np.ndarray:
        H, W = image.shape[:2]
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        half = max(box[2] - box[0], box[3] - box[1]) * self.roi_scale / 2
        x1, y1 = int(max(0, cx - half)), int(max(0, cy - half))
        x2, y2 = int(min(W, cx + half)), int(min(H, cy + half))
        if x2 - x1 < 24 or y2 - y1 < 24:
            return _empty()
        roi = np.ascontiguousarray(image[y1:y2, x1:x2])
        if hasattr(self.detector, "detect_sized"):  # expected size known: scan only near it
            dets = self.detector.detect_sized(roi, float(max(box[2] - box[0], box[3] - box[1])))
        else:
            dets = self.detector.detect(roi)
        if len(dets):
            dets = dets.copy()
            dets[:, [0, 2]] += x1
            dets[:, [1, 3]] += y1
        return dets
