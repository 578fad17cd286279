"""PERCEIVE: per-frame V-A with uncertainty from the scene path, the face path and their fusion."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from emotune.data.transforms import build_transform
from emotune.detect.detectors import FaceDetector, TrackingDetector, choose_face, crop_face
from emotune.models.components.fusion import fixed, inverse_variance
from emotune.models.components.heads import mc_dropout
from emotune.utils.timing import Stopwatch


@dataclass
class FramePerception:
    """One analysed frame; V-A on the [-1, 1] reference, variances per dimension."""

    scene_mean: np.ndarray
    scene_var: np.ndarray
    face_found: bool
    face_box: np.ndarray | None
    face_mean: np.ndarray | None
    face_var: np.ndarray | None
    fused_mean: np.ndarray
    fused_var: np.ndarray


class Perceiver:
    """Runs the trained models on batches of frames.

    Args:
        scene: a trained :class:`SceneLitModule` (required).
        face: a trained :class:`FaceLitModule`, or ``None`` for scene only.
        fusion: a trained :class:`FusionLitModule` (its method and weights), or ``None`` for fixed 0.6/0.4.
        detector: face detector (needed when ``face`` is given).
        mc_samples: T head passes for MC Dropout (backbones run once per frame).
        stopwatch: where time per stage (preprocess, scene/face backbone, detect, heads) is added up.
        track_faces: look near the last face before scanning the whole frame (:class:`TrackingDetector`).
    """

    def __init__(
        self,
        scene: torch.nn.Module,
        face: torch.nn.Module | None,
        fusion: torch.nn.Module | None,
        detector: FaceDetector | None,
        mc_samples: int = 20,
        face_margin: float = 0.25,
        face_policy: str = "largest",
        stopwatch: Stopwatch | None = None,
        track_faces: bool = True,
    ) -> None:
        if track_faces and detector is not None:
            detector = TrackingDetector(detector)
        self.scene, self.face, self.fusion, self.detector = scene, face, fusion, detector
        self.mc_samples, self.face_margin, self.face_policy = mc_samples, face_margin, face_policy
        self.sw = stopwatch or Stopwatch()
        self.scene_tf = build_transform(scene.data_config)
        self.face_tf = build_transform(face.data_config) if face is not None else None

    def reset(self) -> None:
        """Forget the last face (a new video)."""
        if isinstance(self.detector, TrackingDetector):
            self.detector.reset()

    @torch.inference_mode()
    def __call__(self, frames_bgr: list[np.ndarray]) -> list[FramePerception]:
        sw = self.sw
        with sw("preprocess"):
            rgb = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in frames_bgr]
            x = torch.stack([self.scene_tf(torch.from_numpy(im).permute(2, 0, 1)) for im in rgb])
        with sw("scene_backbone"):
            feats = self.scene.features(x)
        with sw("heads"):
            m_s, v_s = mc_dropout(self.scene.head, feats, self.mc_samples)
        B = len(frames_bgr)
        m_f, v_f = torch.zeros_like(m_s), torch.full_like(v_s, float("inf"))
        has_face = torch.zeros(B, dtype=torch.bool)
        boxes: list[np.ndarray | None] = [None] * B
        if self.face is not None and self.detector is not None:
            crops, idx = [], []
            for i, (f, im) in enumerate(zip(frames_bgr, rgb)):
                with sw("detect"):
                    box = choose_face(self.detector.detect(f), self.face_policy)
                if box is not None:
                    boxes[i] = box
                    with sw("preprocess"):
                        crop = crop_face(im, box, self.face_margin)
                        crops.append(
                            self.face_tf(torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1))
                        )
                    idx.append(i)
            if crops:
                with sw("face_backbone"):
                    face_feats = self.face.features(torch.stack(crops))
                with sw("heads"):
                    fm, fv = mc_dropout(self.face.head, face_feats, self.mc_samples)
                m_f[idx], v_f[idx] = fm, fv
                has_face[idx] = True
        with sw("fusion"):
            return self._fuse(m_s, v_s, m_f, v_f, has_face, boxes)

    def _fuse(
        self,
        m_s: torch.Tensor,
        v_s: torch.Tensor,
        m_f: torch.Tensor,
        v_f: torch.Tensor,
        has_face: torch.Tensor,
        boxes: list[np.ndarray | None],
    ) -> list[FramePerception]:
        B = len(boxes)
        if self.fusion is not None:
            fused_m, fused_v = self.fusion(
                m_s, v_s, m_f, torch.where(has_face[:, None], v_f, torch.ones_like(v_f)), has_face
            )
        elif self.face is not None:
            fused_m, fused_v = fixed(
                m_s, v_s, m_f, torch.where(has_face[:, None], v_f, torch.ones_like(v_f)), has_face
            )
        else:
            fused_m, fused_v = inverse_variance(m_s, v_s, m_f, torch.ones_like(v_f), has_face)
        out = []
        for i in range(B):
            hf = bool(has_face[i])
            out.append(
                FramePerception(
                    m_s[i].numpy(),
                    v_s[i].numpy(),
                    hf,
                    boxes[i],
                    m_f[i].numpy() if hf else None,
                    v_f[i].numpy() if hf else None,
                    fused_m[i].numpy(),
                    fused_v[i].numpy(),
                )
            )
        return out
