"""Tests that need ``../shared`` skip in a user's clone and fail in CI (``CI=true``) when it is missing."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .conftest import ROOT

TARGET = "tests/test_deam.py::test_real_deam_static_csvs"  # marked needs(SHARED_DEAM)


def run_without_shared(ci: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EMOTUNE_SHARED": "/nonexistent/shared", "CI": ci, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--no-cov", TARGET],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize("ci, rc, says", [("", 0, "1 skipped"), ("true", 1, "CI=true but the real data")])
def test_missing_shared_skips_for_users_and_fails_in_ci(ci: str, rc: int, says: str) -> None:
    proc = run_without_shared(ci)
    assert proc.returncode == rc and says in proc.stdout, proc.stdout[-2000:]
