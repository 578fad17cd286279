"""One timed run in its own process, so its peak memory and its start-up settings (``extras.torch_threads``) are its
own.

* ``python -m emotune.bench.child RESULT.json RUN_DIR override [override ...]``: one ``infer()``; writes the run's
  summary plus ``peak_rss_mb`` (the process's own peak resident set size) to ``RESULT.json``.
* ``python -m emotune.bench.child clip RESULT.json RUN_DIR VIDEO FPS REPEATS DETECTOR override [override ...]``: one
  detector's cost on the clip's analysed frames (:func:`emotune.bench.detection.clip_speed`), or why it cannot be
  built here (``{"skipped": ...}``).
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB: Linux's ``VmHWM`` (the high-water mark of this program's own
    memory). ``getrusage``'s ``ru_maxrss`` is not used on Linux: it survives ``fork`` and ``exec``, so a child
    started by a large parent (the bench, after its ViT runs) reports the parent's peak instead of its own."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 if sys.platform != "darwin" else 1024**2)


def run_infer(result: Path, run_dir: Path, overrides: list[str]) -> None:
    """Run one infer() with the given overrides and write its summary and peak memory."""
    from emotune.runtime.compose import compose_config
    from emotune.runtime.infer import infer
    from emotune.utils.io import write_json_atomic
    from emotune.utils.process import start_up

    t0 = time.perf_counter()
    cfg = compose_config("infer", ["progress=false", "extras.print_config=false", *overrides], run_dir)
    start_up(cfg.extras.torch_threads, "extras.torch_threads")
    summary = infer(cfg)
    summary["wall_seconds_with_loading"] = round(time.perf_counter() - t0, 2)
    summary["peak_rss_mb"] = round(peak_rss_mb(), 1)
    write_json_atomic(result, summary)


def run_clip(
    result: Path, run_dir: Path, video: Path, fps: float, repeats: int, detector: str, overrides: list[str]
) -> None:
    """Time ``detector`` (``conf/detector/<detector>.yaml`` with ``overrides``) on the clip's analysed frames."""
    from emotune.bench.detection import clip_frames, clip_speed
    from emotune.runtime.compose import build_detector, compose_config
    from emotune.utils.io import write_json_atomic
    from emotune.utils.process import start_up

    cfg = compose_config("infer", ["video=x", f"detector={detector}", *overrides], run_dir)
    start_up(cfg.extras.torch_threads, "extras.torch_threads")
    det = build_detector(detector, run_dir, *overrides)
    row = {"skipped": det} if isinstance(det, str) else {"clip": clip_speed(det, *clip_frames(video, fps), repeats)}
    write_json_atomic(result, row)


def main(argv: list[str]) -> None:
    """``clip ...``: a detector's clip cost; otherwise one ``infer()`` (see the module docstring)."""
    if argv and argv[0] == "clip":
        result, run_dir, video, fps, repeats, detector, *overrides = argv[1:]
        run_clip(Path(result), Path(run_dir), Path(video), float(fps), int(repeats), detector, overrides)
    else:
        run_infer(Path(argv[0]), Path(argv[1]), argv[2:])


if __name__ == "__main__":
    main(sys.argv[1:])
