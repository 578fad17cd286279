"""What ``infer.py`` writes (``emotune.runtime.writers``): files with the permissions any file gets, and from a webcam
nothing but the outputs."""

from __future__ import annotations

from pathlib import Path

from emotune.runtime.writers import OUTPUTS

from .conftest import FakeWebcam, infer_overrides


def test_outputs_follow_the_umask(make_cfg, trained, synth_root: Path) -> None:
    """Outputs are written through a temporary file; they must still get the permissions any file gets."""
    import os

    from emotune.runtime.infer import infer

    old = os.umask(0o022)
    try:
        cfg = make_cfg(*infer_overrides(trained, synth_root / "videos" / "clip.mp4"), config_name="infer")
        infer(cfg)
    finally:
        os.umask(old)
    for f in OUTPUTS:
        assert (Path(cfg.paths.output_dir) / f).stat().st_mode & 0o777 == 0o644, f


def test_webcam_frames_stay_in_memory(make_cfg, trained, tmp_path: Path) -> None:
    from emotune.runtime.infer import infer

    cfg = make_cfg(*infer_overrides(trained, 0), config_name="infer")
    infer(cfg, capture_factory=FakeWebcam.make(16))
    written = {p.name for p in Path(cfg.paths.output_dir).iterdir()}
    assert written == set(OUTPUTS), written  # no frame, image or video from the camera
