"""``make eval-uncertainty``'s parts that run without training (the comparison itself trains two model sets)."""

from __future__ import annotations

from pathlib import Path


def test_the_default_method_is_the_one_the_phase_configs_compose(tmp_path: Path) -> None:
    from emotune.eval.uncertainty import METHODS, default_method
    from emotune.runtime.compose import compose_config

    method = default_method(tmp_path)
    assert method in METHODS
    assert method == compose_config("train", ["phase=scene"], tmp_path).model.uncertainty


def test_mc_dropout_keeps_the_face_model_when_its_head_has_no_such_sigma(trained_face: Path) -> None:
    from emotune.eval.uncertainty import face_has_the_method
    from emotune.models.components.expression import ExpressionVAHead
    from emotune.models.loading import load_phase_module

    demo = trained_face.parents[2]  # the folder holding the face run dir (face/checkpoints/best.ckpt)
    expression = isinstance(load_phase_module(trained_face, "face").head, ExpressionVAHead)
    assert face_has_the_method("both", demo) and face_has_the_method("heteroscedastic", demo)
    assert face_has_the_method("mc_dropout", demo) is not expression
