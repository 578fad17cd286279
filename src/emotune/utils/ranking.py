"""Ranking metrics on binary labels: ROC AUC by the rank-sum formula, with a seeded bootstrap interval."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata


def auc_rows(y: np.ndarray, s: np.ndarray) -> np.ndarray:
    """ROC AUC of each row of ``s`` (``(B, n)``) against labels ``y`` (``(B, n)``, 0/1), by the rank-sum (Mann-
    Whitney) formula with tied scores averaged; NaN for rows with one class only."""
    ranks = rankdata(s, axis=1)
    n1 = y.sum(1)
    n0 = y.shape[1] - n1
    with np.errstate(invalid="ignore", divide="ignore"):
        return ((ranks * y).sum(1) - n1 * (n1 + 1) / 2) / (n1 * n0)


def auc_ci(y: np.ndarray, s: np.ndarray, n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """AUC and a seeded bootstrap 95 % interval (NaN when a class is missing)."""
    y, s = np.asarray(y, float), np.asarray(s, float)
    if len(np.unique(y)) < 2:
        return (np.nan, np.nan, np.nan)
    idx = np.random.default_rng(seed).integers(0, len(y), (n_boot, len(y)))
    boots = auc_rows(y[idx], s[idx])
    boots = boots[np.isfinite(boots)]
    return float(auc_rows(y[None], s[None])[0]), float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))
