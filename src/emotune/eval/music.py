"""``make eval-music DATA=DIR``: the music labellers side by side on real, human-labelled music.

``python -m emotune.eval.music data_dir=DIR [key=value ...]`` (settings: ``conf/eval_music.yaml``).

``DIR`` holds ``music4q/`` (the 4Q layout) and/or ``pmemo/`` (or is one of them). Labellers
(:mod:`emotune.eval.music_labellers`): the packaged default, the previous default (descriptors only, kept for this
comparison), the demo's log-mel network when trained, any ``extra`` checkpoint, the plain baseline and a constant.
Every prediction scored is honest: a checkpoint only on clips it was neither fitted nor selected on, except that a
packaged head with a recipe gets out-of-fold predictions (nested, artist-grouped) on the 4Q clips it was fitted on,
and the baseline is out of fold on the 4Q clips. The side-by-side table uses the clips where every labeller has
an honest prediction, and says n.

4Q: AUC of positive vs negative valence (Q1, Q4 vs Q2, Q3) and arousal (Q1, Q2 vs Q3, Q4) with a seeded bootstrap
95 % interval, and the 4-quadrant accuracy of the predicted signs. PMEmo: Pearson against the static V-A. Speed:
songs per second in one process on one thread, decoding included. Writes ``<out>/music.json`` (flat keys
``<set>/<labeller>/<metric>``), ``<out>/music.md`` and its copy ``doc``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from emotune.data.catalog import Catalog
from emotune.data.fourq import load_fourq, quadrant_of
from emotune.data.pmemo import load_pmemo
from emotune.eval.music_labellers import (
    BASELINE_INPUT,
    Baseline,
    Checkpoint,
    Constant,
    Labeller,
    baseline_fit,
    baseline_predict,
    gather,
    predict_model,
    stack,
)
from emotune.eval.music_recipe import recipe_config, recipe_oof
from emotune.utils.command import command, command_overrides
from emotune.utils.errors import DataError, MissingResourceError
from emotune.utils.io import write_json_atomic, write_text_atomic
from emotune.utils.process import start_up
from emotune.utils.ranking import auc_ci

log = logging.getLogger("emotune.eval")
SETS = {"fourq": ("music4q", load_fourq), "pmemo": ("pmemo", load_pmemo)}


def fitted_ids(ckpt: Path) -> dict[str, set[str]]:
    """Clips a checkpoint was fitted or selected on: its sidecar's list, else its run's train and val splits."""
    import yaml

    from emotune.models.music_weights import fitted_song_ids

    ids = fitted_song_ids(ckpt)
    run = ckpt.parent.parent
    if not ids and (run / "data_stats.json").is_file() and (run / ".hydra" / "config.yaml").is_file():
        fmt = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())["data"].get("format", "deam")
        split = json.loads((run / "data_stats.json").read_text()).get("song_ids", {})
        ids = {fmt: set(split.get("train", [])) | set(split.get("val", []))}
    return ids


def find_sets(data: Path) -> dict[str, Catalog]:
    """The real music sets under ``data`` (or ``data`` itself), loaded; an error when there are none."""
    if not data.is_dir():
        raise MissingResourceError(f"data_dir={data} is not a folder; give the folder with music4q/ and/or pmemo/.")
    found = {}
    for name, (sub, loader) in SETS.items():
        for root in (data / sub, data):
            try:
                found[name] = loader(root)
                break
            except (DataError, MissingResourceError):
                continue
    if not found:
        raise DataError(f"No real music set under {data}: expected music4q/ (Q1..Q4/*.mp3 + annotations) or pmemo/.")
    return found


def fourq_metrics(va: np.ndarray, quadrant: np.ndarray) -> dict[str, float]:
    """AUCs (with intervals) and the 4-quadrant accuracy on the clips with a prediction."""
    ok = np.isfinite(va).all(1)
    va, quadrant = va[ok], quadrant[ok]
    res: dict[str, float] = {"n": float(len(va))}
    for k, (dim, pos) in enumerate((("valence", ("Q1", "Q4")), ("arousal", ("Q1", "Q2")))):
        auc, lo, hi = auc_ci(np.isin(quadrant, pos).astype(int), va[:, k])
        res.update({f"{dim}_auc": auc, f"{dim}_auc_lo": lo, f"{dim}_auc_hi": hi})
    res["quadrant_acc"] = float((quadrant_of(va) == quadrant).mean()) if len(va) else np.nan
    return res


def pmemo_metrics(va: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """Pearson per dimension against the static V-A (NaN for a constant) and the quadrant accuracy."""
    ok = np.isfinite(va).all(1)
    va, target = va[ok], target[ok]
    res: dict[str, float] = {"n": float(len(va))}
    for k, dim in enumerate(("valence", "arousal")):
        flat = len(va) < 3 or va[:, k].std() < 1e-9
        res[f"{dim}_pearson"] = np.nan if flat else float(np.corrcoef(va[:, k], target[:, k])[0, 1])
    res["quadrant_acc"] = float((quadrant_of(va) == quadrant_of(target)).mean()) if len(va) else np.nan
    return res


def labellers_from_cfg(cfg: DictConfig) -> list[Labeller]:
    """The configured labellers whose checkpoints exist (a missing demo is skipped with a warning)."""
    from emotune.models.music_weights import default_music_checkpoint, read_sidecar

    labs: list[Labeller] = []
    default = Path(str(cfg.default)) if cfg.get("default") else default_music_checkpoint()
    meta = read_sidecar(default)
    labs.append(Checkpoint("default", meta.get("model", "the packaged labeller"), default, fitted_ids(default),
                           meta.get("recipe_overrides")))  # fmt: skip
    for name, path in dict(cfg.checkpoints or {}).items():
        if not path or not Path(str(path)).is_file():
            log.warning("No %s music checkpoint at %s: not scored.", name, path)
            continue
        about = read_sidecar(path).get("model") or f"`{path}`"
        labs.append(Checkpoint(str(name), str(about), Path(str(path)), fitted_ids(Path(str(path)))))
    labs += [Baseline(C=float(cfg.baseline_C)), Constant()]
    return labs


def _predict_set(
    set_name: str, songs: pd.DataFrame, labs: list[Labeller], cfg: DictConfig, state: dict[str, Any]
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Honest ``(N, 2)`` predictions per labeller on one set (NaN where there is none) and how they were made."""
    from emotune.models.loading import load_phase_module

    models = {lab.name: load_phase_module(lab.ckpt, "music") for lab in labs if isinstance(lab, Checkpoint)}
    configs = {n: m.data_config for n, m in models.items()}
    configs["baseline"] = BASELINE_INPUT
    recipes = {
        lab.name: recipe_config(lab.recipe, cfg)
        for lab in labs
        if isinstance(lab, Checkpoint) and lab.recipe is not None
    }
    for name, rc in recipes.items():
        configs[f"recipe:{name}"] = rc.full.data_config
    inputs = gather(songs, configs, progress=bool(cfg.progress))
    preds: dict[str, np.ndarray] = {}
    how: dict[str, str] = {}
    y = np.stack([songs["valence"].to_numpy(float), songs["arousal"].to_numpy(float)], 1) if len(songs) else None
    for lab in labs:
        if isinstance(lab, Constant):
            preds[lab.name], how[lab.name] = np.zeros((len(songs), 2)), "constant"
        elif isinstance(lab, Checkpoint):
            p, seconds = predict_model(models[lab.name], inputs.rows[lab.name])
            state.setdefault("speed", {}).setdefault(
                lab.name, len(songs) / max(inputs.seconds[lab.name] + seconds, 1e-9)
            )
            fitted = songs["song_id"].isin(lab.fitted.get(set_name, set())).to_numpy()
            p[fitted] = np.nan
            how[lab.name] = "clips it was not fitted on"
            if lab.name in recipes and set_name == "fourq" and fitted.any():
                rows = [r for r, f in zip(inputs.rows[f"recipe:{lab.name}"], fitted) if f]
                p[fitted] = recipe_oof(recipes[lab.name], songs[fitted].reset_index(drop=True), rows)
                how[lab.name] = "out of fold (nested, artist-grouped) on the clips it was fitted on, direct elsewhere"
        else:
            x, ok = stack(inputs.rows["baseline"])
            preds[lab.name] = np.full((len(songs), 2), np.nan)
            if set_name == "fourq" and y is not None:
                from emotune.eval.music_recipe import baseline_oof

                preds[lab.name][ok] = baseline_oof(x, y[ok], songs[ok].reset_index(drop=True), lab.C, cfg)
                state["baseline"] = baseline_fit(x, y[ok], lab.C)
                how[lab.name] = "out of fold (artist-grouped) on the 4Q clips"
            elif "baseline" in state and ok.any():
                preds[lab.name][ok] = baseline_predict(state["baseline"], x)
                how[lab.name] = "fitted on all 4Q clips"
            continue
        if isinstance(lab, Checkpoint):
            preds[lab.name] = p
    return preds, how


