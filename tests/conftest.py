"""Shared fixtures: a tiny synthetic data set, a catalogue, a clip, and tiny trained checkpoints."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from emotune.runtime.compose import compose_config

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("EMOTUNE_ROOT", str(ROOT))
os.environ.setdefault("WANDB_MODE", "offline")
SHARED_DEAM = ROOT.parent / "shared" / "data" / "deam"

# Tiny settings for every phase: small inputs, few batches, no printing.
TINY = [
    "trainer.max_epochs=1",
    "+trainer.limit_train_batches=2",
    "+trainer.limit_val_batches=1",
    "+trainer.limit_test_batches=1",
    "trainer.log_every_n_steps=1",
    "data.batch_size=8",
    "extras.print_config=false",
    "model.mc_samples=4",
]


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic set: FindingEmo-format images, DEAM-format songs, a 6 s clip."""
    import pandas as pd

    from emotune.synthetic.findingemo_like import SyntheticSpec, generate
    from emotune.synthetic.songs import write_deam_like
    from emotune.synthetic.video import VideoSpec, render_video

    root = tmp_path_factory.mktemp("synthetic")
    generate(root / "findingemo", SyntheticSpec(n_images=120, n_shifted=24, seed=3), progress=False)
    write_deam_like(root / "deam", n=300, seed=3)
    kf = pd.DataFrame(
        {
            "t_s": [0, 3, 3.5, 4.5, 6],
            "valence": [2, 2, -2, -2, -2],
            "arousal": [3, 3, 5, 5, 5],
            "face": [1, 1, 1, 0, 0],
        }
    )
    (root / "videos").mkdir()
    kf.to_csv(root / "videos" / "kf.csv", index=False)
    render_video(kf, root / "videos" / "clip.mp4", VideoSpec(fps=10, width=320, height=180), progress=False)
    return root


@pytest.fixture
def make_cfg(tmp_path: Path, synth_root: Path) -> Callable[..., DictConfig]:
    """Compose ``train.yaml``/``infer.yaml`` with overrides, pointed at the tiny data and ``tmp_path``."""

    def _make(*overrides: str, config_name: str = "train") -> DictConfig:
        base = [f"paths.synthetic_dir={synth_root}", f"paths.cache_dir={tmp_path / 'cache'}"]
        if config_name == "train":
            base += ["logger=csv", *TINY]
        return compose_config(config_name, [*base, *overrides], tmp_path / "run")

    yield _make
    GlobalHydra.instance().clear()


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, synth_root: Path) -> dict[str, Path]:
    """Scene, face and fusion checkpoints trained for a couple of steps on the tiny data."""
    from emotune.runtime.train import train

    out: dict[str, Path] = {}
    base = tmp_path_factory.mktemp("ckpts")
    for phase in ("scene", "face", "fusion"):
        extra = []
        if phase == "fusion":
            extra = [f"model.scene_ckpt={out['scene']}", f"model.face_ckpt={out['face']}"]
        cfg = compose_config(
            "train",
            [
                f"phase={phase}",
                f"paths.synthetic_dir={synth_root}",
                f"paths.cache_dir={base / 'cache'}",
                "logger=csv",
                *TINY,
                *extra,
            ],
            base / phase,
        )
        train(cfg)
        out[phase] = base / phase / "checkpoints" / "best.ckpt"
        assert out[phase].is_file(), f"{phase}: no best.ckpt written"
    GlobalHydra.instance().clear()
    out["dir"] = base
    return out


class FakeWebcam:
    """A stand-in for ``cv2.VideoCapture(index)``: ``n`` frames at ``fps``, then nothing.

    ``FakeWebcam.make(n, fps, shape)`` returns a capture factory for ``infer(cfg, capture_factory=...)``;
    frame ``i`` is filled with ``40 + i`` so consecutive frames differ.
    """

    def __init__(self, n: int, fps: float, shape: tuple[int, int, int], opens: bool = True) -> None:
        self.n, self.fps, self.shape, self.opens, self.i = n, fps, shape, opens, 0

    @classmethod
    def make(
        cls, n: int, fps: float = 8.0, shape: tuple[int, int, int] = (96, 128, 3), opens: bool = True
    ) -> Callable[[int], FakeWebcam]:
        return lambda index: cls(n, fps, shape, opens)

    def isOpened(self) -> bool:  # noqa: N802 (OpenCV's API)
        return self.opens

    def get(self, prop: int) -> float:
        import cv2

        return {
            cv2.CAP_PROP_FPS: self.fps,
            cv2.CAP_PROP_FRAME_WIDTH: self.shape[1],
            cv2.CAP_PROP_FRAME_HEIGHT: self.shape[0],
        }.get(prop, 0.0)

    def grab(self) -> bool:
        self.i += 1
        return self.i <= self.n

    def retrieve(self) -> tuple[bool, object]:
        import numpy as np

        return True, np.full(self.shape, (40 + self.i) % 256, np.uint8)

    def release(self) -> None:
        pass
