"""Starting :mod:`emotune.bench.child` (one timed run in its own process) and reading what it wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def in_child(result: Path, args: list[str], what: str) -> dict[str, Any]:
    """Run ``python -m emotune.bench.child ARGS`` (which writes ``result``) and read what it wrote."""
    cmd = [sys.executable, "-m", "emotune.bench.child", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if proc.returncode != 0:
        raise RuntimeError(f"bench run {what} failed:\n{proc.stderr[-3000:]}")
    return dict(json.loads(result.read_text()))
