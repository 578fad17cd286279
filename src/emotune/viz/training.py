"""Figures people would rather look at than read."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emotune.utils.scales import FINDINGEMO, VAScale
from emotune.viz.save import save_figure, subplots

Predictions = dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]  # split -> (mean, target, variance)


def va_scatter(preds: Predictions, path: str | Path, title: str = "", scale: VAScale = FINDINGEMO) -> Path:
    """Predicted vs true valence and arousal (on ``scale``; inputs on the reference), one row per split."""
    fig, axes = subplots(len(preds), 2, figsize=(8, 3.6 * len(preds)), squeeze=False)
    for r, (split, (pred, true, _)) in enumerate(preds.items()):
        p_all, t_all = scale.from_ref(pred), scale.from_ref(true)
        for c, dim in enumerate(("valence", "arousal")):
            ax = axes[r, c]
            p, t = p_all[:, c], t_all[:, c]
            jitter = np.random.default_rng(0).normal(0, 0.08, len(t))
            ax.scatter(t + jitter, p, s=6, alpha=0.4)
            lo, hi = getattr(scale, dim)
            ax.plot([lo, hi], [lo, hi], "k--", lw=1)
            ax.set(
                xlim=(lo - 0.5, hi + 0.5),
                ylim=(lo - 1, hi + 1),
                xlabel=f"true {dim}",
                ylabel=f"predicted {dim}",
                title=f"{split}: {dim}",
            )
    fig.suptitle(title)
    return save_figure(fig, path)


def sigma_error_plot(preds: Predictions, path: str | Path, title: str = "", bins: int = 8) -> Path:
    """Does sigma flag errors? |error| against predicted sigma per dimension, with the mean |error| per sigma
    decile and the line a calibrated Gaussian would follow (E|err| = sigma * sqrt(2 / pi))."""
    fig, axes = subplots(len(preds), 2, figsize=(8, 3.4 * len(preds)), squeeze=False)
    for r, (split, (pred, true, var)) in enumerate(preds.items()):
        for c, dim in enumerate(("valence", "arousal")):
            ax = axes[r, c]
            sig, err = np.sqrt(np.clip(var[:, c], 0, None)), np.abs(pred[:, c] - true[:, c])
            ax.scatter(sig, err, s=4, alpha=0.25, color="grey")
            edges = np.unique(np.quantile(sig, np.linspace(0, 1, bins + 1)))
            idx = np.clip(np.searchsorted(edges, sig, side="right") - 1, 0, len(edges) - 2)
            centres = [sig[idx == b].mean() for b in range(len(edges) - 1) if (idx == b).any()]
            means = [err[idx == b].mean() for b in range(len(edges) - 1) if (idx == b).any()]
            ax.plot(centres, means, "o-", color="tab:red", label="mean |error| per sigma bin")
            hi = float(sig.max()) if len(sig) else 1.0
            ax.plot([0, hi], [0, hi * np.sqrt(2 / np.pi)], "k--", lw=1, label="calibrated")
            ax.set(xlabel=f"predicted sigma ({dim}, ref.)", ylabel="|error| (ref.)", title=f"{split}: {dim}")
            ax.legend(fontsize=7)
    fig.suptitle(title)
    return save_figure(fig, path)
