"""GMM "stations" over a catalogue's V-A: fitting (K by BIC, cached per catalogue), the posterior, the
design's gating (top posterior < threshold -> top-2 stations) and k-NN inside the gated stations."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import KDTree

from emotune.utils.errors import ConfigError, check_range
from emotune.utils.io import atomic_path, file_lock

log = logging.getLogger(__name__)


def fit_gmm(
    va_ref: np.ndarray, n_components: int | None, k_range: tuple[int, int], seed: int, max_points: int = 50_000
) -> GaussianMixture:
    """Fit the GMM on at most ``max_points`` songs (a seeded sample: a 2-D GMM needs no more); with
    ``n_components=None`` choose K by BIC over ``k_range``."""
    if len(va_ref) > max_points:
        va_ref = va_ref[np.random.default_rng(seed).choice(len(va_ref), max_points, replace=False)]
    ks = [n_components] if n_components else list(range(k_range[0], min(k_range[1], len(va_ref) - 1) + 1))
    best, best_bic = None, np.inf
    for k in ks:
        g = GaussianMixture(k, covariance_type="full", random_state=seed, n_init=2, reg_covar=1e-4).fit(va_ref)
        bic = g.bic(va_ref)
        if bic < best_bic:
            best, best_bic = g, bic
    return best


def _gmm_to_npz(g: GaussianMixture, path: Path, meta: dict) -> None:
    with atomic_path(path) as tmp:
        np.savez(
            tmp,
            weights=g.weights_,
            means=g.means_,
            covariances=g.covariances_,
            precisions_cholesky=g.precisions_cholesky_,
            meta=json.dumps(meta),
        )


def _gmm_from_npz(path: Path) -> tuple[GaussianMixture, dict]:
    z = np.load(path, allow_pickle=False)  # plain arrays: no code runs on load
    g = GaussianMixture(len(z["weights"]), covariance_type="full")
    g.weights_, g.means_, g.covariances_ = z["weights"], z["means"], z["covariances"]
    g.precisions_cholesky_ = z["precisions_cholesky"]
    g.precisions_ = np.array([pc @ pc.T for pc in g.precisions_cholesky_])
    g.converged_, g.n_iter_, g.lower_bound_ = True, 0, 0.0
    return g, json.loads(str(z["meta"]))


class StationPosterior:
    """``gmm.predict_proba`` for one point in plain numpy (full covariances): ~10x less overhead per query."""

    def __init__(self, gmm: GaussianMixture) -> None:
        self.means = np.asarray(gmm.means_, np.float64)
        self.prec_chol = np.asarray(gmm.precisions_cholesky_, np.float64)
        d = self.means.shape[1]
        log_det = np.log(np.abs(np.diagonal(self.prec_chol, axis1=1, axis2=2))).sum(1)
        self.log_norm = np.log(gmm.weights_) - 0.5 * d * np.log(2 * np.pi) + log_det

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Posterior over stations for one point ``(2,)``."""
        y = np.einsum("kd,kde->ke", x[None, :] - self.means, self.prec_chol)
        logp = self.log_norm - 0.5 * (y * y).sum(1)
        p = np.exp(logp - logp.max())
        return p / p.sum()


