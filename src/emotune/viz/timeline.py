"""The inference figure: V and A over time (raw, stabilized, songs) and the V-A plane."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from emotune.utils.scales import FINDINGEMO
from emotune.viz.save import save_figure


def timeline_figure(
    tl: pd.DataFrame, songs: list[dict], catalog: Any, matcher: Any, path: Path, gt_csv: Path | None = None
) -> Path:
    """Write the figure to ``path`` (PNG)."""
    fig = Figure(figsize=(13, 6.5))
    gs = fig.add_gridspec(2, 2, width_ratios=[2.2, 1])
    cmap = colormaps["tab10"]
    gt = pd.read_csv(gt_csv) if gt_csv is not None else None
    for r, dim in enumerate(("valence", "arousal")):
        ax = fig.add_subplot(gs[r, 0])
        ax.plot(tl["t_s"], tl[f"fused_{dim}"], ".", ms=3, alpha=0.35, color="grey", label="per-frame (fused)")
        ax.plot(tl["t_s"], tl[f"stab_{dim}"], lw=2, color="black", label="stabilized")
        if gt is not None:
            ref = FINDINGEMO.to_ref(gt[["valence", "arousal"]].to_numpy())[:, r]
            ax.plot(gt["t_s"], ref, lw=1.2, ls="--", color="tab:green", label="ground truth")
        for s in songs:
            song_ref = catalog.scale.to_ref(np.array([s["valence"], s["arousal"]]))[r]
            ax.hlines(song_ref, s["start_s"], s["end_s"], colors=[cmap(s["station"] % 10)], lw=5, alpha=0.75)
        noface = tl["face_found"].to_numpy() == 0
        if noface.any():
            ax.fill_between(
                tl["t_s"],
                -1,
                1,
                where=noface,
                color="orange",
                alpha=0.12,
                step="mid",
                label="no face (scene only)",
            )
        ax.set(ylim=(-1.1, 1.1), ylabel=f"{dim} (ref. -1..1)")
        if r == 0:
            ax.legend(loc="upper right", fontsize=8, ncol=2)
            ax.set_title("Mood over time; coloured bars = songs (colour = station)")
        else:
            ax.set_xlabel("time (s)")
    ax = fig.add_subplot(gs[:, 1])
    pts = catalog.va_ref
    ax.scatter(pts[:, 0], pts[:, 1], s=4, c=[cmap(s % 10) for s in matcher.stations.song_station], alpha=0.25)
    ax.plot(tl["stab_valence"], tl["stab_arousal"], color="black", lw=1.5, label="stabilized mood")
    chosen = np.array([catalog.scale.to_ref(np.array([s["valence"], s["arousal"]])) for s in songs])
    if len(chosen):
        ax.scatter(
            chosen[:, 0],
            chosen[:, 1],
            s=70,
            marker="*",
            edgecolor="black",
            c="gold",
            zorder=5,
            label="chosen songs",
        )
    ax.set(
        xlim=(-1.05, 1.05),
        ylim=(-1.05, 1.05),
        xlabel="valence",
        ylabel="arousal",
        title=f"V-A plane: {matcher.n_stations} stations, {len(songs)} songs",
    )
    ax.axhline(0, color="grey", lw=0.5)
    ax.axvline(0, color="grey", lw=0.5)
    ax.legend(loc="lower right", fontsize=8)
    return save_figure(fig, path, dpi=100)
