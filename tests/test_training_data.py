"""Training data (``emotune.data.va_datamodule``) through the real entry point: missing, corrupt and out-of-range
rows are skipped and counted, an empty split is one ``error:`` line."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from emotune.runtime.entry import run_train

from .helpers.data import copy_synth
from .helpers.entry import expect_user_error


def test_missing_corrupt_and_out_of_range_training_data_skipped_and_counted(
    make_cfg, synth_root: Path, tmp_path: Path
) -> None:
    root = copy_synth(synth_root, tmp_path)
    fe = root / "findingemo"
    ann = pd.read_csv(fe / "annotations_single.ann", dtype=str, keep_default_na=False)
    paths = ann["image_path"].tolist()
    (fe / "images" / paths[0].lstrip("/")).unlink()  # missing
    (fe / "images" / paths[1].lstrip("/")).write_bytes(b"\xff\xd8 truncated jpeg")  # corrupt
    extra = ann.iloc[[2]].copy()
    extra["image_path"], extra["valence"] = "/extra/out_of_range.jpg", "9"  # a label outside -3..3
    pd.concat([ann, extra]).to_csv(fe / "annotations_single.ann", index=False)
    cfg = make_cfg("phase=face", f"paths.synthetic_dir={root}")
    run_train(cfg)
    stats = json.loads((Path(cfg.paths.output_dir) / "data_stats.json").read_text())
    assert stats["missing_images"] == 1 and stats["unreadable_images"] == 1, stats
    assert stats["labels"]["out_of_range"] == 1, stats
    assert (Path(cfg.paths.output_dir) / "metrics.json").is_file()


def test_empty_split_is_a_clear_error(make_cfg, synth_root: Path, tmp_path: Path, capsys) -> None:
    root = copy_synth(synth_root, tmp_path)
    cfg0 = make_cfg("phase=scene", f"paths.synthetic_dir={root}")
    run_train(cfg0)  # writes splits.csv
    split_file = root / "findingemo" / "splits.csv"
    split = pd.read_csv(split_file, dtype=str)
    split.loc[split["split"] == "val", "split"] = "train"
    split.to_csv(split_file, index=False)
    cfg = make_cfg("phase=scene", f"paths.synthetic_dir={root}")
    (Path(cfg.paths.output_dir) / "metrics.json").unlink()  # the first run's
    expect_user_error(capsys, run_train, cfg, "Split 'val' is empty", "splits.csv")
    assert not (Path(cfg.paths.output_dir) / "metrics.json").exists()
