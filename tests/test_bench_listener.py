"""``make bench``'s listener section on a small history (the full one: 10,000 plays, an hour of session)."""

from __future__ import annotations

from pathlib import Path

from emotune.bench.listener import listener
from emotune.runtime.compose import compose_config


def test_the_section_measures_steps_and_store_growth(tmp_path: Path, synth_root: Path) -> None:
    infer = f"listener.infer=['paths.synthetic_dir={synth_root}','matcher.stations.n_components=4']"
    cfg = compose_config("bench", [f"out={tmp_path}", "listener.plays=100", "listener.session_s=60",
                                   "listener.feedback_every_s=20", infer], tmp_path)  # fmt: skip
    res = listener(cfg)
    assert res["history"]["plays"] == 100 and res["history"]["trace"] == 3000 and res["history"]["preferences"] > 0
    assert res["session_lines"] == 62 and 0 < res["step_ms_median"] < 100
    assert 0 < res["store_mb_per_hour"] < 50
