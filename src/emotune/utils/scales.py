"""Valence-arousal scales and the linear maps between them.

The shared reference is [-1, 1] on both axes:

* FindingEmo: valence -3..3, arousal 0..6  ->  v/3, (a-3)/3
* DEAM static (and most song catalogues): 1..9  ->  (x-5)/4
* DEAM dynamic: already -1..1
* OASIS: 1..7 (means of about 100 raters)  ->  (x-4)/3
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class VAScale:
    """A closed interval per axis; ``to_ref``/``from_ref`` map it linearly onto [-1, 1]."""

    name: str
    valence: tuple[float, float]
    arousal: tuple[float, float]

    def to_ref(self, va: np.ndarray) -> np.ndarray:
        """Map ``(..., 2)`` values on this scale to the [-1, 1] reference."""
        va = np.asarray(va, dtype=np.float64)
        lo = np.array([self.valence[0], self.arousal[0]])
        hi = np.array([self.valence[1], self.arousal[1]])
        return 2.0 * (va - lo) / (hi - lo) - 1.0

    def from_ref(self, ref: np.ndarray) -> np.ndarray:
        """Map ``(..., 2)`` reference values back to this scale."""
        ref = np.asarray(ref, dtype=np.float64)
        lo = np.array([self.valence[0], self.arousal[0]])
        hi = np.array([self.valence[1], self.arousal[1]])
        return (ref + 1.0) / 2.0 * (hi - lo) + lo

    @property
    def units_per_ref(self) -> np.ndarray:
        """How many of this scale's units one reference unit spans, per axis (FindingEmo: 3, 3)."""
        return np.array([self.valence[1] - self.valence[0], self.arousal[1] - self.arousal[0]]) / 2.0

    def contains(self, va: np.ndarray) -> np.ndarray:
        """Boolean mask of rows inside the scale's box."""
        va = np.asarray(va, dtype=np.float64)
        return (
            (va[..., 0] >= self.valence[0])
            & (va[..., 0] <= self.valence[1])
            & (va[..., 1] >= self.arousal[0])
            & (va[..., 1] <= self.arousal[1])
        )


FINDINGEMO = VAScale("findingemo", (-3.0, 3.0), (0.0, 6.0))
DEAM_STATIC = VAScale("deam_static", (1.0, 9.0), (1.0, 9.0))
REFERENCE = VAScale("reference", (-1.0, 1.0), (-1.0, 1.0))
OASIS = VAScale("oasis", (1.0, 7.0), (1.0, 7.0))

SCALES: dict[str, VAScale] = {s.name: s for s in (FINDINGEMO, DEAM_STATIC, REFERENCE, OASIS)}
# Friendly aliases used in configs and CSV headers.
SCALES.update({"fe": FINDINGEMO, "1-9": DEAM_STATIC, "deam": DEAM_STATIC, "ref": REFERENCE, "-1..1": REFERENCE})


def get_scale(name: str) -> VAScale:
    """Look a scale up by name; the error lists the valid names."""
    from emotune.utils.errors import ConfigError

    if name not in SCALES:
        raise ConfigError(f"Unknown V-A scale {name!r}; valid: {', '.join(sorted(SCALES))}.")
    return SCALES[name]
