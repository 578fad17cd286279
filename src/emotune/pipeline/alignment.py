"""FE -> catalogue scale alignment: where a FindingEmo mood lands among the songs' V-A."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from emotune.utils.errors import check_choice

ALIGNMENTS = ("linear", "quantile")


class Alignment(Protocol):
    """Maps ``(..., 2)`` V-A on the FindingEmo reference to the catalogue's reference."""

    name: str

    def __call__(self, va_ref: np.ndarray) -> np.ndarray:
        """Map ``(..., 2)`` FindingEmo-reference V-A onto the catalogue's reference."""


class LinearAlignment:
    """FindingEmo reference -> catalogue reference: identity (both already on [-1, 1])."""

    name = "linear"

    def __call__(self, va_ref: np.ndarray) -> np.ndarray:
        """The input, as float64."""
        return np.asarray(va_ref, np.float64)


class QuantileAlignment:
    """Match quantiles of the FindingEmo label distribution onto the catalogue's, per dimension.

    A mood at FindingEmo's 30th valence percentile maps to the catalogue's 30th percentile.
    """

    name = "quantile"

    def __init__(self, source_ref: np.ndarray, target_ref: np.ndarray, n_quantiles: int = 101) -> None:
        q = np.linspace(0, 1, n_quantiles)
        jitter = np.random.default_rng(0).uniform(-1e-3, 1e-3, source_ref.shape)  # integer labels: break ties
        self.src = np.quantile(np.asarray(source_ref) + jitter, q, axis=0)
        self.dst = np.quantile(np.asarray(target_ref), q, axis=0)

    def __call__(self, va_ref: np.ndarray) -> np.ndarray:
        """Each dimension through its quantile map (monotone, piecewise linear)."""
        va = np.atleast_2d(np.asarray(va_ref, np.float64))
        out = np.stack([np.interp(va[:, d], self.src[:, d], self.dst[:, d]) for d in range(2)], 1)
        return out.reshape(np.shape(va_ref))


def findingemo_label_ref(annotations: str | None = None) -> np.ndarray:
    """FindingEmo labels on the reference scale (the packaged annotation file by default)."""
    from emotune.data.findingemo import read_annotations
    from emotune.utils.scales import FINDINGEMO

    df = read_annotations(annotations)
    return FINDINGEMO.to_ref(df[["valence", "arousal"]].to_numpy(np.float64))


def build_alignment(kind: str, catalog_ref: np.ndarray, source_labels: str | None = None) -> Alignment:
    """``linear`` or ``quantile`` (FindingEmo label quantiles from ``source_labels`` onto the catalogue's)."""
    check_choice("matcher.alignment", kind, ALIGNMENTS)
    if kind == "quantile":
        return QuantileAlignment(findingemo_label_ref(source_labels), catalog_ref)
    return LinearAlignment()
