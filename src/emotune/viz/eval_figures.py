"""Figures for the evaluation report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from emotune.synthetic.truth import truth_at
from emotune.utils.scales import get_scale
from emotune.viz.save import bars, save_figure, subplots

COLORS = {
    "none": "tab:grey",
    "ema": "tab:blue",
    "kalman": "tab:orange",
    "validate": "tab:blue",
    "guide": "tab:green",
}


def stabilizer_figure(timelines: dict[str, pd.DataFrame], gt: pd.DataFrame, path: Path, title: str) -> Path:
    """V and A over time: truth, per-frame estimate, and each stabilizer; no-face stretches shaded."""
    fig, axes = subplots(2, 1, figsize=(12, 6), sharex=True)
    any_tl = next(iter(timelines.values()))
    t = any_tl["t_s"].to_numpy()
    truth = truth_at(gt, t)
    no_face = any_tl["face_found"].to_numpy() == 0
    for d, (ax, dim) in enumerate(zip(axes, ("valence", "arousal"))):
        ax.plot(t, any_tl[f"fused_{dim}"], ".", ms=3, color="lightgrey", label="per-frame (fused)")
        ax.plot(t, truth[:, d], "--", color="black", lw=1.5, label="ground truth")
        for name, tl in timelines.items():
            ax.plot(tl["t_s"], tl[f"stab_{dim}"], color=COLORS.get(name), lw=1.6, label=name)
        ax.fill_between(t, -1.05, 1.05, where=no_face, color="red", alpha=0.08, step="mid", label="no face found")
        ax.set_ylim(-1.05, 1.05)
        ax.set_ylabel(f"{dim} (ref)")
    axes[0].set_title(title)
    axes[0].legend(loc="upper right", ncol=3, fontsize=8)
    axes[1].set_xlabel("time (s)")
    return save_figure(fig, path)


def stabilizer_bars(df: pd.DataFrame, path: Path) -> Path:
    """Jitter and lag per scenario and stabilizer."""
    fig, axes = subplots(1, 3, figsize=(13, 3.6))
    for ax, col, label in zip(
        axes,
        ("jitter", "lag63_s", "pearson_valence"),
        (
            "steady-state jitter (ref units / s)",
            "lag to 63 % after a step (s)",
            "Pearson with truth (valence)",
        ),
    ):
        piv = df.pivot(index="scenario", columns="stabilizer", values=col)
        piv = piv[[c for c in ("none", "ema", "kalman") if c in piv.columns]]
        bars(ax, piv, colors=[COLORS[c] for c in piv.columns], legend=ax is axes[0])
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("")
    return save_figure(fig, path)


def guide_figure(runs: dict[tuple[str, str], dict[str, Any]], path: Path) -> Path:
    """Per scenario: the V-A plane with the stabilized mood and the songs each mode picked."""
    names = sorted({n for n, _ in runs})
    fig, axes = subplots(1, len(names), figsize=(5.5 * len(names), 5), squeeze=False)
    for ax, name in zip(axes[0], names):
        for mode in ("validate", "guide"):
            r = runs.get((name, mode))
            if r is None:
                continue
            tl, pl = r["timeline"], r["playlist"]
            scale = get_scale(pl["scale"])
            if mode == "validate":
                ax.plot(
                    tl["stab_valence"],
                    tl["stab_arousal"],
                    color="black",
                    lw=1,
                    alpha=0.6,
                    label="stabilized mood",
                )
            songs = scale.to_ref(np.array([[s["valence"], s["arousal"]] for s in pl["songs"]]))
            ax.plot(
                songs[:, 0],
                songs[:, 1],
                "o-",
                color=COLORS[mode],
                ms=6,
                lw=0.8,
                alpha=0.8,
                label=f"{mode}: songs in order",
            )
            ax.annotate("1", songs[0], fontsize=8, color=COLORS[mode])
        ax.axhline(0, color="grey", lw=0.5)
        ax.axvline(0, color="grey", lw=0.5)
        ax.set_xlim(-1, 1)
        ax.set_ylim(-1, 1)
        ax.set_xlabel("valence (ref)")
        ax.set_ylabel("arousal (ref)")
        ax.set_title(name)
        ax.legend(fontsize=8, loc="lower right")
    return save_figure(fig, path)


def phase_bars(phases: pd.DataFrame, path: Path) -> Path:
    """CCC and sigma-error Spearman per path on each test split (valence and arousal side by side)."""
    splits = list(dict.fromkeys(phases["split"]))
    fig, axes = subplots(2, len(splits), figsize=(4.2 * len(splits), 6.5), squeeze=False, sharey="row")
    for c, split in enumerate(splits):
        sub = phases[phases["split"] == split].set_index("path")
        for r, (metric, label) in enumerate((("ccc", "CCC"), ("sigma_err_spearman", "Spearman(sigma, |error|)"))):
            ax = axes[r, c]
            table = sub[[f"v_{metric}", f"a_{metric}"]].rename(
                columns={f"v_{metric}": "valence", f"a_{metric}": "arousal"}
            )
            bars(ax, table, horizontal=True, legend=(r == 0 and c == 0))
            ax.axvline(0, color="black", lw=0.5)
            ax.set_title(f"{split}: {label}", fontsize=9)
            ax.set_ylabel("")
    return save_figure(fig, path)