def evaluate(cfg: DictConfig, labs: list[Labeller]) -> dict[str, Any]:
    """``{set: {labeller: metrics}}`` (``fourq``: the clips every labeller has an honest prediction for;
    ``fourq_own``: each labeller on all of its own), ``how`` and ``speed`` (songs per second)."""
    results: dict[str, Any] = {"how": {}, "speed": {}}
    state: dict[str, Any] = {}
    sets = find_sets(Path(str(cfg.data_dir)))
    for set_name in ("fourq", "pmemo"):
        if set_name not in sets:
            continue
        cat = sets[set_name]
        songs = cat.songs[cat.songs["path"] != ""].reset_index(drop=True)
        preds, how = _predict_set(set_name, songs, labs, cfg, state)
        results["how"][set_name] = how
        common = np.all([np.isfinite(p).all(1) for p in preds.values()], axis=0)
        if set_name == "fourq":
            q = songs["quadrant"].to_numpy()
            results["fourq"] = {n: fourq_metrics(p[common], q[common]) for n, p in preds.items()}
            results["fourq_own"] = {n: fourq_metrics(p, q) for n, p in preds.items()}
        else:
            target = cat.scale.to_ref(songs[["valence", "arousal"]].to_numpy(float))
            results[set_name] = {n: pmemo_metrics(p[common], target[common]) for n, p in preds.items()}
    results["speed"] = state.get("speed", {})
    return results


