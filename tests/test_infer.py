"""infer.py end to end on a rendered clip, and bad inputs through the real entry point."""

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from emotune.runtime.infer import infer
from emotune.utils.errors import ConfigError, DataError, MissingResourceError

from .conftest import ROOT


def infer_cfg(make_cfg, trained, video, *extra: str):
    return make_cfg(f"video={video}", f"ckpt.dir={trained['dir']}", "progress=false", "extras.print_config=false",
                    "perceive.mc_samples=4", "matcher.min_dwell_s=2", "matcher.memory=2", *extra,
                    config_name="infer")


def test_infer_writes_every_output(make_cfg, trained, synth_root: Path) -> None:
    cfg = infer_cfg(make_cfg, trained, synth_root / "videos" / "clip.mp4", "render=true")
    summary = infer(cfg)
    out = Path(cfg.paths.output_dir)
    for name in ("timeline.csv", "playlist.json", "playlist.m3u", "summary.json", "timeline.png", "annotated.mp4"):
        assert (out / name).is_file(), name
    tl = pd.read_csv(out / "timeline.csv")
    assert len(tl) == summary["frames_analysed"] == 24  # 6 s at 4 fps
    for col in ("t_s", "scene_valence", "face_valence_sd", "fused_arousal", "stab_valence", "stab_arousal",
                "face_found", "station", "song_id"):
        assert col in tl.columns, col
    assert tl[["stab_valence", "stab_arousal"]].notna().all().all()
    assert tl.loc[tl["t_s"] >= 4.6, "face_found"].sum() == 0  # the clip has no face after 4.5 s
    s = json.loads((out / "summary.json").read_text())
    for key in ("video_seconds", "frames_analysed", "analysis_fps", "processing_seconds", "realtime_factor",
                "face_found_fraction", "switches", "dwell_violations", "mode", "songs"):
        assert key in s, key
    assert s["dwell_violations"] == 0 and s["songs"][0].keys() >= {"song_id", "start_s", "end_s", "valence",
                                                                    "arousal", "station"}
    assert (out / "playlist.m3u").read_text().startswith("#EXTM3U")


def test_webcam_path_with_fake_capture(make_cfg, trained, synth_root: Path) -> None:
    frames = [np.full((120, 160, 3), 90, np.uint8)] * 6

    class FakeCam:
        def __init__(self, idx: int) -> None:
            self.i = 0

        def isOpened(self) -> bool:  # noqa: N802 (OpenCV's API)
            return True

        def get(self, prop: int) -> float:
            return {cv2.CAP_PROP_FPS: 4.0, cv2.CAP_PROP_FRAME_WIDTH: 160, cv2.CAP_PROP_FRAME_HEIGHT: 120}.get(prop, 0.0)

        def grab(self) -> bool:
            self.i += 1
            return self.i <= len(frames)

        def retrieve(self):
            return True, frames[self.i - 1]

        def release(self) -> None:
            pass

    cfg = infer_cfg(make_cfg, trained, 0)
    assert infer(cfg, capture_factory=FakeCam)["frames_analysed"] == 6

    class ClosedCam(FakeCam):
        def isOpened(self) -> bool:  # noqa: N802
            return False

    with pytest.raises(MissingResourceError, match="Webcam video=0 did not open"):
        infer(cfg, capture_factory=ClosedCam)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("make_video, err, match", [
    (lambda d: d / "missing.mp4", MissingResourceError, "Video not found"),
    (lambda d: d, DataError, "is a folder"),
    (lambda d: _write(d / "empty.mp4", b""), DataError, "empty file"),
    (lambda d: _write(d / "text.mp4", b"hello, not a video"), DataError, "could not be opened"),
])
def test_bad_videos_fail_cleanly(make_cfg, trained, tmp_path: Path, make_video, err, match) -> None:
    video = make_video(tmp_path)
    cfg = infer_cfg(make_cfg, trained, video)
    with pytest.raises(err, match=match):
        infer(cfg)
    assert not (Path(cfg.paths.output_dir) / "summary.json").exists()


@pytest.mark.parametrize("override, match", [
    ("perceive.fps=0", "perceive.fps"), ("matcher.min_dwell_s=-1", "matcher.min_dwell_s"),
    ("stabilizer.tau=-0.5", "stabilizer.tau"), ("perceive.mc_samples=0", "perceive.mc_samples"),
    ("matcher.mode=shuffle", "matcher.mode"),
])
def test_bad_config_named_before_work(make_cfg, trained, synth_root: Path, override: str, match: str) -> None:
    cfg = infer_cfg(make_cfg, trained, synth_root / "videos" / "clip.mp4", override)
    with pytest.raises(ConfigError, match=match):
        infer(cfg)


def test_cli_prints_one_line_and_exits_nonzero(tmp_path: Path, trained, synth_root: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "infer.py"), f"video={tmp_path / 'nope.mp4'}", f"ckpt.dir={trained['dir']}",
         f"paths.synthetic_dir={synth_root}",
         f"hydra.run.dir={tmp_path / 'run'}", "extras.print_config=false"],
        capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert proc.returncode == 2, proc.stderr[-2000:]
    err_lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(err_lines) == 1 and "nope.mp4" in err_lines[0] and "Traceback" not in proc.stderr
    assert not (tmp_path / "run" / "summary.json").exists()


def test_missing_checkpoint_message(make_cfg, synth_root: Path, tmp_path: Path) -> None:
    cfg = make_cfg(f"video={synth_root / 'videos' / 'clip.mp4'}", f"ckpt.scene={tmp_path / 'x.ckpt'}",
                   "progress=false", config_name="infer")
    with pytest.raises(MissingResourceError, match="Checkpoint not found"):
        infer(cfg)
