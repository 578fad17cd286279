"""The interview-like copy of a real clip (``emotune.eval.interview``) and its part of ``make eval-real``."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from emotune.eval.interview import InterviewSpec, make_interview_clip


def frames_of(path: Path) -> tuple[list[np.ndarray], float]:
    cap = cv2.VideoCapture(str(path))
    fps, out = cap.get(cv2.CAP_PROP_FPS), []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        out.append(f)
    cap.release()
    return out, fps


def test_the_copy_is_as_long_as_asked_with_a_microphone_and_subtitles(synth_root: Path, tmp_path: Path) -> None:
    src = synth_root / "videos" / "clip.mp4"
    source, fps = frames_of(src)
    spec = InterviewSpec(seconds=len(source) / fps * 1.5)  # longer than the source: it plays back and forth
    out = make_interview_clip(src, tmp_path / "interview.mp4", spec, progress=False)
    frames, out_fps = frames_of(out)
    assert out_fps == pytest.approx(fps, rel=1e-3) and frames[0].shape == source[0].shape
    assert len(frames) == round(spec.seconds * fps)
    h, w = frames[0].shape[:2]
    # the source frame sits smaller in the middle: it fills the frame's centre but not its top-left corner
    sw, sh = int(w * spec.scale), int(h * spec.scale)
    x0, y0 = (w - sw) // 2, int((h - sh) * 0.35)
    mic_x = x0 + int(spec.mic_xy[0] * sw)
    mic_y = y0 + int(spec.mic_xy[1] * sh)
    assert frames[0][mic_y - 1 : mic_y + 2, mic_x - 1 : mic_x + 2].max() < 70  # the microphone's dark head
    band = frames[0][int(h * 0.8) :]
    assert (band.min(axis=2) > 200).mean() > 0.005  # white subtitle text in the bottom band
    assert not list(tmp_path.glob(".*tmp*"))  # written atomically


def test_an_unreadable_source_is_one_clear_error(tmp_path: Path) -> None:
    from emotune.utils.errors import DataError

    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(DataError, match="could not be read as a video"):
        make_interview_clip(bad, tmp_path / "out.mp4", progress=False)
    assert not (tmp_path / "out.mp4").exists()


def test_eval_real_reports_the_share_of_frames_with_a_face(trained, synth_root: Path, tmp_path: Path) -> None:
    from emotune.eval.real import eval_interview
    from emotune.eval.real_report import interview_section

    overrides = [f"paths.synthetic_dir={synth_root}", f"paths.cache_dir={tmp_path / 'cache'}", "perceive.mc_samples=4"]
    res = eval_interview({"tiny": trained["dir"]}, synth_root / "videos" / "clip.mp4", tmp_path, overrides, seconds=3.0)
    assert res["tiny"]["frames"] >= 10 and 0.0 <= res["tiny"]["face_found"] <= 1.0
    assert Path(res["clip"]).is_file()
    text = interview_section(res)
    assert "| tiny" in text and f"{res['tiny']['face_found']:.3f}"[:4] in text
