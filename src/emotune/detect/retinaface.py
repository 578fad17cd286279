"""RetinaFace (Pytorch_Retinaface weight format) through ``facexlib``, from a local weight file."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from emotune.detect.detectors import downscale, empty_dets, five_point_keypoints, make_dets, scale_dets
from emotune.detect.weights import KNOWN_WEIGHTS, ensure_weights
from emotune.utils.errors import MissingResourceError, check_choice, check_range

log = logging.getLogger(__name__)


class RetinaFaceDetector:
    """RetinaFace mobile0.25 or resnet50.

    ``facexlib`` is installed with ``--no-deps`` (it would otherwise pull OpenCV 5, which has no Haar
    cascades). ``weights`` is fetched once when missing and online (mobile0.25, hash-checked);
    ``weights=null`` builds a randomly initialised net (tests only). ``max_side``: a larger image is searched on a
    copy downscaled to it (PERCEIVE downscales its frames to it). Every setting is required:
    ``conf/detector/retinaface.yaml`` is its one home.
    """

    name = "retinaface"

    def __init__(
        self,
        *,
        weights: str | None,
        network: Literal["mobile0.25", "resnet50"],
        conf_threshold: float,
        device: str,
        max_side: int,
    ) -> None:
        check_choice("detector.network", network, ("mobile0.25", "resnet50"))
        check_range("detector.conf_threshold", conf_threshold, 0.0, 1.0)
        self.max_side = int(check_range("detector.max_side", max_side, 64))
        try:
            import torch
            from facexlib.detection.retinaface import RetinaFace
        except ImportError:
            raise MissingResourceError(
                "RetinaFace needs facexlib: `pip install --no-deps facexlib==0.3.0` (done by `make install`)."
            ) from None
        if weights is not None:
            weights = str(ensure_weights(weights, KNOWN_WEIGHTS[f"retinaface_{network}"], "detector.weights"))
        self.net = RetinaFace(network_name=network, half=False, device=torch.device(device))
        if weights is not None:
            state = torch.load(weights, map_location="cpu", weights_only=True)
            state = {k.removeprefix("module."): v for k, v in state.items()}
            self.net.load_state_dict(state, strict=True)
        else:
            log.warning("RetinaFace built with random weights (detector.weights=null): detections are meaningless.")
        self.net.eval()
        self.weights, self.network, self.conf_threshold = weights, network, float(conf_threshold)

    def detect(self, image_bgr: np.ndarray) -> np.ndarray:
        """Faces in a BGR image: ``(N, 17)`` (its 5 landmarks as the eyes, nose and mouth centre; ears NaN)."""
        import torch

        img = cv2.cvtColor(image_bgr, cv2.COLOR_GRAY2BGR) if image_bgr.ndim == 2 else image_bgr
        img, scale = downscale(img, self.max_side)
        with torch.inference_mode():
            dets = self.net.detect_faces(img, self.conf_threshold)
        if dets is None or len(dets) == 0:
            return empty_dets()
        d = np.asarray(dets, np.float32)  # box, score, 5 landmarks
        return scale_dets(make_dets(d[:, :4], d[:, 4], five_point_keypoints(d[:, 5:15])), 1 / scale)

    def settings(self) -> dict:
        """Cache key."""
        w = Path(self.weights) if self.weights else None
        return {
            "name": self.name,
            "network": self.network,
            "conf_threshold": self.conf_threshold,
            "max_side": self.max_side,
            "weights": w.name if w else None,
            "weights_size": w.stat().st_size if w else None,
        }
