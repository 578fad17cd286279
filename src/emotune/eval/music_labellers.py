"""The labellers ``make eval-music`` puts side by side, and how each gets an honest prediction per clip.

* :class:`Checkpoint`: a trained music model (the packaged labeller, today's previous one, the demo's, any
  ``extra`` checkpoint), scored only on clips it was neither fitted nor selected on (its sidecar's or run's ids).
  A packaged head with a recipe (``recipe_overrides`` in its sidecar, written by :mod:`emotune.runtime.music_head`)
  is also scored on the 4Q clips it was fitted on, *out of fold*: the whole recipe (selection included) re-run by
  nested artist-grouped cross-validation, so each such clip is predicted by a head that never saw its artist.
* :class:`Baseline`: the plain baseline of ``ENVIRONMENT.md`` in what this project computes: librosa-like
  descriptors (MFCC, chroma, contrast, loudness, onsets, tempo, harmonic/percussive balance; 30 s at 22.05 kHz)
  and a logistic regression per axis (C = 1, no tuning), out of fold on the 4Q clips (artist-grouped), fitted on
  all of them for the other sets.
* the constant (the training labels' mean, the centre): AUC 0.5, one quadrant.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from emotune.audio.descriptors import DEFAULT_DESCRIPTORS
from emotune.audio.io import decode_excerpt
from emotune.audio.song_input import song_input
from emotune.models.music_module import MusicLitModule
from emotune.utils.errors import DataError

log = logging.getLogger("emotune.eval")
EXCERPT_S = 30.0


@dataclass
class Checkpoint:
    """A music model checkpoint and the clips it may not be scored on directly (per data format)."""

    name: str
    about: str
    ckpt: Path
    fitted: dict[str, set[str]] = field(default_factory=dict)
    recipe: list[str] | None = None  # music_head overrides that re-fit it out of fold on the clips it was fitted on


@dataclass
class Baseline:
    """Descriptors + logistic regression (see the module doc)."""

    name: str = "baseline"
    about: str = "descriptors (30 s, 22.05 kHz) + logistic regression per axis, C = 1 (ENVIRONMENT.md's plain baseline)"
    C: float = 1.0


@dataclass
class Constant:
    """The training labels' mean (balanced quadrants: the centre)."""

    name: str = "constant"
    about: str = "the training labels' mean (chance)"


Labeller = Checkpoint | Baseline | Constant


@dataclass
class Inputs:
    """Each model's input per clip (``None`` where the audio does not decode) and the seconds it took (decoding
    included, one process), computed with one decode per clip and sample rate."""

    rows: dict[str, list[np.ndarray | None]]
    seconds: dict[str, float]


def gather(songs: pd.DataFrame, configs: dict[str, dict], progress: bool = False) -> Inputs:
    """Decode each clip once per sample rate and compute each distinct input once (``configs``: name ->
    ``data_config``; names with the same settings share the arrays); every name is charged the decode and input
    time it would take alone."""
    from tqdm.auto import tqdm

    keys = {n: json.dumps(cfg, sort_keys=True, default=str) for n, cfg in configs.items()}
    distinct = {k: configs[n] for n, k in reversed(list(keys.items()))}
    rows: dict[str, list[np.ndarray | None]] = {k: [] for k in distinct}
    seconds = dict.fromkeys(distinct, 0.0)
    for path in tqdm(songs["path"], desc="inputs", unit="song", disable=not progress):
        audio: dict[int, tuple[np.ndarray | None, float]] = {}
        for key, cfg in distinct.items():
            sr = int(cfg["sample_rate"])
            if sr not in audio:
                t0 = time.perf_counter()
                try:
                    audio[sr] = (decode_excerpt(path, sr, EXCERPT_S), time.perf_counter() - t0)
                except DataError as exc:
                    log.warning("%s", exc)
                    audio[sr] = (None, time.perf_counter() - t0)
            samples, took = audio[sr]
            t0 = time.perf_counter()
            rows[key].append(None if samples is None else song_input(samples, cfg))
            seconds[key] += took + time.perf_counter() - t0
    return Inputs({n: rows[k] for n, k in keys.items()}, {n: seconds[k] for n, k in keys.items()})


def stack(rows: list[np.ndarray | None]) -> tuple[np.ndarray, np.ndarray]:
    """The rows that exist, stacked, and the mask of which they are."""
    ok = np.array([r is not None for r in rows])
    return (np.stack([r for r in rows if r is not None]) if ok.any() else np.zeros((0, 1), np.float32)), ok


def predict_model(model: MusicLitModule, rows: list[np.ndarray | None], batch: int = 16) -> tuple[np.ndarray, float]:
    """``(N, 2)`` V-A (NaN where there is no input) and the seconds the predictions took."""
    x, ok = stack(rows)
    out = np.full((len(rows), 2), np.nan)
    t0 = time.perf_counter()
    if model.kind == "log_mel":
        preds = [model.predict_audio(r)[0] if r is not None else np.full(2, np.nan) for r in rows]
        out = np.stack(preds).astype(float) if preds else out
    elif ok.any():
        means = [model.predict_inputs(torch.from_numpy(x[i : i + batch]))[0] for i in range(0, len(x), batch)]
        out[ok] = np.concatenate(means)
    return out, time.perf_counter() - t0


def baseline_fit(x: np.ndarray, y: np.ndarray, c: float) -> Any:
    """Two logistic regressions (valence, arousal signs) on standardised descriptors."""
    models = []
    for k in range(2):
        m = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000))
        models.append(m.fit(x, y[:, k] > 0))
    return models


def baseline_predict(models: Any, x: np.ndarray) -> np.ndarray:
    """``(N, 2)`` decision values (log-odds of the positive side; their sign gives the quadrant)."""
    return np.stack([m.decision_function(x) for m in models], 1)


BASELINE_INPUT = dict(DEFAULT_DESCRIPTORS)  # the descriptors at 22.05 kHz, today's settings
