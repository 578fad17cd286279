"""A Bayesian linear model over sparse binary features with a factorized Gaussian posterior, learned online.

Each feature ``f`` (``song:ID``, ``artist:NAME``, ...) has a weight ``θ_f ~ N(mean_f, var_f)``; an item's utility is
the sum of its features' weights; an observation is the utility plus Gaussian noise (a reward for a like or a skip,
or a measured response). :meth:`FactorModel.update` is the Kalman update of that linear model with the posterior kept
diagonal (assumed-density filtering, one pass, constant cost per event: as AdPredictor, Graepel et al. ICML 2010, does
for a probit link), so the weights of an item's features share what its observation did not already predict.

:meth:`FactorModel.sample` draws one posterior sample of an item's utility for Thompson sampling (Chapelle & Li,
NeurIPS 2011), from the features that have evidence only: a feature never observed contributes its prior mean, 0, so
with no evidence at all every item scores 0 and the caller's own order decides (a new listener hears today's choice).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np


class FactorModel:
    """Factorized Gaussian weights over string features.

    Args:
        prior_var: a feature's prior variance (by its kind, the text before the first ``:``).
        min_var: a floor on any posterior variance, so a much-seen feature can still move.
    """

    def __init__(self, prior_var: Callable[[str], float], min_var: float = 1e-4) -> None:
        self.prior_var, self.min_var = prior_var, min_var
        self.mean: dict[str, float] = {}
        self.var: dict[str, float] = {}
        self.n: dict[str, float] = {}
        self.touched: set[str] = set()

    def __len__(self) -> int:
        return len(self.n)

    def _get(self, f: str) -> tuple[float, float]:
        return self.mean.get(f, 0.0), self.var.get(f) or self.prior_var(f)

    def has_evidence(self, features: Iterable[str] | None = None) -> bool:
        """Whether any of ``features`` (any feature at all, with ``None``) was ever observed."""
        if features is None:
            return bool(self.n)
        return any(f in self.n for f in features)

    def update(self, features: Sequence[str], r: float, noise: float) -> None:
        """Observe a measured value ``r`` of an item (utility plus Gaussian noise of s.d. ``noise``)."""
        params = [self._get(f) for f in features]
        total = noise * noise + sum(v for _, v in params)
        err = r - sum(m for m, _ in params)
        for f, (m, var) in zip(features, params):
            self._set(f, m + var / total * err, var - var * var / total)

    def _set(self, f: str, mean: float, var: float) -> None:
        self.mean[f], self.var[f] = mean, max(var, self.min_var)
        self.n[f] = self.n.get(f, 0.0) + 1.0
        self.touched.add(f)

    def expected(self, features: Iterable[str]) -> float:
        """The posterior mean of an item's utility."""
        return sum(self.mean.get(f, 0.0) for f in features)

    def sample(
        self, features: Iterable[str], rng: np.random.Generator, draws: dict[str, float], scale: float = 1.0
    ) -> float:
        """One posterior sample of an item's utility from its observed features (the posterior's s.d. times ``scale``:
        1 is plain Thompson sampling); ``draws`` keeps each feature's draw, so items that share a feature (an artist)
        see the same sample within one decision."""
        total = 0.0
        for f in features:
            if f not in self.n:
                continue
            if f not in draws:
                draws[f] = self.mean[f] + scale * math.sqrt(self.var[f]) * float(rng.standard_normal())
            total += draws[f]
        return total

    def rows(self, features: Iterable[str] | None = None) -> list[tuple[str, float, float, float]]:
        """``(feature, mean, var, n)`` for ``features`` (all with ``None``)."""
        keys = self.n if features is None else [f for f in features if f in self.n]
        return [(f, self.mean[f], self.var[f], self.n[f]) for f in keys]

    def load(self, rows: Iterable[tuple[str, float, float, float]]) -> FactorModel:
        """Put stored ``(feature, mean, var, n)`` rows in (nothing is marked touched)."""
        for f, m, v, n in rows:
            self.mean[f], self.var[f], self.n[f] = float(m), float(v), float(n)
        return self
