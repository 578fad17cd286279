"""``make eval-uncertainty``'s parts that run without training (the comparison itself trains two model sets)."""

from __future__ import annotations

from pathlib import Path


def test_the_default_method_is_the_one_the_phase_configs_compose(tmp_path: Path) -> None:
    from emotune.eval.uncertainty import METHODS, default_method
    from emotune.runtime.compose import compose_config

    method = default_method(tmp_path)
    assert method in METHODS
    assert method == compose_config("train", ["phase=scene"], tmp_path).model.uncertainty
