"""`make bench` end to end on the tiny fixtures (slow), and its detection section (fast)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emotune.bench.run import bench, bench_detection


def test_detection_bench_reports_both_modes(synth_root: Path) -> None:
    res = bench_detection(synth_root / "videos" / "clip.mp4")
    for mode in ("full scan", "tracking"):
        assert (
            res[mode]["frames"] == 24 and 0.0 <= res[mode]["recall"] <= 1.0 and res[mode]["ms_per_frame"] > 0
        )
    assert res["speedup"] > 0


@pytest.mark.slow
def test_bench_end_to_end(trained, synth_root: Path, tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    demo.mkdir()
    for phase in ("scene", "face", "fusion"):
        (demo / phase).symlink_to(trained[phase].parents[1])
    bench(demo, synth_root / "videos" / "clip.mp4", tmp_path / "bench")
    res = json.loads((tmp_path / "bench" / "bench.json").read_text())
    assert set(res) >= {"realtime", "mc_dropout", "matcher", "detection", "feature_cache", "machine"}
    assert res["mc_dropout"]["ViT-B/32 scene"]["speedup"] > 1  # T full passes cost more than one
    md = (tmp_path / "bench" / "bench.md").read_text()
    assert "realtime factor" in md and "Goals missed" in md
