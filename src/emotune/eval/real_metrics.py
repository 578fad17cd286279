"""Metrics that score V-A predictions against real labels (pure functions of arrays): AUCs between expression
groups for labelled faces, correlations for rated photographs."""

from __future__ import annotations

import numpy as np
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import roc_auc_score

# valence: a smile against the negative expressions; arousal: the activated expressions against the calm ones.
VALENCE_GROUPS = (("happy",), ("angry", "disgust", "fear", "sad"))
AROUSAL_GROUPS = (("surprise", "fear", "angry"), ("neutral", "sad"))


def group_auc(score: np.ndarray, expression: np.ndarray, groups: tuple[tuple[str, ...], tuple[str, ...]]) -> float:
    """How often a face of the first group scores higher than one of the second (ROC AUC; NaN if a group is empty)."""
    hi, lo = np.isin(expression, groups[0]), np.isin(expression, groups[1])
    keep = (hi | lo) & np.isfinite(score)
    if hi[keep].sum() == 0 or lo[keep].sum() == 0:
        return float("nan")
    return float(roc_auc_score(hi[keep], score[keep]))


def face_metrics(va: np.ndarray, expression: np.ndarray) -> dict[str, float]:
    """Valence and arousal AUC of ``(n, 2)`` predictions (NaN rows: no face) and the mean V-A per expression."""
    out = {
        "valence_auc": group_auc(va[:, 0], expression, VALENCE_GROUPS),
        "arousal_auc": group_auc(va[:, 1], expression, AROUSAL_GROUPS),
        "n": float(np.isfinite(va[:, 0]).sum()),
    }
    for e in sorted(set(expression)):
        rows = (expression == e) & np.isfinite(va[:, 0])
        if rows.any():
            out[f"{e}_valence"], out[f"{e}_arousal"] = (float(x) for x in va[rows].mean(0))
    return out


def ccc(x: np.ndarray, y: np.ndarray) -> float:
    """Lin's concordance correlation coefficient."""
    mx, my = x.mean(), y.mean()
    cov = ((x - mx) * (y - my)).mean()
    return float(2 * cov / (x.var() + y.var() + (mx - my) ** 2 + 1e-12))


def rating_metrics(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """Pearson, Spearman and CCC per dimension of ``(n, 2)`` predictions against ratings (reference scale)."""
    out: dict[str, float] = {"n": float(len(target))}
    for i, d in enumerate(("valence", "arousal")):
        p, t = pred[:, i], target[:, i]
        const = len(t) < 3 or float(np.std(p)) < 1e-9
        out[f"{d}_pearson"] = 0.0 if const else float(pearsonr(p, t)[0])
        out[f"{d}_spearman"] = 0.0 if const else float(spearmanr(p, t)[0])
        out[f"{d}_ccc"] = 0.0 if const else ccc(p, t)
    return out


def error_signals(va: dict[str, np.ndarray], expression: np.ndarray) -> dict[str, float]:
    """Spearman correlation of the face path's error (the distance of its V-A from the labelled expression's published
    coordinates) with what could flag it: the path's own σ, the head's roll and turn (|roll|, |yaw| from the
    detector's keypoints) and the face's size (smaller faces: positive when small faces are the wrong ones)."""
    from scipy.stats import spearmanr

    from emotune.data.expressions import RUSSELL_MEHRABIAN_1977, canonical_expression

    coords = np.array([RUSSELL_MEHRABIAN_1977.get(canonical_expression(e), (np.nan, np.nan)) for e in expression])
    err = np.linalg.norm(va["face"] - coords, axis=1)
    roll, yaw, size = (va["pose"][:, k] for k in range(3))
    signals = {"sigma": va["face_sd"].mean(1), "abs_roll": np.abs(roll), "abs_yaw": np.abs(yaw), "small": -size}
    out = {}
    for name, x in signals.items():
        ok = np.isfinite(err) & np.isfinite(x)
        out[name] = float(spearmanr(x[ok], err[ok]).statistic) if ok.sum() > 10 else float("nan")
    return out
