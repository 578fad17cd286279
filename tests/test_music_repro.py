"""Reproducible labels: labelling the same files again changes no value, and a file's label does not depend on which
other files are in the folder (the cause was MC Dropout drawing new masks per run and per batch position)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from emotune.audio.io import encode_audio
from emotune.models.loading import load_phase_module
from emotune.models.music_weights import WEIGHTS_DIR, default_music_checkpoint
from emotune.models.va_module import VARegressor
from emotune.runtime.library import label_folder
from emotune.synthetic.music import synth_song

from .helpers.real_data import REAL_MUSIC4Q, needs

SR = 22050
PREVIOUS = WEIGHTS_DIR / "music_fourq_descriptors.ckpt"  # descriptors + MC Dropout: the labeller that drifted


def folder(root: Path, n: int, seconds: float = 5.0) -> Path:
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        encode_audio(root / f"song {i:02d}.mp3", synth_song(*rng.uniform(-1, 1, 2), seed=i, sr=SR, seconds=seconds), SR)
    return root


def labels(music: Path, out: Path, ckpt: Path) -> pd.DataFrame:
    label_folder(music, out, ckpt, progress=False, workers=0)
    return pd.read_csv(out).set_index("title")[["valence", "arousal", "valence_sd", "arousal_sd"]]


@pytest.mark.parametrize("ckpt", [default_music_checkpoint(), PREVIOUS], ids=["default", "previous"])
def test_relabelling_and_other_files_change_nothing(tmp_path: Path, ckpt: Path) -> None:
    music = folder(tmp_path / "all", 6)
    first = labels(music, tmp_path / "a.csv", ckpt)
    again = labels(music, tmp_path / "b.csv", ckpt)  # a fresh catalogue: every file labelled again
    assert (first - again).abs().to_numpy().max() <= 0.01
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(music / "song 03.mp3", alone)
    solo = labels(alone, tmp_path / "c.csv", ckpt)
    assert (solo.loc["song 03"] - first.loc["song 03"]).abs().max() <= 0.01  # the same file among others or alone


def test_the_check_can_fail_without_the_fix() -> None:
    """The head's own MC Dropout passes (what labelled before) differ from call to call and with the batch."""
    model = load_phase_module(PREVIOUS, "music")
    x = torch.randn(4, model.backbone.num_features)
    a, b = VARegressor._raw_predictive(model, x, None)[0], VARegressor._raw_predictive(model, x, None)[0]
    assert (a - b).abs().max() > 0.01
    fixed = model._raw_predictive(x, None)[0]
    assert torch.equal(fixed, model._raw_predictive(x, None)[0])
    assert torch.allclose(fixed[2:], model._raw_predictive(x[2:], None)[0], atol=1e-6)  # batch-independent


@needs(REAL_MUSIC4Q)
def test_real_clips_relabel_identically(tmp_path: Path) -> None:
    music = tmp_path / "real"
    music.mkdir()
    for q in ("Q1", "Q2", "Q3", "Q4"):
        for src in sorted((REAL_MUSIC4Q / q).glob("*.mp3"))[:2]:
            (music / f"{q} {src.name}").symlink_to(src)
    ckpt = default_music_checkpoint()
    a = labels(music, tmp_path / "a.csv", ckpt)
    b = labels(music, tmp_path / "b.csv", ckpt)
    assert (a - b).abs().to_numpy().max() <= 0.01
