"""Private copies of the tiny synthetic set (``synth_root``), for tests that damage or change its files."""

from __future__ import annotations

import shutil
from pathlib import Path


def copy_synth(synth_root: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny synthetic set; returns what ``paths.synthetic_dir`` should be."""
    root = tmp_path / "synthetic"
    shutil.copytree(
        synth_root / "findingemo", root / "findingemo", ignore=shutil.ignore_patterns("cache", "splits.csv")
    )
    return root
