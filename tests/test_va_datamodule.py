"""The FindingEmo-format datamodule (``emotune.data.va_datamodule.VADataModule``) on the tiny synthetic set: the saved
split, labels on the [-1, 1] reference (FindingEmo v/3, (a-3)/3) and their train moments, the face view without the
images where no face was found, and the fusion's halves of val."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from emotune.data.va_datamodule import VADataModule
from emotune.detect.detectors import empty_dets, make_dets

from .helpers.configs import build

INPUTS = {
    "image": {"input_size": 32, "mean": [0.5] * 3, "std": [0.5] * 3},
    "face": {"input_size": 32, "mean": [0.5] * 3, "std": [0.5] * 3, "face_margin": 0.1},
}


class BrightFaces:
    """A stand-in detector with a known answer: one face in every image brighter than ``threshold``, none else."""

    name, max_side = "bright_faces", 640

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def detect(self, image_bgr: np.ndarray) -> np.ndarray:
        if image_bgr.mean() <= self.threshold:
            return empty_dets()
        h, w = image_bgr.shape[:2]
        return make_dets([[w * 0.3, h * 0.3, w * 0.6, h * 0.7]], [0.9])

    def settings(self) -> dict:
        return {"name": self.name, "threshold": self.threshold}


def datamodule(synth_root: Path, tmp_path: Path, phase: str = "scene", **kw: object) -> VADataModule:
    """``conf/data/synthetic.yaml`` as ``phase`` sets it, over the tiny set (caches in ``tmp_path``), set up."""
    dm = build("data", None, f"phase={phase}", f"paths.synthetic_dir={synth_root}", cache_dir=str(tmp_path), **kw)
    dm.configure_inputs(INPUTS)
    dm.prepare_data()
    dm.setup()
    return dm


def annotations(synth_root: Path) -> pd.DataFrame:
    """The annotation file and the saved split, read here with pandas alone."""
    fe = synth_root / "findingemo"
    ann = pd.read_csv(fe / "annotations_single.ann", dtype={"image_path": str})
    split = pd.read_csv(fe / "splits.csv", dtype=str)
    return ann.merge(split, on="image_path", validate="one_to_one")


def paths(dm: VADataModule, name: str) -> set[str]:
    return set(dm.datasets[name].rows["image_path"])


def brightness(synth_root: Path, rel: str) -> float:
    return float(cv2.imread(str(synth_root / "findingemo" / "images" / rel.lstrip("/"))).mean())


def test_splits_are_the_saved_split_and_cover_every_image(synth_root: Path, tmp_path: Path) -> None:
    dm = datamodule(synth_root, tmp_path)
    ann = annotations(synth_root)  # written by the datamodule on first use, seeded
    assert set(dm.datasets) == {"train", "val", "test", "test_shifted"} == set(ann["split"])
    for name, rows in ann.groupby("split"):
        assert paths(dm, name) == set(rows["image_path"]), name
    assert sum(len(d) for d in dm.datasets.values()) == len(ann) == 144  # 120 images + 24 shifted, none lost
    assert dm.test_split_names == ["test", "test_shifted"]
    again = datamodule(synth_root, tmp_path / "again")
    assert all(paths(again, s) == paths(dm, s) for s in dm.datasets)  # the split is reused, not redrawn
    assert len(dm.train_dataloader()) == -(-len(dm.datasets["train"]) // dm.batch_size)


def test_labels_and_their_train_moments_are_on_the_reference_scale(synth_root: Path, tmp_path: Path) -> None:
    dm = datamodule(synth_root, tmp_path)
    ann = annotations(synth_root).set_index("image_path")
    ds = dm.datasets["val"]
    for i in range(len(ds)):
        v, a = ann.loc[ds.rows.at[i, "image_path"], ["valence", "arousal"]]
        np.testing.assert_allclose(ds[i]["va"].numpy(), [v / 3, (a - 3) / 3], atol=1e-6)
    train = ann[ann["split"] == "train"]
    ref = np.stack([train["valence"] / 3, (train["arousal"] - 3) / 3], 1)
    mean, var = dm.train_label_moments()
    np.testing.assert_allclose(mean.numpy(), ref.mean(0), atol=1e-6)
    np.testing.assert_allclose(var.numpy(), ref.var(0), atol=1e-6)  # population variance (ddof 0)
    assert ((ref >= -1) & (ref <= 1)).all() and not np.allclose(ref.var(0), 0)


def test_the_face_view_leaves_out_the_images_without_a_face(synth_root: Path, tmp_path: Path) -> None:
    ann = annotations(synth_root)
    light = ann["image_path"].map(lambda p: brightness(synth_root, p))
    detector = BrightFaces(float(light.median()))  # a face in about half of the images
    dm = datamodule(synth_root, tmp_path, "face", detector=detector)
    assert dm.view == "face" and 0.3 < dm.stats["face_found_fraction"] < 0.7
    for name in dm.datasets:
        rows = ann[(ann["split"] == name) & (light > detector.threshold)]
        assert paths(dm, name) == set(rows["image_path"]), name  # exactly the images with a face
    item = dm.datasets["train"][0]
    assert bool(item["has_face"]) and item["face"].shape == (3, 32, 32) and "image" not in item
    assert "|m0.1|" in item["key"]  # the crop margin (the model's) is part of the crop's identity
    both = datamodule(synth_root, tmp_path, "fusion", detector=detector)  # the fusion's view keeps every image
    assert paths(both, "test") == set(ann.loc[ann["split"] == "test", "image_path"])
    flags = [bool(both.datasets["test"][i]["has_face"]) for i in range(len(both.datasets["test"]))]
    assert 0 < sum(flags) < len(flags)


def test_too_few_faces_is_a_clear_error(synth_root: Path, tmp_path: Path) -> None:
    from emotune.utils.errors import DataError

    with pytest.raises(DataError, match=r"Too few detected faces.*detector=bright_faces"):
        datamodule(synth_root, tmp_path, "face", detector=BrightFaces(255.0))  # no image is that bright


def test_the_fusion_fits_on_one_half_of_val_and_is_chosen_on_the_other(synth_root: Path, tmp_path: Path) -> None:
    ann = annotations(synth_root)
    dm = datamodule(synth_root, tmp_path, "fusion", detector=BrightFaces(255.0))  # faces are optional here
    assert (dm.train_split, dm.val_split) == ("val_fit", "val_select")
    fit, select = paths(dm, "val_fit"), paths(dm, "val_select")
    val = set(ann.loc[ann["split"] == "val", "image_path"])
    assert fit and select and not fit & select and fit | select == val
    assert "val" not in dm.datasets and paths(dm, "test") == set(ann.loc[ann["split"] == "test", "image_path"])
    scene = datamodule(synth_root, tmp_path / "scene")
    for a, b in zip(dm.train_label_moments(), scene.train_label_moments()):  # still the train split's moments
        np.testing.assert_allclose(a.numpy(), b.numpy())
    again = datamodule(synth_root, tmp_path / "again", "fusion", detector=BrightFaces(255.0))
    assert paths(again, "val_fit") == fit  # the halves are a hash of the image, not a fresh draw
