"""PERCEIVE (``emotune.pipeline.perceive.Perceiver``) on the tiny trained models: a clip without a face runs on the
scene path alone; on a CUDA device it reads the same as on the CPU (``gpu``: skipped without one, deselected by
``make test``); a video's MC Dropout passes repeat exactly from ``perceive.seed``, whatever torch's global state."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from .conftest import infer_overrides
from .helpers.configs import build
from .helpers.run_if import RunIf


def test_no_face_at_all_runs_on_the_scene_path(make_cfg, trained, tmp_path: Path) -> None:
    from emotune.runtime.infer import infer
    from emotune.synthetic.video import VideoSpec, render_video

    kf = pd.DataFrame({"t_s": [0, 3], "valence": [1, -1], "arousal": [3, 4], "face": [0, 0]})
    clip, _ = render_video(kf, tmp_path / "noface.mp4", VideoSpec(fps=8, width=192, height=108), progress=False)
    cfg = make_cfg(*infer_overrides(trained, clip), config_name="infer")
    summary = infer(cfg)
    tl = pd.read_csv(Path(cfg.paths.output_dir) / "timeline.csv")
    assert summary["face_found_fraction"] == 0.0 and tl["face_valence"].isna().all()
    # the fused value is the fusion of the scene path alone (with the labels' prior): the face path plays no part
    from emotune.models.components.fusion import PathEstimates
    from emotune.models.loading import load_phase_module

    fusion = load_phase_module(trained["fusion"], "fusion")
    m_s = torch.tensor(tl[["scene_valence", "scene_arousal"]].to_numpy(), dtype=torch.float32)
    v_s = torch.tensor(tl[["scene_valence_sd", "scene_arousal_sd"]].to_numpy() ** 2, dtype=torch.float32)
    no_face = torch.zeros(len(tl), dtype=torch.bool)
    for face_guess in (torch.zeros_like(m_s), torch.ones_like(m_s)):  # whatever the face path would have said
        mean, _ = fusion(PathEstimates(m_s, v_s, face_guess, torch.ones_like(v_s), no_face))
        np.testing.assert_allclose(tl["fused_valence"], mean[:, 0].numpy(), atol=2e-3)


class FixedFace:
    """A detector with one face at a fixed place in every frame (so both devices crop the very same pixels)."""

    name, max_side = "fixed_face", 640

    def detect(self, image: np.ndarray) -> np.ndarray:
        from emotune.detect.detectors import make_dets

        h, w = image.shape[:2]
        return make_dets([[w * 0.35, h * 0.2, w * 0.65, h * 0.75]], [0.9])

    def settings(self) -> dict:
        return {"name": self.name}


def clip_frames(synth_root: Path, n: int) -> list[np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(synth_root / "videos" / "clip.mp4"))
    frames = [cap.read()[1] for _ in range(n)]
    cap.release()
    assert all(f is not None for f in frames)
    return frames


def deterministic_models(trained: dict[str, Path]):
    """The tiny model set with every dropout at 0: the MC passes agree, so two devices can be compared."""
    from emotune.models.loading import load_trained

    models = load_trained(dir=str(trained["dir"]), scene=None, face=None, fusion=None)
    for m in (models.scene, models.face, models.fusion):
        for layer in m.modules():
            if isinstance(layer, torch.nn.Dropout):
                layer.p = 0.0
    return models


@pytest.mark.gpu
@RunIf(min_cuda_gpus=1)
def test_perceiver_on_cuda_reads_as_on_the_cpu(trained, synth_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)  # full fp32 on the GPU, as on the CPU
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    frames, times = clip_frames(synth_root, 4), [0.0, 0.25, 0.5, 0.75]
    settings = {"detector": FixedFace(), "track_faces": False, "scene_every_s": 0.0, "mc_samples": 4}
    cpu = build("perceive", models=deterministic_models(trained), device="cpu", **settings)
    gpu = build("perceive", models=deterministic_models(trained), device="cuda", **settings)
    assert next(gpu.scene.parameters()).is_cuda and next(gpu.fusion.parameters()).is_cuda
    assert not next(cpu.scene.parameters()).is_cuda
    assert_same_readings(cpu(frames, times), gpu(frames, times))


def assert_same_readings(a_run: list, b_run: list) -> None:
    """Two perceivers' readings of the same frames agree (faces found, boxes, every mean and variance)."""
    assert len(a_run) == len(b_run) and all(fp.face_found for fp in b_run)
    for a, b in zip(a_run, b_run):
        assert (a.face_found, a.scene_fresh) == (b.face_found, b.scene_fresh)
        np.testing.assert_array_equal(a.face_box, b.face_box)
        for field in ("scene_mean", "scene_var", "face_mean", "face_var", "fused_mean", "fused_var"):
            np.testing.assert_allclose(getattr(b, field), getattr(a, field), rtol=1e-3, atol=1e-4, err_msg=field)


def test_channels_last_reads_as_the_default_layout(trained, synth_root: Path) -> None:
    frames, times = clip_frames(synth_root, 4), [0.0, 0.25, 0.5, 0.75]
    settings = {"detector": FixedFace(), "track_faces": False, "scene_every_s": 0.0, "mc_samples": 4}
    nchw = build("perceive", models=deterministic_models(trained), channels_last=False, **settings)
    nhwc = build("perceive", models=deterministic_models(trained), channels_last=True, **settings)
    conv = next(m for m in nhwc.scene.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert_same_readings(nchw(frames, times), nhwc(frames, times))


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is here: the GPU test runs instead")
def test_perceiver_on_cuda_without_a_gpu_is_one_clear_error(trained_scene: Path) -> None:
    from emotune.models.loading import load_trained
    from emotune.utils.errors import ConfigError

    models = load_trained(dir=None, scene=str(trained_scene), face=None, fusion=None)
    with pytest.raises(ConfigError, match=r"perceive\.device=cuda.*perceive\.device=cpu"):
        build("perceive", models=models, detector=None, device="cuda")


def test_a_video_repeats_exactly_from_the_perceivers_seed(trained, synth_root: Path) -> None:
    from emotune.models.loading import load_trained

    frames, times = clip_frames(synth_root, 4), [0.0, 0.25, 0.5, 0.75]
    settings = {"detector": FixedFace(), "track_faces": False, "scene_every_s": 0.0, "mc_samples": 4}

    def perceiver(seed: int):
        models = load_trained(dir=str(trained["dir"]), scene=None, face=None, fusion=None)
        return build("perceive", models=models, seed=seed, **settings)

    p = perceiver(0)
    torch.manual_seed(1)
    first = p(frames, times)
    p.reset()  # a new video: the draws start again from the seed
    torch.manual_seed(2)  # whatever else drew from torch's global stream meanwhile
    assert_identical(first, p(frames, times))
    assert_identical(first, perceiver(0)(frames, times))  # another chain with the same seed: the same readings
    other = perceiver(1)(frames, times)
    assert any(not np.array_equal(a.scene_var, b.scene_var) for a, b in zip(first, other))  # the seed is what draws


def assert_identical(a_run: list, b_run: list) -> None:
    """Two runs' readings are the same to the bit."""
    assert len(a_run) == len(b_run)
    for a, b in zip(a_run, b_run):
        for field in ("scene_mean", "scene_var", "face_mean", "face_var", "fused_mean", "fused_var", "face_box"):
            np.testing.assert_array_equal(getattr(b, field), getattr(a, field), err_msg=field)
