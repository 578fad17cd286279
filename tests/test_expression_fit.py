"""The expression head's learned map: the published mapping until fitted, readings on the plane, and a fit on labelled
faces that reads what the network's logits alone misread."""

from __future__ import annotations

import numpy as np
import torch

from emotune.data.expressions import RUSSELL_MEHRABIAN_1977
from emotune.eval.real_metrics import face_metrics
from emotune.models.components.expression import ExpressionVAHead
from emotune.models.components.expression_fit import ExpressionFitSettings, calibration_error, fit_expression_map

CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
SETTINGS = ExpressionFitSettings(lams=(0.01, 1.0), reading_temps=(1.0, 0.5), inner_folds=3, max_iter=100)


def head(pooled: int = 0, **kw: object) -> ExpressionVAHead:
    return ExpressionVAHead(len(CLASSES) + pooled, CLASSES, bounded=True, recalibrate=pooled > 0, **kw).eval()


def test_an_unfitted_map_is_the_published_mapping_and_stays_on_the_plane() -> None:
    torch.manual_seed(0)
    logits = torch.randn(64, 7) * 3
    plain, mapped = head(0), head(16)
    feats = torch.cat([logits, torch.randn(64, 16)], 1)
    assert torch.allclose(plain(logits)[0], mapped(feats)[0], atol=1e-6)  # W = 0, b = 0, T = 1: the same reading
    expected = torch.softmax(logits, -1) @ torch.tensor([RUSSELL_MEHRABIAN_1977[c] for c in CLASSES])
    assert torch.allclose(plain(logits)[0], expected, atol=1e-5)
    with torch.no_grad():  # a trained residual that pushes hard still cannot leave the plane
        plain.net[-1].bias.copy_(torch.tensor([50.0, -50.0, 0.0, 0.0]))
    assert (plain(logits)[0].abs() <= 1).all()


def synthetic_faces(n: int, seed: int) -> tuple[torch.Tensor, list[str], np.ndarray]:
    """Logits that confuse neutral faces with sad ones (as fer does on real faces), pooled features that tell them
    apart; 40 people, several photos each."""
    g = torch.Generator().manual_seed(seed)
    labels = [CLASSES[i % 7] for i in range(n)]
    logits = torch.randn(n, 7, generator=g)
    pooled = torch.randn(n, 8, generator=g)
    for i, lab in enumerate(labels):
        k = CLASSES.index("sad" if lab == "neutral" else lab)
        logits[i, k] += 3.0
        pooled[i, 0] += 3.0 if lab == "neutral" else 0.0
    groups = np.array([f"p{i % 40}" for i in range(n)])
    return torch.cat([logits, pooled], 1), labels, groups


def test_the_fitted_map_reads_what_the_logits_misread() -> None:
    feats, labels, groups = synthetic_faces(700, 0)
    h = head(8)
    choice = fit_expression_map(h, feats, labels, groups, SETTINGS)
    assert choice["lam"] in SETTINGS.lams and choice["reading_temp"] in SETTINGS.reading_temps
    test, test_labels, _ = synthetic_faces(350, 1)
    expr = np.array(test_labels)
    with torch.no_grad():
        before, after = head(8)(test)[0].numpy(), h(test)[0].numpy()
    neutral = expr == "neutral"
    assert abs(after[neutral, 0].mean()) < abs(before[neutral, 0].mean()) - 0.2  # neutral no longer reads sad
    assert calibration_error(after, expr, RUSSELL_MEHRABIAN_1977) < calibration_error(
        before, expr, RUSSELL_MEHRABIAN_1977
    )
    assert face_metrics(after, expr)["valence_auc"] > 0.95 and face_metrics(after, expr)["arousal_auc"] > 0.95
    assert (np.abs(after) <= 1).all()


def test_labels_the_network_has_no_class_for_are_left_out() -> None:
    feats, labels, groups = synthetic_faces(280, 2)
    labels[:20] = ["contempt"] * 20
    choice = fit_expression_map(head(8), feats, labels, groups, SETTINGS)
    assert choice["rows"] == 260
