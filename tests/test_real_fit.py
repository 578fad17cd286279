"""Cross-fitting the real-input heads: every image in one fold with its person, each fold's pieces fitted without it,
and eval-real putting in the fold that never saw an image."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from emotune.detect.context import CONTEXT_COLUMNS
from emotune.eval.real_sets import FoldSwitch
from emotune.models.components.context_fusion import ContextFitSettings, ContextFusion
from emotune.models.components.expression import ExpressionVAHead
from emotune.models.components.expression_fit import ExpressionFitSettings
from emotune.runtime.real_fit import CrossFitSettings, cross_fit, fold_of_group
from emotune.runtime.real_rows import LabelledImage, PerceivedRows, person_of

CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
SHARES = {"faces": 0.35, "photos_with_face": 0.35, "photos": 0.1, "faces_in_context": 0.2}


class FacePath(torch.nn.Module):
    """What the fit needs of a face module: an expression head and ``predict_features``."""

    def __init__(self) -> None:
        super().__init__()
        self.head = ExpressionVAHead(7 + 4, CLASSES, bounded=True, recalibrate=True)

    @torch.no_grad()
    def predict_features(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head.mixture(feats)


def rows_of(n_faces: int = 140, n_photos: int = 60, seed: int = 0) -> PerceivedRows:
    from emotune.data.expressions import RUSSELL_MEHRABIAN_1977

    rng = np.random.default_rng(seed)
    images = [
        LabelledImage(f"/f/{i}.jpg", RUSSELL_MEHRABIAN_1977[CLASSES[i % 7]], "faces", f"person{i % 35}",
                      expression=CLASSES[i % 7], webcam=True)
        for i in range(n_faces)
    ] + [
        LabelledImage(f"/p/{i}.jpg", tuple(rng.uniform(-0.6, 0.6, 2)), "oasis", f"theme{i}", category="Person")
        for i in range(n_photos)
    ]  # fmt: skip
    n = len(images)
    feats = rng.normal(size=(n, 11)).astype(np.float32)
    for i in range(n_faces):
        feats[i, i % 7] += 3.0
    found = np.r_[np.ones(n_faces, bool), np.arange(n_photos) % 2 == 0]
    label = np.array([im.label for im in images])
    ctx = np.zeros((n, len(CONTEXT_COLUMNS)))
    ctx[:, 0] = np.where(np.arange(n) < n_faces, -1.3, -3.5)
    return PerceivedRows(
        images=images, content=[f"c{i}" for i in range(n)],
        scene_mean=np.clip(label * 0.5 + rng.normal(0, 0.2, (n, 2)), -0.9, 0.9), scene_var=np.full((n, 2), 0.05),
        face_mean=np.zeros((n, 2)), face_var=np.full((n, 2), 0.05), face_found=found, context=ctx,
        face_features=feats, fused_mean=np.zeros((n, 2)), fused_var=np.ones((n, 2)), face_weight=np.zeros((n, 2)),
    )  # fmt: skip


def test_each_fold_is_fitted_without_its_images_and_keeps_people_together() -> None:
    rows = rows_of()
    settings = CrossFitSettings(folds=3, inner_folds=2, shares=SHARES, seed=0)
    fit = cross_fit(
        FacePath(),
        rows,
        ExpressionFitSettings(lams=(0.1,), reading_temps=(1.0,), inner_folds=2, max_iter=50),
        ContextFitSettings(ridge=1e-3, var_ridge=1e-3, max_iter=50, gate_loss="mse"),
        settings,
    )
    assert set(fit.fold_of) == set(rows.content) and len(fit.face_folds) == len(fit.fusion_folds) == 3
    fold = np.array([fit.fold_of[c] for c in rows.content])
    for g in set(rows.column("group")):
        assert len(set(fold[rows.column("group") == g])) == 1  # a person's photos stay in one fold
    assert set(fold) == {0, 1, 2}
    pool = "head.expr_pool"
    assert all(not torch.equal(f[pool], fit.face[pool]) for f in fit.face_folds)  # each fold fitted on other rows
    assert all(not torch.equal(f["gate"], fit.fusion["gate"]) for f in fit.fusion_folds)
    assert [c["fold"] for c in fit.choices] == [0, 1, 2, None]


def test_groups_map_to_folds_by_their_name_alone() -> None:
    groups = np.array(["a", "b", "a", "c"])
    assert (fold_of_group(groups, 5, 0) == fold_of_group(groups[::-1], 5, 0)[::-1]).all()
    assert person_of("images/George_W_Bush_0486.jpg") == "George_W_Bush" and person_of("x/anne-12.png") == "anne"


def test_eval_puts_in_the_fold_that_never_saw_an_image() -> None:
    face, fusion = FacePath(), SimpleNamespace(context_fusion=ContextFusion())
    perceiver = SimpleNamespace(face=face, fusion=fusion)
    fold_face = {k: torch.full_like(v, 7.0) for k, v in face.state_dict().items() if k == "head.expr_bias"}
    fold_fusion = {k: v + 1 for k, v in fusion.context_fusion.state_dict().items()}
    switch = FoldSwitch(perceiver, {"fold_of": {"seen": 0}, "face": [fold_face], "fusion": [fold_fusion]})
    switch("seen")
    assert (face.head.expr_bias == 7).all() and (fusion.context_fusion.gate == ContextFusion().gate + 1).all()
    switch("new")  # an image no fold saw: the pieces fitted on everything
    assert (face.head.expr_bias == 0).all() and torch.equal(fusion.context_fusion.gate, ContextFusion().gate)
    assert switch.cross_fitted == 1


@pytest.mark.parametrize("contents", [[], ["notes.txt"]])
def test_eval_real_without_usable_data_is_one_error_and_keeps_the_report(
    tmp_path: Path, trained: dict[str, Path], contents: list[str], capsys: pytest.CaptureFixture
) -> None:
    from emotune.eval.real import main

    data = tmp_path / "data"
    data.mkdir()
    for name in contents:
        (data / name).write_text("x")
    doc = tmp_path / "real.md"
    doc.write_text("the report as it was\n")
    with pytest.raises(SystemExit) as exc:
        main([f"data_dir={data}", f"sets.demo={trained['dir']}", "sets.real=null", f"doc={doc}",
              f"out={tmp_path / 'out'}", "clip=null"])  # fmt: skip
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
    assert exc.value.code == 2 and len(err) == 1 and "nothing to evaluate" in err[0]
    assert doc.read_text() == "the report as it was\n" and not (tmp_path / "out" / "real.md").exists()
