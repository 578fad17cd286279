"""Fit the packaged music labeller on quadrant-labelled songs, chosen and scored by artist-grouped cross-validation.

``python -m emotune.runtime.music_head data_dir=DIR [out=FILE.ckpt] [key=value ...]`` (settings:
``conf/music_head.yaml``; ``make music-head REAL=../shared/data/real`` rebuilds the committed head).

1. Every song of the 4Q folder ``data`` becomes a song vector (the model config's descriptors and musicnn
   embedding of a 30 s excerpt; cached per file version in ``cache``).
2. The honest estimate: nested cross-validation (:func:`emotune.models.music_cv.nested`): outer folds grouped by
   artist, each choosing its head among ``candidates`` by inner folds on its training part only; the out-of-fold
   valence / arousal AUC (seeded bootstrap 95 % interval) and 4-quadrant accuracy over all songs.
3. The packaged head: the same selection on all songs, the winner fitted on all of them, its σ calibrated on its
   out-of-fold predictions (:func:`emotune.models.music_cv.fit_final`), written as a slim music-phase checkpoint
   with a sidecar (:func:`emotune.models.music_weights.save_head`) that records all of the above and this command.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf

from emotune.data.fourq import artist_key, load_fourq, quadrant_of
from emotune.models.music_cv import Songs, fit_final, nested
from emotune.models.music_fit import INPUTS, Candidate, FitSettings, Inputs, build, vector_layout
from emotune.models.music_module import MusicLitModule
from emotune.runtime.song_jobs import prepared
from emotune.utils.command import command, command_overrides
from emotune.utils.errors import ConfigError, DataError, MissingResourceError
from emotune.utils.io import atomic_path, file_stamp
from emotune.utils.process import start_up
from emotune.utils.ranking import auc_ci

log = logging.getLogger("emotune.music_head")
INPUT_WORDS = {
    "descriptors": "the hand-crafted descriptors (src/emotune/audio/descriptors.py)",
    "musicnn": "musicnn_msd's 50 tag probabilities and 200 penultimate features, averaged over the excerpt's patches",
    "both": "the hand-crafted descriptors beside musicnn_msd's 50 tag probabilities and 200 penultimate features "
    "(averaged over the excerpt's patches)",
}


def fourq_songs(root: str | Path) -> pd.DataFrame:
    """The 4Q clips with audio: ``song_id``, ``quadrant``, ``artist``, ``group`` (the artist key; a clip without
    an artist is its own group) and ``path``."""
    songs = load_fourq(root).songs
    songs = songs[songs["path"] != ""].reset_index(drop=True)
    artist = songs["artist"] if "artist" in songs.columns else pd.Series("", index=songs.index)
    keys = artist.fillna("").map(artist_key)
    songs["group"] = np.where(keys == "", "song:" + songs["song_id"], keys)
    return songs


def song_vectors(
    module: MusicLitModule, paths: list[str], cache: Path | None, workers: int, progress: bool = True
) -> np.ndarray:
    """``(N, width)`` song vectors of the files (NaN rows for files that do not decode), cached per file version
    and preprocessing in ``cache`` (a folder)."""
    cfg = module.data_config
    tag = hashlib.sha1(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:12]
    file = cache / f"song_vectors_{tag}.pt" if cache else None
    store: dict[str, torch.Tensor] = torch.load(file, weights_only=True) if file and file.is_file() else {}
    keys = [f"{Path(p).resolve()}|{file_stamp(p)}" for p in paths]
    todo = [i for i, k in enumerate(keys) if k not in store]
    for i, item in zip(todo, prepared([paths[i] for i in todo], cfg, workers, with_tags=False, progress=progress)):
        if item.x is None:
            log.warning("Skipped %s: %s", paths[i], item.error)
            continue
        store[keys[i]] = torch.from_numpy(item.x).float()  # the worker ran the network (song vectors)
    if file is not None and todo:
        with atomic_path(file) as tmp:
            torch.save(store, tmp)
    width = next(iter(store.values())).shape[0] if store else 0
    return np.stack([store[k].numpy() if k in store else np.full(width, np.nan, np.float32) for k in keys])


def candidates(cfg: DictConfig) -> list[Candidate]:
    """The grid of ``candidates`` (every ``inputs`` x every ``hidden``)."""
    bad = [i for i in cfg.candidates.inputs if i not in INPUTS]
    if bad:
        raise ConfigError(f"candidates.inputs holds {bad}; valid: {', '.join(INPUTS)}.")
    return [
        Candidate(cast(Inputs, str(i)), None if h is None else int(h))
        for i in cfg.candidates.inputs
        for h in cfg.candidates.hidden
    ]


def fourq_scores(mean: np.ndarray, quadrant: np.ndarray, seed: int) -> dict[str, Any]:
    """AUCs with seeded bootstrap 95 % intervals and the 4-quadrant accuracy."""
    out: dict[str, Any] = {"n": len(mean)}
    for k, (dim, pos) in enumerate((("valence", ("Q1", "Q4")), ("arousal", ("Q1", "Q2")))):
        auc, lo, hi = auc_ci(np.isin(quadrant, pos).astype(int), mean[:, k], seed=seed)
        out[dim] = {"auc": round(auc, 4), "ci95": [round(lo, 4), round(hi, 4)]}
    out["quadrant_accuracy"] = round(float((quadrant_of(mean) == quadrant).mean()), 4)
    return out


def run(cfg: DictConfig, argv: list[str]) -> dict[str, Any]:
    """Vectors, nested CV, the final fit and the packaged files; returns the sidecar."""
    from emotune.models.music_weights import save_head

    songs = fourq_songs(str(cfg.data_dir))
    model: dict[str, Any] = OmegaConf.to_container(cfg.model, resolve=True)  # type: ignore[assignment]
    full = build(model, Candidate("both", None), 0)
    x = song_vectors(full, songs["path"].tolist(), Path(str(cfg.cache)), int(cfg.workers))
    ok = np.isfinite(x).all(1)
    need = 8 * int(cfg.cv.outer_folds)  # every fold's test part holds a few clips of each quadrant
    if ok.sum() < need:
        raise DataError(
            f"{cfg.data_dir}: only {int(ok.sum())} clips decode; {cfg.cv.outer_folds} folds need at least {need}."
        )
    songs, x = songs[ok].reset_index(drop=True), x[ok]
    d, _ = vector_layout(model)
    data = Songs(x, songs["quadrant"].to_numpy(), songs["group"].to_numpy(), d)
    fit = FitSettings(int(cfg.fit.epochs), int(cfg.fit.batch_size), int(cfg.fit.seed))
    grid = candidates(cfg)
    log.info("%d songs, %d artist groups, %d candidates", len(songs), songs["group"].nunique(), len(grid))
    honest = nested(model, grid, data, int(cfg.cv.outer_folds), int(cfg.cv.inner_folds), int(cfg.cv.seed), fit)
    module, chosen, scores = fit_final(model, grid, data, int(cfg.cv.inner_folds), int(cfg.cv.seed), fit)
    meta = {
        "model": INPUT_WORDS[chosen.inputs] + " -> standardiser -> V-A head (MC Dropout + heteroscedastic sigma)",
        "head": chosen.name,
        "data": {
            "format": "fourq",
            "root": str(cfg.data_dir),
            "songs": len(songs),
            "artist_groups": int(songs["group"].nunique()),
        },
        "selection": {
            "candidates": [c.name for c in grid],
            "inner_folds": int(cfg.cv.inner_folds),
            "seed": int(cfg.cv.seed),
            "out_of_fold_auc": {k: {d: round(v, 4) for d, v in s.items()} for k, s in scores.items()},
            "chosen": chosen.name,
            "note": "artist-grouped, quadrant-stratified folds over all songs; chosen by the mean of the "
            "valence and arousal AUC",
        },
        "honest_estimate": {
            "method": f"nested cross-validation: {cfg.cv.outer_folds} outer artist-grouped folds, the selection "
            f"above repeated inside each on its training part only ({cfg.cv.inner_folds} inner folds)",
            "chosen_per_fold": honest["chosen"],
            **fourq_scores(honest["mean"], data.quadrant, int(cfg.cv.seed)),
        },
        "fitted_on": sorted(songs["song_id"]),
        "test_ids": [],
        "commands": ["python -m emotune.runtime.music_head " + " ".join(argv)],
        "recipe_overrides": [a for a in argv if a.split("=", 1)[0] not in ("data_dir", "out", "cache")],
        "licence": "MIT (this repository); musicnn's MSD weights (ISC) come from the musicnn wheel at run time; "
        "trained on the 4Q audio emotion data set (research use)",
    }
    save_head(module, Path(str(cfg.out)), meta)
    return meta


@command("music_head")
def main(cfg: DictConfig) -> None:
    """CLI: ``python -m emotune.runtime.music_head [data_dir=DIR] [out=FILE] [key=value ...]``."""
    if cfg.data_dir is None:
        raise MissingResourceError(
            "No 4Q folder: give data_dir=DIR (make music-head REAL=DIR) or set EMOTUNE_REAL_DATA=DIR (its music4q/)."
        )
    logging.getLogger("emotune").setLevel(logging.INFO)  # the folds' progress
    start_up(cfg.threads, "threads")  # once, at start-up
    meta = run(cfg, command_overrides())
    h = meta["honest_estimate"]
    print(
        f"{cfg.out}: {meta['head']} on {meta['data']['songs']} songs. Nested CV (out-of-fold, artist-grouped): "
        f"valence AUC {h['valence']['auc']:.3f} {h['valence']['ci95']}, arousal AUC {h['arousal']['auc']:.3f} "
        f"{h['arousal']['ci95']}, 4-quadrant accuracy {h['quadrant_accuracy']:.0%}."
    )


if __name__ == "__main__":
    main()