def flat(results: dict[str, Any]) -> dict[str, float | None]:
    """``<set>/<labeller>/<metric>`` keys (NaN as null), and ``speed/<labeller>/songs_per_s``."""
    out: dict[str, float | None] = {}
    for s, labs in results.items():
        if s == "how":
            continue
        if s == "speed":
            for lab, v in labs.items():
                out[f"speed/{lab}/songs_per_s"] = round(float(v), 2)
            continue
        for lab, m in labs.items():
            for k, v in m.items():
                out[f"{s}/{lab}/{k}"] = None if v is None or not np.isfinite(v) else round(float(v), 4)
    return out


@command("eval_music")
def main(cfg: DictConfig) -> None:
    """CLI: ``python -m emotune.eval.music [data_dir=DIR] [key=value ...]``."""
    from emotune.eval.music_report import render_report

    if cfg.data_dir is None:
        raise MissingResourceError(
            "No real music: give data_dir=DIR (make eval-music DATA=DIR) or set EMOTUNE_REAL_DATA=DIR, a folder with "
            "music4q/ and/or pmemo/."
        )
    start_up(cfg.threads, "threads")  # once, at start-up (the speed column is one thread)
    labs = labellers_from_cfg(cfg)
    results = evaluate(cfg, labs)
    out = Path(str(cfg.out))
    write_json_atomic(out / "music.json", flat(results))
    command_line = "python -m emotune.eval.music " + " ".join(command_overrides())
    md = render_report(results, labs, Path(str(cfg.data_dir)), command_line)
    write_text_atomic(out / "music.md", md)
    if cfg.get("doc"):
        write_text_atomic(Path(str(cfg.doc)), md)
    print(md)


if __name__ == "__main__":
    main()
