"""Making and writing figures without pyplot: each figure is a :class:`matplotlib.figure.Figure` of its own, so
drawing touches no process-wide state (pyplot's figure list, the backend) and is safe in a server's threads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from emotune.utils.io import atomic_path


def subplots(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float], **kw: Any) -> tuple[Figure, Any]:
    """A new figure and its axes, as ``pyplot.subplots`` gives them (``squeeze``, ``sharex``... pass through)."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **kw)


def bars(ax: Axes, table: Any, colors: list[str] | None = None, horizontal: bool = False, legend: bool = True) -> None:
    """One group of bars per row of ``table`` (a DataFrame), one bar per column, labelled by the index (what
    ``DataFrame.plot.bar`` / ``.barh`` draws, without pyplot)."""
    n, k = table.shape
    width = 0.5 / max(k, 1)
    pos = np.arange(n)
    for j, col in enumerate(table.columns):
        off = pos + (j - (k - 1) / 2) * width
        color = colors[j] if colors else None
        vals = table[col].to_numpy(dtype=float)
        if horizontal:
            ax.barh(off, vals, height=width, color=color, label=str(col))
        else:
            ax.bar(off, vals, width=width, color=color, label=str(col))
    if horizontal:
        ax.set_yticks(pos, [str(i) for i in table.index])
    else:
        ax.set_xticks(pos, [str(i) for i in table.index], rotation=0)
    if legend:
        ax.legend()


def save_figure(fig: Figure, path: str | Path, dpi: int = 110) -> Path:
    """Lay ``fig`` out and write it to ``path`` as PNG (through a temporary file renamed into place)."""
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    return Path(path)
