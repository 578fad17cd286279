"""One ``infer()`` run in its own process, so its peak memory is its own.

``python -m emotune.bench.child RESULT.json RUN_DIR override [override ...]`` writes the run's
summary plus ``peak_rss_mb`` (the process's max resident set size) to ``RESULT.json``.
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path


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
    summary["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    write_json_atomic(result, summary)


if __name__ == "__main__":
    main(sys.argv[1:])
