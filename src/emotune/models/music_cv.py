"""Choose and honestly score a music head by cross-validation grouped by artist (a song's artist is never on both
sides of a split), on quadrant-labelled songs (the 4Q set: only the signs of V and A are known).

* :func:`select`: every :class:`~emotune.models.music_fit.Candidate` scored by the mean of its valence and arousal
  AUC over out-of-fold predictions (``StratifiedGroupKFold``: quadrants balanced, artists grouped); the best one.
* :func:`nested`: the whole recipe (selection inside, then the chosen head fitted and its σ calibrated on the
  outer training part) scored on outer folds it never saw: the honest estimate. Nothing reported is chosen on.
* :func:`fit_final`: the recipe on all songs (what gets packaged).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold

from emotune.models.music_fit import Candidate, FitSettings, calibrate, fit_head, predict_vectors
from emotune.models.music_module import MusicLitModule

log = logging.getLogger(__name__)
POSITIVE = {"valence": ("Q1", "Q4"), "arousal": ("Q1", "Q2")}


@dataclass(frozen=True)
class Songs:
    """Song vectors with their quadrant and artist group.

    Args:
        x: ``(N, width)`` song vectors (``n_descriptors`` descriptors, then musicnn's embedding).
        quadrant: ``Q1``..``Q4`` per song.
        groups: the artist key per song (songs of one artist never straddle a split).
        n_descriptors: how many leading columns are descriptors.
    """

    x: np.ndarray
    quadrant: np.ndarray
    groups: np.ndarray
    n_descriptors: int

    def subset(self, idx: np.ndarray) -> Songs:
        """The songs at ``idx``."""
        return Songs(self.x[idx], self.quadrant[idx], self.groups[idx], self.n_descriptors)

    @property
    def targets(self) -> np.ndarray:
        """``(N, 2)``: ±0.5 by the quadrant's signs (as the 4Q data module trains)."""
        return np.stack([np.where(np.isin(self.quadrant, POSITIVE[d]), 0.5, -0.5) for d in POSITIVE], 1)


def aucs(mean: np.ndarray, quadrant: np.ndarray) -> dict[str, float]:
    """Valence and arousal AUC of predicted means ``(N, 2)`` against the quadrants."""
    return {d: float(roc_auc_score(np.isin(quadrant, POSITIVE[d]), mean[:, k])) for k, d in enumerate(POSITIVE)}


def folds(songs: Songs, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` (train, test) index splits, quadrant-stratified, artist-grouped, shuffled by ``seed``."""
    split = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    return list(split.split(songs.x, songs.quadrant, songs.groups))


def out_of_fold(
    model: dict[str, Any], cand: Candidate, songs: Songs, k: int, seed: int, fit: FitSettings
) -> tuple[np.ndarray, np.ndarray]:
    """Raw out-of-fold means and variances ``(N, 2)`` of ``cand`` (each song predicted by a head that never saw
    its artist)."""
    mean, var = np.zeros((len(songs.x), 2)), np.zeros((len(songs.x), 2))
    for train, test in folds(songs, k, seed):
        part = songs.subset(train)
        head = fit_head(model, cand, part.x, part.targets, songs.n_descriptors, fit)
        mean[test], var[test] = predict_vectors(head, songs.x[test], calibrated=False)
    return mean, var


def select(
    model: dict[str, Any], candidates: list[Candidate], songs: Songs, k: int, seed: int, fit: FitSettings
) -> tuple[Candidate, dict[str, dict[str, float]], tuple[np.ndarray, np.ndarray]]:
    """The candidate with the best mean AUC over ``k``-fold out-of-fold predictions on ``songs``; every
    candidate's AUCs; the winner's out-of-fold (mean, raw variance), which its σ calibration is fitted on."""
    scores: dict[str, dict[str, float]] = {}
    best: tuple[float, Candidate, tuple[np.ndarray, np.ndarray]] | None = None
    for cand in candidates:
        oof = out_of_fold(model, cand, songs, k, seed, fit)
        s = aucs(oof[0], songs.quadrant)
        scores[cand.name] = s
        score = float(np.mean(list(s.values())))
        log.info("candidate %s: valence AUC %.3f, arousal AUC %.3f", cand.name, s["valence"], s["arousal"])
        if best is None or score > best[0]:
            best = (score, cand, oof)
    assert best is not None  # candidates is not empty (the config's grid)
    return best[1], scores, best[2]


def fit_final(
    model: dict[str, Any], candidates: list[Candidate], songs: Songs, k: int, seed: int, fit: FitSettings
) -> tuple[MusicLitModule, Candidate, dict[str, dict[str, float]]]:
    """Select on ``songs``, fit the winner on all of them and calibrate its σ on its out-of-fold predictions."""
    cand, scores, (mean, var) = select(model, candidates, songs, k, seed, fit)
    module = fit_head(model, cand, songs.x, songs.targets, songs.n_descriptors, fit)
    calibrate(module, mean, var, songs.targets)
    return module, cand, scores


def nested(
    model: dict[str, Any],
    candidates: list[Candidate],
    songs: Songs,
    outer: int,
    inner: int,
    seed: int,
    fit: FitSettings,
) -> dict[str, Any]:
    """The recipe of :func:`fit_final` scored on ``outer`` artist-grouped folds it never saw: calibrated
    out-of-fold means and variances ``(N, 2)`` of every song, and the candidate each outer fold chose."""
    mean, var = np.zeros((len(songs.x), 2)), np.zeros((len(songs.x), 2))
    chosen: list[str] = []
    for i, (train, test) in enumerate(folds(songs, outer, seed)):
        module, cand, _ = fit_final(model, candidates, songs.subset(train), inner, seed + 1 + i, fit)
        mean[test], var[test] = predict_vectors(module, songs.x[test])
        chosen.append(cand.name)
        log.info("outer fold %d/%d: chose %s", i + 1, outer, cand.name)
    return {"mean": mean, "var": var, "chosen": chosen, "aucs": aucs(mean, songs.quadrant)}