class StationIndex:
    """Nearest songs inside one station: a numpy scan for small stations, scikit-learn's KD-tree for large."""

    def __init__(self, points: np.ndarray, rows: np.ndarray, tree_above: int = 20_000) -> None:
        self.rows, self.points = rows, np.ascontiguousarray(points[rows])
        self.tree = KDTree(self.points) if len(rows) > tree_above else None

    def __len__(self) -> int:
        return len(self.rows)

    def nearest(self, target: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Distances and catalogue rows of the ``k`` nearest songs, nearest first."""
        k = min(k, len(self.rows))
        if self.tree is not None:
            d, i = self.tree.query(target[None], k=k)
            return d[0], self.rows[i[0]]
        diff = self.points - target
        d2 = np.einsum("nd,nd->n", diff, diff)
        idx = np.argpartition(d2, k - 1)[:k] if k < len(d2) else np.arange(len(d2))
        idx = idx[np.argsort(d2[idx])]
        return np.sqrt(d2[idx]), self.rows[idx]


@dataclass(frozen=True, kw_only=True)
class StationSettings:
    """``matcher.stations``: how the catalogue is cut into GMM stations and searched (checked when built).

    Args:
        n_components: stations; ``None`` picks K by BIC over ``k_range``.
        k_range: the BIC search range ``[lo, hi]``.
        posterior_threshold: below it, the top-2 stations are searched (the design's 0.55).
        k: neighbours fetched per station.
        cache_dir: where fitted stations are kept (``None``: fit every time).
        seed: GMM seed.

    Every field is required: ``conf/matcher/gmm.yaml`` (``stations:``) is its one home.
    """

    n_components: int | None
    k_range: tuple[int, int]
    posterior_threshold: float
    k: int
    cache_dir: str | None
    seed: int

    def __post_init__(self) -> None:
        check_range("matcher.stations.posterior_threshold", self.posterior_threshold, 0.0, 1.0)
        object.__setattr__(self, "k", int(check_range("matcher.stations.k", self.k, 1)))
        if self.n_components is not None:
            n = check_range("matcher.stations.n_components", self.n_components, 1)
            object.__setattr__(self, "n_components", int(n))
        lo, hi = (int(check_range("matcher.stations.k_range", v, 1)) for v in self.k_range)
        if lo > hi:
            raise ConfigError(f"matcher.stations.k_range=[{lo}, {hi}] must be [low, high] with low <= high.")
        object.__setattr__(self, "k_range", (lo, hi))
        object.__setattr__(self, "seed", int(check_range("matcher.stations.seed", self.seed, 0)))


class Stations:
    """The catalogue cut into GMM stations, searchable with the design's gating.

    Args:
        points: ``(N, 2)`` songs' V-A on the reference scale.
        fingerprint: identifies the catalogue (the fitted GMM is cached under it).
        settings: :class:`StationSettings`.
    """

    def __init__(self, points: np.ndarray, fingerprint: str, settings: StationSettings) -> None:
        st = settings
        self.points, self.k, self.threshold = points, st.k, float(st.posterior_threshold)
        n_comp = None if st.n_components is None else min(st.n_components, len(points))
        meta = {"catalog": fingerprint, "n_components": n_comp, "k_range": list(st.k_range), "seed": st.seed}
        cache_dir = st.cache_dir
        self.gmm = self._load_or_fit(meta, cache_dir)
        self.song_station = self.gmm.predict(points)
        self.posterior = StationPosterior(self.gmm)
        self._index = {
            s: StationIndex(points, rows)
            for s in range(self.gmm.n_components)
            if len(rows := np.flatnonzero(self.song_station == s))
        }

    def _load_or_fit(self, meta: dict, cache_dir: str | None) -> GaussianMixture:
        def fit() -> GaussianMixture:
            return fit_gmm(self.points, meta["n_components"], tuple(meta["k_range"]), meta["seed"])

        if not cache_dir:
            return fit()
        key = hashlib.sha1(json.dumps(meta, sort_keys=True).encode()).hexdigest()[:16]
        path = Path(cache_dir) / f"stations_{key}.npz"
        with file_lock(path):
            if path.is_file():
                try:
                    g, saved = _gmm_from_npz(path)
                    if saved == meta:
                        return g
                except (ValueError, KeyError, OSError):
                    log.warning("Station cache %s unreadable; refitting.", path)
            g = fit()
            _gmm_to_npz(g, path, meta)
            log.info("Fitted %d GMM stations on %d songs (cached in %s)", g.n_components, len(self.points), path)
        return g

    def __len__(self) -> int:
        return int(self.gmm.n_components)

    def gate(self, target: np.ndarray) -> tuple[list[int], np.ndarray]:
        """The station(s) to search: the top one, or the top two when its posterior < threshold."""
        post = self.posterior(np.asarray(target, np.float64))
        order = np.argsort(post)[::-1]
        chosen = [int(order[0])] if post[order[0]] >= self.threshold else [int(o) for o in order[:2]]
        return [s for s in chosen if s in self._index] or list(self._index), post

    def candidates(
        self, target: np.ndarray, allowed: Callable[[int], bool], radius: float, station_set: list[int], limit: int
    ) -> tuple[list[int], list[float]]:
        """The allowed songs of ``station_set`` within ``radius`` of ``target``, nearest first (at most ``limit``):
        :meth:`query`'s answer and those nearly as close, for a listener's preferences to choose among."""
        rows: list[int] = []
        dists: list[float] = []
        for s in station_set:
            index = self._index[s]
            k = self.k
            while True:
                d, r = index.nearest(target, k)
                if len(r) == len(index) or d[-1] > radius or k >= 8 * limit:
                    break
                k *= 4
            keep = d <= radius + 1e-12
            rows += [int(x) for x in r[keep]]
            dists += [float(x) for x in d[keep]]
        order = sorted(range(len(rows)), key=lambda i: dists[i])  # stable: the station order breaks ties, as query
        picked = [i for i in order if allowed(rows[i])][:limit]
        return [rows[i] for i in picked], [dists[i] for i in picked]

    def query(self, target: np.ndarray, allowed: Callable[[int], bool]) -> tuple[int, float, list[int]] | None:
        """Nearest allowed song to ``target`` in the gated stations: ``(row, distance, stations searched)``.

        Widens the search (more neighbours, then every station) when no candidate is allowed; ``None``
        when no song in the catalogue is.
        """
        gated, _ = self.gate(target)
        for station_set in (gated, list(self._index)):
            k = self.k
            while True:
                best, exhausted = None, True
                for s in station_set:
                    index = self._index[s]
                    exhausted &= min(k, len(index)) == len(index)
                    dist, rows = index.nearest(target, k)
                    for d, r in zip(dist, rows):
                        if allowed(int(r)):
                            if best is None or d < best[1]:
                                best = (int(r), float(d), station_set)
                            break
                if best is not None:
                    return best
                if exhausted:
                    break
                k *= 4
        return None
