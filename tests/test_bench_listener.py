"""``make bench``'s listener section on a small history (the full one: 10,000 plays, an hour of session)."""

from __future__ import annotations

from pathlib import Path

from emotune.bench.listener import listener
from emotune.runtime.compose import compose_config


def test_the_section_measures_steps_and_store_growth(tmp_path: Path, synth_root: Path) -> None:
    infer = f"listener.infer=['paths.synthetic_dir={synth_root}']"
    cfg = compose_config("bench", [f"out={tmp_path}", "listener.plays=300", "listener.session_s=120",
                                   "listener.feedback_every_s=30", infer], tmp_path)  # fmt: skip
    res = listener(cfg)
    assert res["history"]["plays"] == 300 and res["history"]["trace"] == 9000 and res["history"]["preferences"] > 0
    assert res["session_lines"] == 123 and 0 < res["step_ms_median"] < 100
    assert 0 < res["store_mb_per_hour"] < 50
