"""Video input (``emotune.media.video``) through the real entry point: bad files are one ``error:`` line and leave
no output; truncated, unreadable part-way, lying-fps, grayscale, huge and short videos are analysed as far as they go,
and said so."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pandas as pd
import pytest

from emotune.runtime.entry import run_infer
from emotune.runtime.writers import OUTPUTS

from .conftest import infer_overrides
from .helpers.capture import WrappedCapture
from .helpers.entry import expect_user_error, no_outputs


@pytest.mark.parametrize(
    "case, needle",
    [
        ("missing", "Video not found"),
        ("folder", "no video files"),
        ("text", "could not be opened"),
        ("empty", "empty file"),
        ("zero_frames", "video="),
    ],
)
def test_bad_video_files(make_cfg, scene_only_set: Path, tmp_path: Path, capsys, case: str, needle: str) -> None:
    d = tmp_path / "in"
    d.mkdir()
    video = {
        "missing": d / "missing.mp4",
        "folder": d,
        "text": d / "notes.mp4",
        "empty": d / "empty.mp4",
        "zero_frames": d / "zero.mp4",
    }[case]
    if case == "text":
        video.write_text("this is not a video")
    elif case == "empty":
        video.write_bytes(b"")
    elif case == "zero_frames":
        w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 64))
        w.release()
    cfg = make_cfg(*infer_overrides(scene_only_set, video), config_name="infer")
    expect_user_error(capsys, run_infer, cfg, needle, str(video.name) if case != "folder" else str(video))
    assert no_outputs(Path(cfg.paths.output_dir))


def test_truncated_file_keeps_what_was_read(make_cfg, trained, synth_root: Path, tmp_path: Path) -> None:
    """A download cut in half: an AVI keeps its header at the start, so the first half still decodes; the run
    analyses it, warns, and says ``truncated``."""
    from emotune.runtime.infer import infer

    src = cv2.VideoCapture(str(synth_root / "videos" / "clip.mp4"))
    full = tmp_path / "full.avi"
    writer = cv2.VideoWriter(str(full), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 180))
    while True:
        ok, frame = src.read()
        if not ok:
            break
        writer.write(frame)
    writer.release()
    data = full.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    cfg = make_cfg(*infer_overrides(trained, cut), config_name="infer")
    summary = infer(cfg)
    assert summary["truncated"] is True and 8 <= summary["frames_analysed"] <= 16  # about half of 24
    assert all((Path(cfg.paths.output_dir) / f).is_file() for f in OUTPUTS)


def test_max_frames_is_not_truncation(make_cfg, trained, synth_root: Path) -> None:
    """Stopping at the user's max_frames is not a truncated file (it used to be reported as one)."""
    from emotune.runtime.infer import infer

    cfg = make_cfg(*infer_overrides(trained, synth_root / "videos" / "clip.mp4", "max_frames=10"), config_name="infer")
    summary = infer(cfg)
    assert summary["frames_analysed"] == 10 and summary["truncated"] is False


def test_unreadable_part_way_finishes_and_marks_truncated(make_cfg, trained, synth_root: Path) -> None:
    from emotune.runtime.infer import infer

    cfg = make_cfg(*infer_overrides(trained, synth_root / "videos" / "clip.mp4"), config_name="infer")
    summary = infer(cfg, capture_factory=lambda p: WrappedCapture(p, fail_after=25))  # 2.5 s of a 6 s clip at 10 fps
    assert summary["truncated"] is True and 8 <= summary["frames_analysed"] <= 11
    s = json.loads((Path(cfg.paths.output_dir) / "summary.json").read_text())
    assert s["truncated"] is True and s["songs"] and s["songs"][-1]["end_s"] <= 3.0


@pytest.mark.parametrize("fps", [0.0, 1e6])
def test_nonsense_fps_falls_back_to_timestamps(make_cfg, trained, synth_root: Path, fps: float) -> None:
    from emotune.runtime.infer import infer

    cfg = make_cfg(*infer_overrides(trained, synth_root / "videos" / "clip.mp4"), config_name="infer")
    summary = infer(cfg, capture_factory=lambda p: WrappedCapture(p, fps=fps))
    assert any("unusable" in n for n in summary["video_notes"])
    assert 5.0 <= summary["video_seconds"] <= 7.0 and 20 <= summary["frames_analysed"] <= 26  # 6 s at 4 fps


@pytest.mark.parametrize(
    "transform, name",
    [
        (lambda f: cv2.cvtColor(f, cv2.COLOR_BGR2GRAY), "grayscale"),
        (lambda f: cv2.resize(f, (4800, 2700), interpolation=cv2.INTER_NEAREST), "huge"),
    ],
)
def test_grayscale_and_huge_frames(make_cfg, trained, synth_root: Path, transform, name: str) -> None:
    from emotune.runtime.infer import infer

    cfg = make_cfg(*infer_overrides(trained, synth_root / "videos" / "clip.mp4", "max_frames=6"), config_name="infer")
    seen = []
    summary = infer(cfg, capture_factory=lambda p: WrappedCapture(p, transform=transform))
    assert summary["frames_analysed"] == 6, name
    tl = pd.read_csv(Path(cfg.paths.output_dir) / "timeline.csv")
    assert tl[["stab_valence", "stab_arousal"]].notna().all().all()
    if name == "huge":  # the models saw a downscaled frame: the scene path ran at normal cost
        assert summary["stage_seconds"]["downscale"] > 0
    del seen


def test_clip_shorter_than_the_dwell(make_cfg, trained, synth_root: Path) -> None:
    from emotune.runtime.infer import infer

    cfg = make_cfg(
        *infer_overrides(trained, synth_root / "videos" / "clip.mp4"),
        "matcher.min_dwell_s=25",
        config_name="infer",
    )
    summary = infer(cfg)
    assert len(summary["songs"]) == 1 and summary["dwell_violations"] == 0
    assert summary["songs"][0]["end_s"] == pytest.approx(summary["video_seconds"], abs=0.01)


def test_a_file_decodes_on_few_threads_in_a_low_priority_reader(synth_root: Path) -> None:
    import os
    import sys
    import threading

    from emotune.media.video import DECODE_NICENESS, DECODE_THREADS, Prefetcher, open_capture

    cap, _ = open_capture(synth_root / "videos" / "clip.mp4")
    assert cap.get(cv2.CAP_PROP_N_THREADS) == DECODE_THREADS  # the decoder leaves the cores to the models
    cap.release()
    if not sys.platform.startswith("linux"):
        pytest.skip("per-thread nice values are Linux's")
    seen: list[int] = []

    def items():
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        yield 1

    main = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    with Prefetcher(items()) as got:
        assert list(got) == [1]
    assert seen == [min(19, main + DECODE_NICENESS)]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == main  # only the reader thread yields
