"""Shared fixtures: a tiny synthetic data set, a catalogue, a clip, and tiny trained checkpoints."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from emotune.data.catalog import Catalog
from emotune.runtime.compose import compose_config
from emotune.utils.scales import DEAM_STATIC

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("EMOTUNE_ROOT", str(ROOT))
os.environ.setdefault("WANDB_MODE", "offline")


def pytest_configure(config: pytest.Config) -> None:
    """The runs' own list of harmless warnings (one home: emotune.utils.warnings_filter), for pytest too."""
    from emotune.utils.warnings_filter import KNOWN_NOISE

    for message, category in KNOWN_NOISE:
        config.addinivalue_line("filterwarnings", f"ignore:{message}:{category.__name__}")


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Tests marked ``real_data`` skip without ``../shared`` (fail with ``CI=true``)."""
    from tests.helpers.real_data import missing_real_data

    missing_real_data(item)


# Tiny settings for every phase: small inputs, few batches, no printing (the vision phases also T = 4).
TINY = [
    "trainer.max_epochs=1",
    "+trainer.limit_train_batches=2",
    "+trainer.limit_val_batches=1",
    "+trainer.limit_test_batches=1",
    "trainer.log_every_n_steps=1",
    "data.batch_size=8",
    "extras.print_config=false",
]
TINY_MC = ["model.mc_samples=4"]


TINY_FACE_MARGIN = -0.1  # not the config's default, so tests can see that the margin travels with the checkpoint


def tiny(phase: str) -> list[str]:
    """``TINY`` plus what the phase's model takes."""
    face = [f"model.face_margin={TINY_FACE_MARGIN}"] if phase == "face" else []
    return [*TINY, *(TINY_MC if phase in ("scene", "face", "music") else []), *face]


def infer_overrides(models: dict[str, Path] | Path, video: object, *extra: str) -> list[str]:
    """``infer.yaml`` overrides for a quick run on the tiny checkpoints (T = 4, 2 s dwell, memory 2): ``models`` is
    ``trained`` (the whole set) or a model set folder (``scene_only_set``, for runs that stop before any frame)."""
    return [
        f"video={video}",
        f"ckpt.dir={models if isinstance(models, Path) else models['dir']}",
        "progress=false",
        "extras.print_config=false",
        "perceive.mc_samples=4",
        "matcher.min_dwell_s=2",
        "matcher.memory=2",
        *extra,
    ]


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic set: FindingEmo-format images, DEAM-format songs, a 6 s clip."""
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
            phase = next((o.split("=", 1)[1] for o in overrides if o.startswith("phase=")), "scene")
            base += ["logger=csv", *tiny(phase)]
        return compose_config(config_name, [*base, *overrides], tmp_path / "run")

    yield _make
    GlobalHydra.instance().clear()


# Tiny trained checkpoints, one session fixture per phase, so a broken phase fails only the tests that need it:
# ``trained_scene`` / ``trained_face`` / ``trained_music`` train on their own, ``trained_fusion`` on top of the scene
# and face ones. Each trains into ``<ckpt_root>/<phase>`` (a run dir); ``trained`` is the model set infer.py reads.
@pytest.fixture(scope="session")
def ckpt_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder the per-phase fixtures train their run dirs into (``<ckpt_root>/<phase>``), with their caches."""
    return tmp_path_factory.mktemp("ckpts")


def train_phase(phase: str, root: Path, synth_root: Path, *extra: str) -> Path:
    """Train ``phase`` for a couple of steps on the tiny data into ``<root>/<phase>``; its ``best.ckpt``."""
    from emotune.models.loading import best_checkpoint
    from emotune.runtime.train import train

    overrides = [f"phase={phase}", f"paths.synthetic_dir={synth_root}", f"paths.cache_dir={root / 'cache'}"]
    try:
        train(compose_config("train", [*overrides, "logger=csv", *tiny(phase), *extra], root / phase))
    finally:
        GlobalHydra.instance().clear()
    ckpt = best_checkpoint(root / phase)
    assert ckpt.is_file(), f"{phase}: no best.ckpt written"
    return ckpt


@pytest.fixture(scope="session")
def trained_scene(ckpt_root: Path, synth_root: Path) -> Path:
    """The tiny scene checkpoint (``best.ckpt``; its run dir is ``.parents[1]``)."""
    return train_phase("scene", ckpt_root, synth_root)


@pytest.fixture(scope="session")
def trained_face(ckpt_root: Path, synth_root: Path) -> Path:
    """The tiny face checkpoint (``best.ckpt``; its run dir is ``.parents[1]``)."""
    return train_phase("face", ckpt_root, synth_root)


@pytest.fixture(scope="session")
def trained_fusion(ckpt_root: Path, synth_root: Path, trained_scene: Path, trained_face: Path) -> Path:
    """The tiny fusion checkpoint, over the tiny scene and face ones."""
    return train_phase(
        "fusion", ckpt_root, synth_root, f"model.scene_ckpt={trained_scene}", f"model.face_ckpt={trained_face}"
    )


@pytest.fixture(scope="session")
def trained_music(ckpt_root: Path, synth_root: Path) -> Path:
    """The tiny music checkpoint (log-mel on the synthetic songs)."""
    return train_phase("music", ckpt_root, synth_root)


@pytest.fixture(scope="session")
def trained(ckpt_root: Path, trained_scene: Path, trained_face: Path, trained_fusion: Path) -> dict[str, Path]:
    """The whole tiny model set: ``scene``, ``face``, ``fusion`` checkpoints and ``dir``, the folder holding their
    run dirs (what ``ckpt.dir`` takes). Tests that need one phase take its own fixture instead."""
    return {"scene": trained_scene, "face": trained_face, "fusion": trained_fusion, "dir": ckpt_root}


@pytest.fixture
def scene_only_set(tmp_path: Path, trained_scene: Path) -> Path:
    """A model set folder holding only the scene run dir (a model set infer.py and the app accept)."""
    folder = tmp_path / "scene_only_set"
    folder.mkdir()
    (folder / "scene").symlink_to(trained_scene.parents[1])
    return folder


def song_catalog(n: int = 300, seed: int = 0, duration: float | None = 45.0, long_every: int = 0) -> Catalog:
    """A random DEAM-scale catalogue; ``duration=None`` leaves durations unknown, ``long_every=k`` makes every
    k-th song a 10-minute one."""
    rng = np.random.default_rng(seed)
    va = np.clip(rng.normal(5, 1.6, (n, 2)), 1, 9)
    dur = np.full(n, np.nan if duration is None else duration)
    if long_every:
        dur[::long_every] = 600.0
    return catalog_of(va, dur)


def catalog_of(va: np.ndarray, durations: np.ndarray) -> Catalog:
    """A DEAM-scale catalogue of songs at ``va`` (DEAM 1-9) with these durations (NaN: unknown), no metadata."""
    df = pd.DataFrame({"song_id": [str(i) for i in range(len(va))], "valence": va[:, 0], "arousal": va[:, 1],
                       "duration_s": durations, "title": "", "artist": "", "album": "", "genre": "", "path": ""})  # fmt: skip
    return Catalog(df, DEAM_STATIC)


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
