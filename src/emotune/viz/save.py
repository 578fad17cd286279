"""Writing a finished figure: laid out, saved atomically (no half-written image), closed."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from emotune.utils.io import atomic_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def save_figure(fig: Figure, path: str | Path, dpi: int = 110) -> Path:
    """Lay ``fig`` out, write it to ``path`` as PNG (through a temporary file renamed into place) and close it."""
    import matplotlib.pyplot as plt  # the caller chose the backend

    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)
    return Path(path)
