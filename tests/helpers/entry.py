"""Checks on the real entry points (``run_infer``/``run_train``, what ``infer.py``/``train.py`` call once Hydra has
composed the config): a user error exits 2 with one ``error:`` line naming the value, and leaves no output that
looks complete."""

from __future__ import annotations

from pathlib import Path

import pytest

from emotune.runtime.writers import OUTPUTS


def expect_user_error(capsys, fn, cfg, *needles: str) -> str:
    """Run an entry point; it must exit 2 with one ``error:`` line containing every needle."""
    with pytest.raises(SystemExit) as exc:
        fn(cfg)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, err[-2000:]
    for n in needles:
        assert n in lines[0], (n, lines[0])
    assert "Traceback" not in err
    return lines[0]


def no_outputs(out: Path) -> bool:
    return not any((out / f).exists() for f in OUTPUTS) and not list(out.glob(".*.tmp*"))
