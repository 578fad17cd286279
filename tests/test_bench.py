"""`make bench` end to end on the tiny fixtures (slow), and its detection section (fast, can fail)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emotune.bench.detection import clip_frames, clip_speed, synthetic_rates
from emotune.runtime.compose import build_detector


def test_detection_section_measures_what_it_claims(synth_root: Path, tmp_path: Path) -> None:
    """On the tiny clip (4.5 s of a clear face, then none): MTCNN finds the face, looking near the last face finds it
    as often as scanning every frame, and the face-less frames get no face. Both are timed; which is cheaper is
    `make bench`'s to say (a timed assertion here would fail whenever the machine is busy)."""
    frames, truth = clip_frames(synth_root / "videos" / "clip.mp4", fps=4.0)
    assert len(frames) == 24 and truth is not None and 0 < truth.sum() < len(truth)
    rows = {name: clip_speed(build_detector(name, tmp_path), frames, truth) for name in ("haar", "mtcnn")}
    mtcnn = rows["mtcnn"]
    assert mtcnn["full_recall"] >= 0.9 and mtcnn["tracking_recall"] >= mtcnn["full_recall"] - 0.1, mtcnn
    assert all(0 < row[k] < float("inf") for row in rows.values() for k in ("full_ms", "tracking_ms")), rows
    for name, row in rows.items():
        assert row["full_false_positive_rate"] == 0.0 and row["tracking_false_positive_rate"] == 0.0, (name, row)
    assert rows["haar"]["full_recall"] <= mtcnn["full_recall"]  # the cascade is not the better finder
    mtcnn = synthetic_rates(build_detector("mtcnn", tmp_path), synth_root / "findingemo", "test")
    assert mtcnn["images_with_face"] > 0 and mtcnn["recall"] > 0.3


@pytest.mark.slow
@pytest.mark.long  # over two minutes on 2 cores: make test-full only
def test_bench_end_to_end(trained, synth_root: Path, tmp_path: Path) -> None:
    from emotune.bench.run import bench
    from emotune.runtime.compose import compose_config

    demo = tmp_path / "demo"
    demo.mkdir()
    for phase in ("scene", "face", "fusion"):
        (demo / phase).symlink_to(trained[phase].parents[1])
    cfg = compose_config(
        "bench",
        [
            f"demo={demo}",
            f"video={synth_root / 'videos' / 'clip.mp4'}",
            f"out={tmp_path / 'bench'}",
            f"paths.synthetic_dir={synth_root}",
            "matcher.big_songs=40000",
            "feature_cache.images=16",
            "data_pipeline.images=32",
            "feature_build.images=8",
            "detection.synthetic_images=20",
        ],
        tmp_path / "bench",
    )
    bench(cfg)
    res = json.loads((tmp_path / "bench" / "bench.json").read_text())
    assert set(res) >= {
        "realtime",
        "mc_dropout",
        "matcher",
        "detection",
        "feature_cache",
        "data_pipeline",
        "feature_build",
        "music",
        "machine",
    }
    assert res["mc_dropout"]["ViT-B/32 scene"]["speedup"] > 1  # T full passes cost more than one
    assert res["data_pipeline"]["workers_0_images_per_s"] > 0 and res["feature_build"]["mb_per_1000"] > 0
    md = (tmp_path / "bench" / "bench.md").read_text()
    assert "realtime factor" in md and "Goals missed" in md and "Face detectors" in md
