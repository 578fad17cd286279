"""Out-of-fold predictions for labellers that were fitted on the clips being scored.

* the packaged head's recipe (:mod:`emotune.runtime.music_head`, its overrides stored in the sidecar): re-run as
  nested artist-grouped cross-validation, so each clip is predicted by a head whose selection and fit never saw
  the clip's artist (with the same songs in the same order, this reproduces the sidecar's honest estimate);
* the plain baseline: artist-grouped, quadrant-stratified K-fold.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf
from sklearn.model_selection import StratifiedGroupKFold

from emotune.data.fourq import artist_key
from emotune.eval.music_labellers import baseline_fit, baseline_predict, stack
from emotune.models.music_cv import Songs, nested
from emotune.models.music_fit import Candidate, FitSettings, build, vector_layout
from emotune.models.music_module import MusicLitModule
from emotune.runtime.compose import compose_config
from emotune.runtime.music_head import candidates


@dataclass
class Recipe:
    """The packaged head's recipe: its composed settings and the full-input module whose vectors it splits."""

    cfg: DictConfig
    model: dict[str, Any]
    full: MusicLitModule


def recipe_config(overrides: list[str] | None, eval_cfg: DictConfig) -> Recipe:
    """``conf/music_head.yaml`` with the sidecar's overrides (its data and output paths dropped)."""
    keep = [o for o in overrides or [] if o.split("=", 1)[0].lstrip("+~") not in ("data_dir", "out", "cache")]
    cfg = compose_config("music_head", [*keep, "data_dir=unused", *list(eval_cfg.recipe_overrides or [])],
                         Path(str(eval_cfg.out)) / "recipe")  # fmt: skip
    model: dict[str, Any] = OmegaConf.to_container(cfg.model, resolve=True)  # type: ignore[assignment]
    return Recipe(cfg, model, build(model, Candidate("both", None), 0))


def groups_of(songs: pd.DataFrame) -> np.ndarray:
    """Artist keys (a clip without an artist is its own group)."""
    artist = songs["artist"] if "artist" in songs.columns else pd.Series("", index=songs.index)
    keys = artist.fillna("").map(artist_key)
    return np.where(keys == "", "song:" + songs["song_id"], keys)


def recipe_oof(recipe: Recipe, songs: pd.DataFrame, rows: list[np.ndarray | None]) -> np.ndarray:
    """``(N, 2)`` out-of-fold means of the recipe on ``songs`` (NaN where a clip does not decode)."""
    x, ok = stack(rows)
    out = np.full((len(songs), 2), np.nan)
    if ok.sum() < 10:
        return out
    with torch.no_grad():
        vectors = torch.cat([recipe.full.song_vectors(torch.from_numpy(x[i : i + 16])) for i in range(0, len(x), 16)])
    c = recipe.cfg
    data = Songs(
        vectors.numpy(), songs["quadrant"].to_numpy()[ok], groups_of(songs)[ok], vector_layout(recipe.model)[0]
    )
    fit = FitSettings(int(c.fit.epochs), int(c.fit.batch_size), int(c.fit.seed))
    res = nested(recipe.model, candidates(c), data, int(c.cv.outer_folds), int(c.cv.inner_folds), int(c.cv.seed), fit)
    out[ok] = res["mean"]
    return out


def baseline_oof(x: np.ndarray, y: np.ndarray, songs: pd.DataFrame, c: float, cfg: DictConfig) -> np.ndarray:
    """Out-of-fold decision values ``(N, 2)`` of the baseline (``cfg.baseline_folds`` artist-grouped folds, fewer
    when a quadrant has fewer clips; NaN when not even two folds fit)."""
    quadrant = songs["quadrant"].to_numpy()
    k = min(int(cfg.baseline_folds), int(pd.Series(quadrant).value_counts().min()), len(set(groups_of(songs))))
    if k < 2:  # a handful of clips: no fold could hold every quadrant
        return np.full((len(x), 2), np.nan)
    out = np.zeros((len(x), 2))
    split = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=int(cfg.seed))
    for train, test in split.split(x, quadrant, groups_of(songs)):
        out[test] = baseline_predict(baseline_fit(x[train], y[train], c), x[test])
    return out
