"""Fitting the expression head's learned map (:class:`ExpressionVAHead` with ``recalibrate``) on labelled faces.

The map corrects the network's probabilities with its own pooled features, the network's classifier as the prior
(an L2 pull of ``b`` and ``W`` towards zero, and of ``log T`` towards 0): fitted by class-balanced cross-entropy on
the faces' expression labels, so a set with many smiles does not teach the map that every face smiles. Its prior
strength ``lam`` and the reading temperature (how far a reading goes towards its likeliest category) are chosen by
cross-validation inside the rows given, grouped by ``groups`` (a person's photographs stay on one side), on the mean
distance of each expression's mean reading from its published coordinates plus the valence and arousal rankings'
errors: the rows a fit is scored on never choose its settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.model_selection import GroupKFold

from emotune.data.expressions import canonical_expression
from emotune.models.components.expression import ExpressionVAHead


@dataclass(frozen=True)
class ExpressionFitSettings:
    """The choices :func:`fit_expression_map` makes by inner cross-validation (``conf/real_heads.yaml``)."""

    lams: tuple[float, ...]  # prior strengths tried
    reading_temps: tuple[float, ...]  # reading temperatures tried
    inner_folds: int  # grouped folds of the choice
    max_iter: int  # L-BFGS iterations per fit

    @classmethod
    def of(cls, node: Mapping[str, Any]) -> ExpressionFitSettings:
        """From the config node (lists become tuples)."""
        return cls(
            lams=tuple(float(x) for x in node["lams"]),
            reading_temps=tuple(float(x) for x in node["reading_temps"]),
            inner_folds=int(node["inner_folds"]),
            max_iter=int(node["max_iter"]),
        )


def class_targets(head: ExpressionVAHead, classes: tuple[str, ...], labels: list[str]) -> torch.Tensor:
    """Each label's index among the head's ``classes`` (``-1``: a label the network has no class for)."""
    index = {canonical_expression(c): i for i, c in enumerate(classes)}
    return torch.tensor([index.get(canonical_expression(lab), -1) for lab in labels])


@torch.enable_grad()
def _fit_map(head: ExpressionVAHead, feats: torch.Tensor, target: torch.Tensor, lam: float, max_iter: int) -> None:
    """Class-balanced cross-entropy fit of the map's ``log T``, ``b``, ``W`` (in place; the reading temperature 1)."""
    pooled = feats[:, head.n_classes :]
    head.pool_mean.copy_(pooled.mean(0))
    head.pool_scale.copy_(pooled.std(0).clamp_min(1e-3))
    head.reading_temp.fill_(1.0)
    params = [head.expr_log_temp, head.expr_bias, head.expr_pool]
    with torch.no_grad():
        for p in params:
            p.zero_()
    counts = torch.bincount(target, minlength=head.n_classes).float()
    weight = (1.0 / counts.clamp_min(1.0))[target]
    weight = weight / weight.sum()
    opt = torch.optim.LBFGS(params, max_iter=max_iter, line_search_fn="strong_wolfe")

    def loss_fn() -> torch.Tensor:
        opt.zero_grad()
        ce = torch.nn.functional.cross_entropy(head.logits(feats), target, reduction="none")
        prior = (head.expr_pool**2).sum() + (head.expr_bias**2).sum() + head.expr_log_temp**2
        loss = (weight * ce).sum() + lam * prior
        loss.backward()
        return loss

    opt.step(loss_fn)


def calibration_error(mean: np.ndarray, labels: np.ndarray, coords: dict[str, tuple[float, float]]) -> float:
    """Mean distance of each expression's mean reading from its coordinates (expressions present in ``labels``)."""
    d = [np.linalg.norm(mean[labels == e].mean(0) - np.asarray(c)) for e, c in coords.items() if (labels == e).any()]
    return float(np.mean(d)) if d else float("nan")


RANKED = ((0, ("happy",), ("angry", "disgust", "fear", "sad")), (1, ("surprise", "fear", "angry"), ("neutral", "sad")))


def ranking_error(mean: np.ndarray, labels: np.ndarray) -> float:
    """1 - the valence AUC (a smile over the negative expressions) plus 1 - the arousal AUC (the activated
    expressions over the calm ones); a missing group counts 0.5."""
    from sklearn.metrics import roc_auc_score

    err = 0.0
    for dim, high, low in RANKED:
        hi, lo = np.isin(labels, high), np.isin(labels, low)
        keep = hi | lo
        err += 0.5 if hi.sum() == 0 or lo.sum() == 0 else 1.0 - float(roc_auc_score(hi[keep], mean[keep, dim]))
    return err


@torch.no_grad()
def _readings(head: ExpressionVAHead, feats: torch.Tensor, temp: float) -> np.ndarray:
    head.reading_temp.fill_(temp)
    return head.mixture(feats)[0].numpy()


def fit_expression_map(
    head: ExpressionVAHead,
    feats: torch.Tensor,
    labels: list[str],
    groups: np.ndarray,
    settings: ExpressionFitSettings,
) -> dict[str, float]:
    """Fit ``head``'s map in place on ``feats`` ``(N, K + P)`` with expression ``labels`` (canonical names); rows
    whose label the network has no class for are left out. Returns the chosen settings."""
    from emotune.data.expressions import RUSSELL_MEHRABIAN_1977

    classes = tuple(str(c) for c in head.class_names)
    target = class_targets(head, classes, labels)
    keep = target >= 0
    feats, target, groups = feats[keep], target[keep], np.asarray(groups)[keep.numpy()]
    names = np.array([canonical_expression(lab) for lab in labels])[keep.numpy()]
    folds = min(settings.inner_folds, len(set(groups.tolist())))
    scores = {(lam, t): 0.0 for lam in settings.lams for t in settings.reading_temps}
    for tr, va in GroupKFold(folds).split(np.zeros(len(target)), groups=groups):
        for lam in settings.lams:
            _fit_map(head, feats[tr], target[tr], lam, settings.max_iter)
            for t in settings.reading_temps:
                mean = _readings(head, feats[va], t)
                err = calibration_error(mean, names[va], RUSSELL_MEHRABIAN_1977) + ranking_error(mean, names[va])
                scores[(lam, t)] += err / folds
    lam, temp = min(scores, key=lambda k: scores[k])
    _fit_map(head, feats, target, lam, settings.max_iter)
    head.reading_temp.fill_(temp)
    return {"lam": lam, "reading_temp": temp, "inner_score": scores[(lam, temp)], "rows": len(target)}
