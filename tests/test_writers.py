"""What ``infer.py`` writes (``emotune.runtime.writers``): files with the permissions any file gets, and from a webcam
nothing but the outputs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from emotune.runtime.writers import OUTPUTS
from tests.helpers.process_state import umask

from .conftest import FakeWebcam, infer_overrides


def test_outputs_follow_the_umask(make_cfg, trained, synth_root: Path) -> None:
    """Outputs are written through a temporary file; they must still get the permissions any new file gets, and the
    umask (process-wide) is never changed to find them."""
    from emotune.runtime.infer import infer

    mask = umask()
    cfg = make_cfg(*infer_overrides(trained, synth_root / "videos" / "clip.mp4"), config_name="infer")
    infer(cfg)
    assert umask() == mask
    for f in OUTPUTS:
        assert (Path(cfg.paths.output_dir) / f).stat().st_mode & 0o777 == 0o666 & ~mask, f


def test_atomic_writes_get_the_umask_of_their_process(tmp_path: Path) -> None:
    """A process started with umask 027 writes group-readable, world-unreadable files (``atomic_path``)."""
    code = (
        "import sys; from emotune.utils.io import write_text_atomic, write_json_atomic; "
        "write_text_atomic(sys.argv[1] + '/a.txt', 'x'); write_json_atomic(sys.argv[1] + '/b.json', {})"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, umask=0o027, timeout=60)
    assert {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()} == {"a.txt": 0o640, "b.json": 0o640}


def test_webcam_frames_stay_in_memory(make_cfg, trained, tmp_path: Path) -> None:
    from emotune.runtime.infer import infer

    cfg = make_cfg(*infer_overrides(trained, 0), config_name="infer")
    infer(cfg, capture_factory=FakeWebcam.make(16))
    written = {p.name for p in Path(cfg.paths.output_dir).iterdir()}
    assert written == set(OUTPUTS), written  # no frame, image or video from the camera
