"""The frozen-backbone feature cache (``emotune.models.components.feature_cache.FeatureCache``): a miss is computed
once and then served, the file round-trips and merges what other runs added, another spec is another file; and the
keys a model and its data give it change with the backbone, the preprocessing and the image."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch

from emotune.models.components.feature_cache import FeatureCache

from .helpers.data import copy_synth

SPEC = {
    "backbone": {"source": "timm", "name": "resnet18", "pretrained": None},
    "data": {"input_size": 64},
    "input": "x",
}


class Backbone:
    """A stand-in backbone that counts the rows it is asked to compute: (B, 3, 4, 4) -> (B, 3)."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append(len(x))
        return x.sum(dim=(2, 3)) * 2.0


def feats(x: torch.Tensor) -> torch.Tensor:
    """What :class:`Backbone` computes, for the expected values."""
    return x.sum(dim=(2, 3)) * 2.0


def never(x: torch.Tensor) -> torch.Tensor:
    raise AssertionError(f"computed {len(x)} rows that the cache holds")


def test_a_miss_is_computed_once_and_then_served(tmp_path: Path) -> None:
    cache, net = FeatureCache(tmp_path, SPEC), Backbone()
    x = torch.randn(3, 3, 4, 4)
    torch.testing.assert_close(cache.features(x, ["a", "b", "c"], net), feats(x))
    assert net.calls == [3] and len(cache) == 3
    # two hits and a miss in one batch: only the miss is computed, the rows come back in the batch's order
    new = torch.randn(1, 3, 4, 4)
    mixed = torch.cat([x[1:2], new, x[0:1]])
    torch.testing.assert_close(cache.features(mixed, ["b", "d", "a"], net), feats(mixed))
    assert net.calls == [3, 1] and len(cache) == 4
    # a key is an input's identity: a hit serves the stored feature, whatever tensor comes with it
    served = cache.features(torch.zeros(2, 3, 4, 4), ["c", "a"], never)
    torch.testing.assert_close(served, feats(x)[[2, 0]])


def test_save_and_load_round_trip_and_merge_other_runs_entries(tmp_path: Path) -> None:
    x, y = torch.randn(2, 3, 4, 4), torch.randn(1, 3, 4, 4)
    first = FeatureCache(tmp_path, SPEC)
    first.load()  # no file yet: nothing to read, no error
    assert len(first) == 0 and not first.path.exists()
    first.features(x, ["a", "b"], Backbone())
    first.save()
    assert first.path.is_file() and first.path.parent == tmp_path / "features"

    second = FeatureCache(tmp_path, SPEC)
    assert len(second) == 0  # nothing is read before load()
    second.load()
    torch.testing.assert_close(second.features(x, ["a", "b"], never), feats(x))
    stamp = first.path.stat().st_mtime_ns
    second.save()  # nothing new: the file is not rewritten
    assert first.path.stat().st_mtime_ns == stamp

    other_run = FeatureCache(tmp_path, SPEC)  # another run adds an entry without having loaded the file
    other_run.features(y, ["c"], Backbone())
    other_run.save()
    merged = FeatureCache(tmp_path, SPEC)
    merged.load()
    assert len(merged) == 3  # merged into the file, not written over it
    torch.testing.assert_close(merged.features(torch.cat([x, y]), ["a", "b", "c"], never), feats(torch.cat([x, y])))
    assert not list((tmp_path / "features").glob(".*tmp*"))


def test_another_spec_is_another_file(tmp_path: Path) -> None:
    base = FeatureCache(tmp_path, SPEC)
    assert FeatureCache(tmp_path, dict(reversed(list(SPEC.items())))).path == base.path  # key order is no change
    changed = [
        {**SPEC, "data": {"input_size": 96}},
        {**SPEC, "backbone": {**SPEC["backbone"], "name": "resnet34"}},
        {**SPEC, "input": "face"},
    ]
    paths = {FeatureCache(tmp_path, spec).path for spec in changed}
    assert len(paths) == 3 and base.path not in paths
    base.features(torch.randn(2, 3, 4, 4), ["a", "b"], Backbone())
    base.save()
    other = FeatureCache(tmp_path, changed[0])
    other.load()
    assert len(other) == 0  # features of other preprocessing are never served


def test_features_are_kept_as_float32() -> None:
    cache = FeatureCache("unused", SPEC)
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    out = cache.features(x, ["a", "b"], lambda t: t.sum(dim=(2, 3)))
    assert out.dtype == torch.float32 and out.device == x.device
    torch.testing.assert_close(out, x.sum(dim=(2, 3)).float())


def test_feature_cache_keys_follow_backbone_preprocessing_and_image(make_cfg, synth_root: Path, tmp_path: Path) -> None:
    import hydra

    files = set()
    for extra in (
        [],
        ["model.backbone.input_size=96"],
        ["model/backbone=resnet18", "model.backbone.pretrained=null"],
    ):
        cfg = make_cfg("phase=scene", "model.freeze_backbone=true", *extra)
        files.add(hydra.utils.instantiate(cfg.model, _recursive_=False).cache.path)
    assert len(files) == 3  # another backbone or preprocessing: another cache file

    from emotune.data.va_dataset import VADataset

    fe = copy_synth(synth_root, tmp_path) / "findingemo"
    rows = pd.read_csv(fe / "annotations_single.ann", dtype=str).head(3)
    rows[["valence", "arousal"]] = rows[["valence", "arousal"]].astype(int)

    def keys() -> list[str]:
        ds = VADataset(rows, fe / "images", "scene", {}, lambda x: x, None, 0.25, "largest", False)
        return [ds[i]["key"] for i in range(len(ds))]

    before = keys()
    img = fe / "images" / rows["image_path"].iloc[0].lstrip("/")
    cv2.imwrite(str(img), np.zeros((40, 40, 3), np.uint8))  # the image changed: its features must be redone
    after = keys()
    assert after[0] != before[0] and after[1:] == before[1:]
