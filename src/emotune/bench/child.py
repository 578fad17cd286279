"""One ``infer()`` run in its own process, so its peak memory is its own.

``python -m emotune.bench.child hydra.run.dir=RUN_DIR [infer.py's key=value ...]`` runs ``infer.py``'s config in
``RUN_DIR`` and writes the run's summary plus ``peak_rss_mb`` (the process's own peak resident set size) to
``RUN_DIR/child.json`` (:data:`RESULT`).
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

from omegaconf import DictConfig

from emotune.utils.command import command


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


RESULT = "child.json"  # in the run dir: the summary, the wall time with loading, the peak memory
ABOUT = "python -m emotune.bench.child hydra.run.dir=DIR [key=value ...]: one infer.py run of make bench in a process of its own -> DIR/child.json"


@command("infer", overrides=("hydra=command", "hydra.job.name=bench.child", f"hydra.help.header='{ABOUT}'"))
def main(cfg: DictConfig) -> None:
    """Run one infer() with the composed ``conf/infer.yaml`` and write its summary and peak memory."""
    from emotune.runtime.infer import infer
    from emotune.utils.io import write_json_atomic

    t0 = time.perf_counter()
    summary = infer(cfg)
    summary["wall_seconds_with_loading"] = round(time.perf_counter() - t0, 2)
    summary["peak_rss_mb"] = round(peak_rss_mb(), 1)
    write_json_atomic(Path(cfg.paths.output_dir) / RESULT, summary)


if __name__ == "__main__":
    main()
