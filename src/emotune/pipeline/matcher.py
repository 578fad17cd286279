"""MATCH: from a stabilized mood to songs.

FE->catalogue scale alignment, GMM "stations" over the catalogue's V-A (K by BIC, cached per
catalogue), station gating (top posterior < 0.55 -> top-2 stations), k-NN inside the chosen
stations, a minimum dwell per song, a recent-song memory, and two modes: ``validate`` (match the
mood) and ``guide`` (move the target toward a calmer / more energetic goal in bounded steps).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import KDTree

from emotune.data.catalog import Catalog
from emotune.utils.errors import ConfigError, check_choice, check_range
from emotune.utils.io import atomic_path, file_lock

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------ alignment
class LinearAlignment:
    """FindingEmo reference -> catalogue reference: identity (both already on [-1, 1])."""

    name = "linear"

    def __call__(self, va_ref: np.ndarray) -> np.ndarray:
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
        va = np.atleast_2d(np.asarray(va_ref, np.float64))
        out = np.stack([np.interp(va[:, d], self.src[:, d], self.dst[:, d]) for d in range(2)], 1)
        return out.reshape(np.shape(va_ref))


def findingemo_label_ref(annotations: str | None = None) -> np.ndarray:
    """FindingEmo labels on the reference scale (the packaged annotation file by default)."""
    from emotune.data.findingemo import read_annotations
    from emotune.data.scales import FINDINGEMO

    df = read_annotations(annotations)
    return FINDINGEMO.to_ref(df[["valence", "arousal"]].to_numpy(np.float64))


# ------------------------------------------------------------------------------------------ stations
def fit_stations(
    va_ref: np.ndarray, n_components: int | None, k_range: tuple[int, int], seed: int
) -> GaussianMixture:
    """Fit the GMM; with ``n_components=None`` choose K by BIC over ``k_range``."""
    ks = [n_components] if n_components else list(range(k_range[0], min(k_range[1], len(va_ref) - 1) + 1))
    best, best_bic = None, np.inf
    for k in ks:
        g = GaussianMixture(k, covariance_type="full", random_state=seed, n_init=2, reg_covar=1e-4).fit(
            va_ref
        )
        bic = g.bic(va_ref)
        if bic < best_bic:
            best, best_bic = g, bic
    return best


def fit_stations_subsampled(
    va_ref: np.ndarray,
    n_components: int | None,
    k_range: tuple[int, int],
    seed: int,
    max_points: int = 50_000,
) -> GaussianMixture:
    """:func:`fit_stations` on at most ``max_points`` songs (a seeded sample): a 2-D GMM needs no more."""
    if len(va_ref) > max_points:
        va_ref = va_ref[np.random.default_rng(seed).choice(len(va_ref), max_points, replace=False)]
    return fit_stations(va_ref, n_components, k_range, seed)


class StationPosterior:
    """``gmm.predict_proba`` for one point in plain numpy (full covariances): ~10x less overhead per query."""

    def __init__(self, gmm: GaussianMixture) -> None:
        self.means = np.asarray(gmm.means_, np.float64)
        self.prec_chol = np.asarray(gmm.precisions_cholesky_, np.float64)
        d = self.means.shape[1]
        log_det = np.log(np.abs(np.diagonal(self.prec_chol, axis1=1, axis2=2))).sum(1)
        self.log_norm = np.log(gmm.weights_) - 0.5 * d * np.log(2 * np.pi) + log_det

    def __call__(self, x: np.ndarray) -> np.ndarray:
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


# ------------------------------------------------------------------------------------------ matcher
@dataclass
class Play:
    """One song in the playlist."""

    song_id: str
    start_s: float
    end_s: float | None
    station: int
    target: np.ndarray  # catalogue reference V-A the song was chosen for
    distance: float
    row: int = field(repr=False, default=-1)


class SongMatcher:
    """GMM-gated k-NN song retrieval with dwell and memory (Hydra-built; ``reset()`` per video).

    Args:
        catalog: the songs (any scale; matching happens on the reference scale).
        n_components: stations; ``None`` picks K by BIC over ``k_range``.
        posterior_threshold: below it, the top-2 stations are searched.
        k: neighbours fetched per station.
        min_dwell_s: a song plays at least this long (unless the video or the song ends first).
        memory: no song repeats within the last ``memory`` songs.
        mode: ``validate`` or ``guide``.
        guide_step: largest move of the target per song in guide mode (reference units).
        calm_goal / energise_goal: guide targets for distressed (a>0, v<0) and low (v<0, a<=0) moods.
        switch_margin: after the dwell, switch only if a song is this much closer (reference units).
        settle_s / settle_radius: after the dwell, switch only once the mood has stayed within ``settle_radius``
            for ``settle_s`` seconds, so a song is not chosen for a point the mood is only passing through
            (a smoothed track needs a few seconds to finish a step). ``settle_s=0`` switches at once.
        alignment: ``linear`` or ``quantile`` (needs ``source_labels``).
        cache_dir: where fitted stations are kept (per catalogue fingerprint and settings).
    """

    def __init__(
        self,
        catalog: Catalog,
        n_components: int | None = None,
        k_range: tuple[int, int] = (2, 10),
        posterior_threshold: float = 0.55,
        k: int = 10,
        min_dwell_s: float = 25.0,
        memory: int = 5,
        mode: str = "validate",
        guide_step: float = 0.25,
        calm_goal: tuple[float, float] = (0.4, -0.4),
        energise_goal: tuple[float, float] = (0.4, 0.3),
        switch_margin: float = 0.15,
        settle_s: float = 2.0,
        settle_radius: float = 0.1,
        alignment: str = "linear",
        source_labels: str | None = None,
        cache_dir: str | None = None,
        seed: int = 0,
    ) -> None:
        check_choice("matcher.mode", mode, ("validate", "guide"))
        check_choice("matcher.alignment", alignment, ("linear", "quantile"))
        check_range("matcher.min_dwell_s", min_dwell_s, 0.0)
        check_range("matcher.posterior_threshold", posterior_threshold, 0.0, 1.0)
        check_range("matcher.guide_step", guide_step, 0.0, 2.0)
        check_range("matcher.switch_margin", switch_margin, 0.0)
        check_range("matcher.settle_s", settle_s, 0.0)
        check_range("matcher.settle_radius", settle_radius, 0.0, None, low_inclusive=False)
        if int(k) < 1:
            raise ConfigError(f"matcher.k={k} must be >= 1.")
        if int(memory) < 0:
            raise ConfigError(f"matcher.memory={memory} must be >= 0.")
        if n_components is not None and int(n_components) < 1:
            raise ConfigError(f"matcher.n_components={n_components} must be >= 1 or null (BIC).")
        if len(catalog) <= int(memory):
            raise ConfigError(
                f"matcher.memory={memory} needs more songs than that, but the catalogue has "
                f"{len(catalog)}; lower matcher.memory below {len(catalog)}."
            )
        self.catalog = catalog
        self.points = catalog.va_ref
        self.min_dwell_s, self.memory, self.k = float(min_dwell_s), int(memory), int(k)
        self.mode, self.guide_step, self.switch_margin = mode, float(guide_step), float(switch_margin)
        self.settle_s, self.settle_radius = float(settle_s), float(settle_radius)
        self.calm_goal, self.energise_goal = np.array(calm_goal, float), np.array(energise_goal, float)
        self.posterior_threshold = float(posterior_threshold)
        if alignment == "quantile":
            self.align = QuantileAlignment(findingemo_label_ref(source_labels), self.points)
        else:
            self.align = LinearAlignment()
        n_comp = None if n_components is None else min(int(n_components), len(catalog))
        self.gmm = self._stations(n_comp, tuple(k_range), seed, cache_dir)
        self.song_station = self.gmm.predict(self.points)
        self.posterior = StationPosterior(self.gmm)
        self._index: dict[int, StationIndex] = {}
        for s in range(self.gmm.n_components):
            rows = np.flatnonzero(self.song_station == s)
            if len(rows):
                self._index[s] = StationIndex(self.points, rows)
        self._ids = catalog.songs["song_id"].astype(str).to_numpy()
        durations = catalog.songs["duration_s"].to_numpy(np.float64)
        self.durations = np.where(np.isfinite(durations) & (durations > 0), durations, np.inf)
        self.reset()

    # -- stations ----------------------------------------------------------------------------
    def _stations(
        self, n_components: int | None, k_range: tuple[int, int], seed: int, cache_dir: str | None
    ) -> GaussianMixture:
        meta = {
            "catalog": self.catalog.fingerprint(),
            "n_components": n_components,
            "k_range": list(k_range),
            "seed": seed,
        }
        if not cache_dir:
            return fit_stations_subsampled(self.points, n_components, k_range, seed)
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
            g = fit_stations_subsampled(self.points, n_components, k_range, seed)
            _gmm_to_npz(g, path, meta)
            log.info(
                "Fitted %d GMM stations on %d songs (cached in %s)", g.n_components, len(self.points), path
            )
        return g

    @property
    def n_stations(self) -> int:
        return int(self.gmm.n_components)

    # -- state ---------------------------------------------------------------------------------
    def reset(self) -> None:
        self.playlist: list[Play] = []
        self._guide_pos: np.ndarray | None = None
        self._anchor: np.ndarray | None = None
        self._anchor_t = 0.0

    def settled(self, t_s: float, state: np.ndarray) -> bool:
        """Whether the mood has stayed within ``settle_radius`` of one point for ``settle_s`` seconds."""
        if self._anchor is None or np.linalg.norm(state - self._anchor) > self.settle_radius:
            self._anchor, self._anchor_t = state.copy(), t_s
        return t_s - self._anchor_t >= self.settle_s

    @property
    def current(self) -> Play | None:
        return self.playlist[-1] if self.playlist else None

    def recent_ids(self) -> list[str]:
        return [p.song_id for p in self.playlist[-self.memory :]] if self.memory else []

    # -- targets -------------------------------------------------------------------------------
    def goal_for(self, state: np.ndarray) -> np.ndarray:
        """Where guide mode steers: calmer for distress, more energy for low mood, else stay."""
        v, a = state
        if v < 0 and a > 0:
            return self.calm_goal
        if v < 0 and a <= 0:
            return self.energise_goal
        return state

    def target_for(self, state: np.ndarray) -> np.ndarray:
        """The catalogue-reference point to search around, for a new song."""
        state = np.clip(np.asarray(state, float), -1, 1)
        if self.mode == "validate":
            return state
        pos = state if self._guide_pos is None else self._guide_pos
        step = self.goal_for(state) - pos
        norm = np.linalg.norm(step)
        if norm > self.guide_step:
            step = step * (self.guide_step / norm)
        return np.clip(pos + step, -1, 1)

    # -- retrieval -----------------------------------------------------------------------------
    def stations_for(self, target: np.ndarray) -> tuple[list[int], np.ndarray]:
        """The station(s) to search: the top one, or the top two when its posterior < threshold."""
        post = self.posterior(np.asarray(target, np.float64))
        order = np.argsort(post)[::-1]
        chosen = (
            [int(order[0])] if post[order[0]] >= self.posterior_threshold else [int(o) for o in order[:2]]
        )
        return [s for s in chosen if s in self._index] or list(self._index), post

    def query(self, target: np.ndarray, exclude: set[str]) -> tuple[int, float, int]:
        """Nearest song to ``target`` within the gated stations, skipping ``exclude``.

        Returns ``(row, distance, station)``. Widens the search (more neighbours, then all
        stations) when every candidate is excluded.
        """
        stations, _ = self.stations_for(target)
        ids = self._ids
        for station_set in (stations, list(self._index)):
            k = self.k
            while True:
                best = None
                exhausted = True
                for s in station_set:
                    index = self._index[s]
                    exhausted &= min(k, len(index)) == len(index)
                    dist, rows = index.nearest(target, k)
                    for d, r in zip(dist, rows):
                        if ids[r] not in exclude and (best is None or d < best[1]):
                            best = (int(r), float(d), s)
                            break
                if best is not None:
                    return best
                if exhausted:
                    break
                k *= 4
        raise ConfigError("No song left to play outside the recent-song memory; lower matcher.memory.")

    # -- per frame ------------------------------------------------------------------------------
    def update(self, t_s: float, state_fe_ref: np.ndarray) -> Play:
        """Advance to time ``t_s`` with the stabilized mood (FindingEmo reference); return the song playing."""
        state = self.align(np.asarray(state_fe_ref, float))
        cur = self.current
        if cur is not None:
            elapsed = t_s - cur.start_s
            duration = self.durations[cur.row]
            if elapsed < min(self.min_dwell_s, duration):
                return cur
            if not self.settled(t_s, state) and elapsed < duration:
                return cur  # the mood is still moving: wait for where it lands
            target = self.target_for(state)
            exclude = set(self.recent_ids()) | {cur.song_id}
            row, dist, station = self.query(target, exclude)
            cur_dist = float(np.linalg.norm(self.points[cur.row] - target))
            if elapsed < duration and dist + self.switch_margin >= cur_dist:
                return cur  # still the right song: keep playing
            cur.end_s = t_s
        else:
            target = self.target_for(state)
            row, dist, station = self.query(target, set(self.recent_ids()))
        if self.mode == "guide":
            self._guide_pos = target
        play = Play(self._ids[row], float(t_s), None, station, target, dist, row)
        self.playlist.append(play)
        return play

    def finish(self, t_end: float) -> list[Play]:
        """Close the last song at the end of the video and return the playlist."""
        if self.current is not None and self.current.end_s is None:
            self.current.end_s = max(t_end, self.current.start_s)
        return self.playlist
