"""Figures people would rather look at than read."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from emotune.utils.io import atomic_path


def va_scatter(preds: dict[str, tuple[np.ndarray, np.ndarray]], path: str | Path, title: str = "") -> Path:
    """Predicted vs true valence and arousal (FindingEmo units), one row per split."""
    fig, axes = plt.subplots(len(preds), 2, figsize=(8, 3.6 * len(preds)), squeeze=False)
    for r, (split, (pred, true)) in enumerate(preds.items()):
        for c, (dim, scale, off) in enumerate((("valence", 3, 0), ("arousal", 3, 3))):
            ax = axes[r, c]
            p, t = pred[:, c] * scale + off, true[:, c] * scale + off
            jitter = np.random.default_rng(0).normal(0, 0.08, len(t))
            ax.scatter(t + jitter, p, s=6, alpha=0.4)
            lo, hi = (-3, 3) if dim == "valence" else (0, 6)
            ax.plot([lo, hi], [lo, hi], "k--", lw=1)
            ax.set(
                xlim=(lo - 0.5, hi + 0.5),
                ylim=(lo - 1, hi + 1),
                xlabel=f"true {dim}",
                ylabel=f"predicted {dim}",
                title=f"{split}: {dim}",
            )
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return Path(path)
