"""Song catalogues (``emotune.data.catalog``) through the real entry point: unusable ones are one ``error:`` line,
bad rows are dropped and counted."""

from __future__ import annotations

from pathlib import Path

import pytest

from emotune.runtime.entry import run_infer

from .conftest import infer_overrides
from .helpers.entry import expect_user_error, no_outputs


def _catalog_csv(path: Path, rows: list[tuple], header: str = "song_id,valence,arousal") -> Path:
    path.write_text(header + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    return path


@pytest.mark.parametrize(
    "case, needles",
    [
        ("missing_folder", ["catalog", "nope"]),
        ("missing_columns", ["lacks column", "arousal"]),
        ("all_bad", ["no songs left"]),
        ("memory", ["matcher.memory=2", "lower matcher.memory"]),
    ],
)
def test_bad_catalogues(
    make_cfg, scene_only_set: Path, synth_root: Path, tmp_path: Path, capsys, case: str, needles: list[str]
) -> None:
    clip = synth_root / "videos" / "clip.mp4"
    if case == "missing_folder":
        extra = ["catalog=deam", f"catalog.root={tmp_path / 'nope'}"]
    else:
        rows = {
            "missing_columns": [(1, 5)],
            "all_bad": [(1, float("nan"), 5), (2, 12, 5), (3, 5, -4)],
            "memory": [(1, 5, 5), (2, 6, 6)],
        }[case]
        header = "song_id,valence" if case == "missing_columns" else "song_id,valence,arousal"
        extra = ["catalog=csv", f"catalog.path={_catalog_csv(tmp_path / 'songs.csv', rows, header)}"]
    cfg = make_cfg(*infer_overrides(scene_only_set, clip, *extra), config_name="infer")
    expect_user_error(capsys, run_infer, cfg, *needles)
    assert no_outputs(Path(cfg.paths.output_dir))


def test_catalogue_rows_dropped_and_counted_and_small_k(make_cfg, trained, synth_root: Path, tmp_path: Path) -> None:
    from emotune.runtime.infer import infer

    rows = [(i, 2 + i % 6, 3 + i % 5) for i in range(8)] + [(3, 5, 5), (90, "nan", 4), (91, 5, 11)]
    csv = _catalog_csv(tmp_path / "mine.csv", rows)
    cfg = make_cfg(
        *infer_overrides(
            trained,
            synth_root / "videos" / "clip.mp4",
            "catalog=csv",
            f"catalog.path={csv}",
            "matcher.stations.k=50",
            "matcher.memory=3",
        ),
        config_name="infer",
    )
    summary = infer(cfg)
    assert summary["catalog"]["songs"] == 8  # duplicate id, NaN and out-of-range rows dropped
    assert summary["repeats_within_memory"] == 0
