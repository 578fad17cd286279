"""One table across inference runs: ``python -m emotune.runtime.collect dirs=[DIR,...] [out=table.csv]`` (settings:
``conf/collect.yaml``).

Batch mode (``infer.py video=FOLDER``) writes it itself; for a Hydra multirun
(``infer.py -m video=a.mp4,b.mp4``, possibly on SLURM) point this at the sweep folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from emotune.utils.command import command
from emotune.utils.errors import DataError
from emotune.utils.io import atomic_path

COLUMNS = [
    "video",
    "status",
    "video_seconds",
    "frames_analysed",
    "realtime_factor",
    "face_found_fraction",
    "songs",
    "switches",
    "dwell_violations",
    "repeats_within_memory",
    "truncated",
    "mean_stab_valence",
    "mean_stab_arousal",
    "run_dir",
    "error",
]


def summary_row(run_dir: Path) -> dict:
    """The cross-video columns for one run folder (``summary.json`` + ``timeline.csv``)."""
    s = json.loads((run_dir / "summary.json").read_text())
    tl = pd.read_csv(run_dir / "timeline.csv", usecols=["stab_valence", "stab_arousal"])
    return {
        "video": s["video"],
        "status": "ok",
        "video_seconds": s["video_seconds"],
        "frames_analysed": s["frames_analysed"],
        "realtime_factor": s["realtime_factor"],
        "face_found_fraction": s["face_found_fraction"],
        "songs": len(s["songs"]),
        "switches": s["switches"],
        "dwell_violations": s["dwell_violations"],
        "repeats_within_memory": s.get("repeats_within_memory"),
        "truncated": s.get("truncated", False),
        "mean_stab_valence": float(np.mean(tl["stab_valence"])),
        "mean_stab_arousal": float(np.mean(tl["stab_arousal"])),
        "run_dir": str(run_dir),
        "error": "",
    }


def summary_table(runs: dict[str, Path], errors: dict[str, str] | None = None) -> pd.DataFrame:
    """The cross-video table of finished runs (and failed videos)."""
    rows = [summary_row(d) for d in runs.values()]
    rows += [{"video": v, "status": "failed", "error": e} for v, e in (errors or {}).items()]
    return pd.DataFrame(rows, columns=COLUMNS)


def find_runs(roots: list[Path]) -> dict[str, Path]:
    """Every folder under ``roots`` holding a ``summary.json``."""
    runs = {}
    for root in roots:
        if not root.exists():
            raise DataError(f"{root} does not exist; give inference run folders or a multirun sweep folder.")
        for s in sorted(root.rglob("summary.json")):
            runs[str(s.parent)] = s.parent
    if not runs:
        raise DataError(f"No summary.json under {', '.join(map(str, roots))}; run infer.py there first.")
    return runs


@command("collect")
def main(cfg: DictConfig) -> None:
    """CLI: tabulate run folders into one CSV."""
    dirs = [Path(str(d)) for d in ([cfg.dirs] if isinstance(cfg.dirs, str) else cfg.dirs)]
    table = summary_table(find_runs(dirs))
    out = Path(str(cfg.out)) if cfg.out else dirs[0] / "videos_summary.csv"
    with atomic_path(out) as tmp:
        table.to_csv(tmp, index=False)
    print(table.drop(columns=["run_dir", "error"]).to_string(index=False))
    print(f"Wrote {out}")


if __name__ == "__main__":
    main()
