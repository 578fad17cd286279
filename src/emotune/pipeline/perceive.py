"""PERCEIVE: per-frame V-A with uncertainty from the scene path, the face path and their fusion."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from emotune.data.transforms import build_transform
from emotune.detect.context import CONTEXT_COLUMNS, face_context
from emotune.detect.detectors import (
    FACE_POLICIES,
    FaceDetector,
    choose_face,
    crop_face,
    detect_many,
    downscale,
    scale_dets,
)
from emotune.detect.tracking import TrackingDetector
from emotune.models.components.fusion import DEFAULT_SCENE_WEIGHT, PathEstimates, fixed
from emotune.models.loading import TrainedModels
from emotune.pipeline.scene_rate import SceneSchedule
from emotune.utils.errors import ConfigError, check_choice, check_range
from emotune.utils.timing import Stopwatch

log = logging.getLogger(__name__)


@dataclass
class FramePerception:
    """One analysed frame; V-A on the [-1, 1] reference, variances per dimension, the box in frame pixels."""

    scene_mean: np.ndarray
    scene_var: np.ndarray
    face_found: bool
    face_box: np.ndarray | None
    face_mean: np.ndarray | None
    face_var: np.ndarray | None
    fused_mean: np.ndarray
    fused_var: np.ndarray
    scene_fresh: bool = True  # the scene backbone ran on this frame (else its last reading was reused)
    context: np.ndarray | None = None  # what the frame shows about the face (detect.context.CONTEXT_COLUMNS)
    face_weight: np.ndarray | None = None  # the fusion's weight on the face per dimension (0 without a face)
    face_features: np.ndarray | None = None  # the face backbone's features (what the face head read), with a face


class Perceiver:
    """Runs the trained models on batches of frames (``conf/perceive``).

    Args:
        models: the trained phases (:func:`emotune.models.loading.load_trained`).
        detector: the face detector (used when a face model is loaded). Each frame is downscaled once, to its
            ``max_side`` (``detector.max_side``), before detection and the models; without a detector frames are
            analysed as given.
        fps: analysed frames per second of video.
        batch_size: frames per model batch (1 for a live window).
        mc_samples: T, dropout head passes; ``None`` uses each checkpoint's own ``mc_samples``.
        seed: the dropout passes' draws: each video (:meth:`reset`) starts this perceiver's own random stream here,
            so a run repeats exactly and users of one server never share (or disturb) each other's draws.
        face_margin: crop margin; ``None`` uses the margin the face model was trained with.
        face_policy: which face the face path sees when there are several: ``largest`` or ``confident``.
        track_faces: look near the last face before scanning the whole frame (:class:`TrackingDetector`).
        scene_every_s: the scene path runs on a shot change or when its reading is this old (0: every frame).
        scene_change: the shot-change threshold (mean absolute difference of grey thumbnails, 0..1).
        device: where the models run (``cpu``, ``cuda``); a detector with a ``to(device)`` method follows them.
        channels_last: keep the backbones' weights and inputs in NHWC memory order (the same outputs; oneDNN's
            convolutions and pooling run about 1.6x faster on CPU this way).
        warmup: run each backbone once per batch size it will see, at load: oneDNN builds its kernels for each new
            input shape on first use (15-30 ms a shape on CPU), which would otherwise stall the first frames.

    Every setting is required: ``conf/perceive/default.yaml`` (and ``conf/detector/``) is its one home.
    """

    def __init__(
        self,
        *,
        models: TrainedModels,
        detector: FaceDetector | None,
        fps: float,
        batch_size: int,
        mc_samples: int | None,
        seed: int,
        face_margin: float | None,
        face_policy: str,
        track_faces: bool,
        scene_every_s: float,
        scene_change: float,
        device: str,
        channels_last: bool,
        warmup: bool,
    ) -> None:
        self.fps = check_range("perceive.fps", fps, 0.0, 60.0, low_inclusive=False)
        self.batch_size = int(check_range("perceive.batch_size", batch_size, 1))
        self.max_side = None if detector is None else int(detector.max_side)  # the one downscale's size
        self.mc_samples = None if mc_samples is None else int(check_range("perceive.mc_samples", mc_samples, 1))
        if not check_range("perceive.seed", seed, 0, 2**63 - 1).is_integer():
            raise ConfigError(f"perceive.seed={seed!r} is not a whole number.")
        self.seed = int(seed)
        self.face_policy = check_choice("perceive.face_policy", face_policy, FACE_POLICIES)
        self.scene, self.face, self.fusion = models.scene, models.face, models.fusion
        self.paths_run, self.checkpoints_missing = models.paths_run, models.missing
        self.checkpoints = {k: v for k, v in models.checkpoints.items() if v}
        if self.face is not None and face_margin is not None:
            self.face_margin = check_range("perceive.face_margin", face_margin, -0.3, 2.0)
        else:
            self.face_margin = self.face.face_margin if self.face is not None else 0.0
        self.detector = None
        if self.face is not None:
            self.detector = TrackingDetector(detector) if track_faces and detector is not None else detector
        self.stopwatch = Stopwatch()
        self.scene_tf = build_transform(self.scene.data_config)
        self.face_tf = build_transform(self.face.data_config) if self.face is not None else None
        self.schedule = SceneSchedule(scene_every_s, scene_change)
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError("perceive.device=cuda but no CUDA device is available; use perceive.device=cpu.")
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        for m in (self.scene, self.face, self.fusion):
            if m is not None:
                m.to(self.device, memory_format=self.memory_format)
        if detector is not None and hasattr(detector, "to"):
            detector.to(self.device)
        self._last_scene: tuple[torch.Tensor, torch.Tensor] | None = None
        self._next_t = 0.0
        self.generator = torch.Generator(device=self.device).manual_seed(self.seed)
        if warmup:
            self._warm_up()

    @torch.inference_mode()
    def _warm_up(self) -> None:
        """One forward of each backbone per batch size the run will see: every size for the face path; for the scene
        path one frame (it runs on the few fresh frames of a batch) or whole batches (``scene_every_s=0``)."""
        scene_sizes = [1] if self.schedule.every_s > 0 else sorted({1, self.batch_size})
        face_sizes = list(range(1, self.batch_size + 1)) if self.face is not None else []
        for module, sizes in ((self.scene, scene_sizes), (self.face, face_sizes)):
            if module is None:
                continue
            cfg = module.data_config
            shape = (int(cfg.get("channels", 3)), int(cfg["input_size"]), int(cfg["input_size"]))
            for b in sizes:
                module.features(self._model_input(torch.zeros(b, *shape)))

    @property
    def gate_sigma(self) -> tuple[float, float] | None:
        """The fusion checkpoint's uncertainty gate (σ with a face, without; reference units), if it has one."""
        gate = self.fusion.gate_sigma if self.fusion is not None else None
        if gate is None or not torch.isfinite(gate).all():
            return None
        return float(gate[0]), float(gate[1])

    def reset(self) -> None:
        """Forget the last face and the last scene reading, and start the dropout draws again (a new video)."""
        if isinstance(self.detector, TrackingDetector):
            self.detector.reset()
        self.schedule.reset()
        self._last_scene = None
        self._next_t = 0.0
        self.generator.manual_seed(self.seed)

    def _model_input(self, x: torch.Tensor) -> torch.Tensor:
        """A batch of images on the models' device, in their memory order."""
        return x.to(self.device).contiguous(memory_format=self.memory_format)

    def _scene_path(self, rgb: list[np.ndarray], fresh: list[bool]) -> tuple[torch.Tensor, torch.Tensor]:
        """Scene means and variances ``(B, 2)``: computed on the ``fresh`` frames, the last reading elsewhere."""
        sw = self.stopwatch
        run = [i for i, f in enumerate(fresh) if f]
        m_s, v_s = torch.zeros(len(rgb), 2), torch.zeros(len(rgb), 2)
        if run:
            with sw("preprocess"):
                x = torch.stack([self.scene_tf(torch.from_numpy(rgb[i]).permute(2, 0, 1)) for i in run])
            with sw("scene_backbone"):
                feats = self.scene.features(self._model_input(x))
            with sw("heads"):
                m, v = (t.cpu() for t in self.scene.predict_features(feats, self.mc_samples, self.generator))
        k = -1
        for i in range(len(rgb)):
            if fresh[i]:
                k += 1
                self._last_scene = (m[k], v[k])
            assert self._last_scene is not None  # __call__ marks the first frame fresh when there is no reading
            m_s[i], v_s[i] = self._last_scene
        return m_s, v_s

    @torch.inference_mode()
    def __call__(self, frames_bgr: list[np.ndarray], times: list[float] | None = None) -> list[FramePerception]:
        """Perceive a batch of BGR frames (``times``: their seconds in the video; ``None``: ``1 / fps`` apart, after
        the last batch)."""
        sw = self.stopwatch
        with sw("downscale"):
            small = [downscale(f, self.max_side) if self.max_side else (f, 1.0) for f in frames_bgr]
        with sw("preprocess"):
            rgb = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f, _ in small]
        if times is None:
            start = self._next_t
            times = [start + i / self.fps for i in range(len(frames_bgr))]
        self._next_t = times[-1] + 1.0 / self.fps if times else self._next_t
        with sw("scene_schedule"):
            fresh = self.schedule.plan([f for f, _ in small], list(times))
            if self._last_scene is None:
                fresh[0] = True
        m_s, v_s = self._scene_path(rgb, fresh)
        B = len(frames_bgr)
        m_f, v_f = torch.zeros_like(m_s), torch.ones_like(v_s)
        has_face = torch.zeros(B, dtype=torch.bool)
        context = torch.zeros(B, len(CONTEXT_COLUMNS))
        boxes: list[np.ndarray | None] = [None] * B
        face_feats_np: list[np.ndarray | None] = [None] * B
        face, face_tf = self.face, self.face_tf  # both set whenever a detector is (it serves the face model)
        if self.detector is not None and face is not None and face_tf is not None:
            with sw("detect"):
                found = self._detect([f for f, _ in small])
            crops, idx = [], []
            with sw("preprocess"):
                for i, (box, n_faces) in enumerate(found):
                    if box is not None:
                        crop = crop_face(rgb[i], box, self.face_margin)
                        context[i] = torch.from_numpy(face_context(rgb[i].shape[:2], box, n_faces, crop))
                        crops.append(face_tf(torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1)))
                        boxes[i] = scale_dets(box, 1 / small[i][1])  # box and keypoints back to frame pixels
                        idx.append(i)
            if crops:
                with sw("face_backbone"):
                    face_feats = face.features(self._model_input(torch.stack(crops)))
                with sw("heads"):
                    m, v = face.predict_features(face_feats, self.mc_samples, self.generator)
                    m_f[idx], v_f[idx] = m.cpu(), v.cpu()
                has_face[idx] = True
                for j, i in enumerate(idx):
                    face_feats_np[i] = face_feats[j].float().cpu().numpy()
        with sw("fusion"):
            paths = PathEstimates(m_s, v_s, m_f, v_f, has_face, context)
            if self.fusion is not None:
                fused_m, fused_v, weight = (t.cpu() for t in self.fusion.fuse_with_weight(paths.to(self.device)))
            else:  # no fusion checkpoint: the design's fixed 0.6 / 0.4 (scene only without a face)
                fused_m, fused_v = fixed(paths)
                weight = torch.where(has_face[:, None], 1 - DEFAULT_SCENE_WEIGHT, 0.0).expand(B, 2)
        return [
            FramePerception(
                m_s[i].numpy(),
                v_s[i].numpy(),
                bool(has_face[i]),
                boxes[i],
                m_f[i].numpy() if has_face[i] else None,
                v_f[i].numpy() if has_face[i] else None,
                fused_m[i].numpy(),
                fused_v[i].numpy(),
                fresh[i],
                context[i].numpy(),
                weight[i].numpy(),
                face_feats_np[i],
            )
            for i in range(B)
        ]

    def _detect(self, frames: list[np.ndarray]) -> list[tuple[np.ndarray | None, int]]:
        """The face each frame's face path reads (``None``: none) and how many faces are in view."""
        detector = self.detector
        assert detector is not None  # called only with a detector
        if isinstance(detector, TrackingDetector):  # a look near the last face sees one: count the last full scan
            found = []
            for f in frames:
                d = detector.detect(f)
                found.append((choose_face(d, self.face_policy), max(len(d), detector.faces_in_view)))
            return found
        return [(choose_face(d, self.face_policy), len(d)) for d in detect_many(detector, frames)]
