"""One ``infer()`` run in its own process, so its peak memory is its own.

``python -m emotune.bench.child RESULT.json RUN_DIR override [override ...]`` writes the run's
summary plus ``peak_rss_mb`` (the process's own peak resident set size) to ``RESULT.json``.
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


def main(argv: list[str]) -> None:
    """Run one infer() with the given overrides and write its summary and peak memory."""
    result, run_dir, overrides = Path(argv[0]), Path(argv[1]), argv[2:]
    from emotune.runtime.compose import compose_config
    from emotune.runtime.infer import infer
    from emotune.utils.io import write_json_atomic

    t0 = time.perf_counter()
    cfg = compose_config("infer", ["progress=false", "extras.print_config=false", *overrides], run_dir)
    summary = infer(cfg)
    summary["wall_seconds_with_loading"] = round(time.perf_counter() - t0, 2)
    summary["peak_rss_mb"] = round(peak_rss_mb(), 1)
    write_json_atomic(result, summary)


if __name__ == "__main__":
    main(sys.argv[1:])
