"""``make eval-music DATA=DIR``: every music labeller side by side on real, human-labelled music.

``python -m emotune.eval.music --data DIR [--demo CKPT] [--ckpt NAME=CKPT ...] [--out outputs/eval]
[--doc docs/eval/music.md]``

``DIR`` holds ``music4q/`` (the 4Q layout) and/or ``pmemo/`` (or is one of them). Labellers: the demo's log-mel
network trained on the synthetic songs (``--demo``, when the file exists), the packaged default trained on real
clips, any ``--ckpt``, and a constant (the training labels' mean: AUC 0.5, one quadrant). Each labeller is scored
only on clips it was neither fitted nor selected on (ids from the packaged head's sidecar or a run's
``data_stats.json``); the side-by-side table uses the clips *no* labeller saw, and says n.

4Q: AUC of positive vs negative valence (Q1, Q4 vs Q2, Q3) and arousal (Q1, Q2 vs Q3, Q4) with a seeded bootstrap
95 % interval, and the 4-quadrant accuracy of the predicted signs. PMEmo: Pearson against the static V-A.
Writes ``<out>/music.json`` (flat keys ``<set>/<labeller>/<metric>``), ``<out>/music.md`` and its copy ``--doc``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.stats import rankdata
from tqdm.auto import tqdm

from emotune.audio.descriptors import one_thread
from emotune.audio.io import decode_excerpt
from emotune.data.catalog import Catalog
from emotune.data.fourq import load_fourq, quadrant_of
from emotune.data.pmemo import load_pmemo
from emotune.models.loading import best_checkpoint
from emotune.utils.cli import exit_on_user_error
from emotune.utils.errors import DataError, MissingResourceError
from emotune.utils.io import write_json_atomic, write_text_atomic

log = logging.getLogger("emotune.eval")
EXCERPT_S = 30.0
TARGETS = {"valence_auc": 0.70, "arousal_auc": 0.88}
SETS = {"fourq": ("music4q", load_fourq), "pmemo": ("pmemo", load_pmemo)}


@dataclass
class Labeller:
    """A music model to score, and the clips it may not be scored on (per data format)."""

    name: str
    about: str
    ckpt: Path | None = None  # None: the constant
    fitted: dict[str, set[str]] = field(default_factory=dict)


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
        raise MissingResourceError(f"DATA={data} is not a folder; give the folder with music4q/ and/or pmemo/.")
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


def predict_all(labellers: list[Labeller], songs: pd.DataFrame, skip: dict[str, np.ndarray], progress: bool) -> dict:
    """``{name: (N, 2)}`` V-A on the reference scale (NaN where skipped or the audio does not decode); each song is
    decoded once per sample rate, for every labeller that needs it."""
    from emotune.models.loading import load_phase_module

    models = {lab.name: load_phase_module(lab.ckpt, "music") for lab in labellers if lab.ckpt is not None}
    out = {lab.name: np.full((len(songs), 2), np.nan) for lab in labellers}
    for lab in labellers:
        if lab.ckpt is None:  # the training labels' mean (balanced quadrants): the centre
            out[lab.name][:] = 0.0
    torch.manual_seed(0)  # MC Dropout samples: the same report on every run
    with one_thread():
        for i, path in enumerate(tqdm(songs["path"], desc="labellers", unit="song", disable=not progress)):
            if not _predict_song(i, path, models, skip, out):  # audio that does not decode: no one scores it
                for lab in labellers:
                    out[lab.name][i] = np.nan
    return out


def _predict_song(i: int, path: str, models: dict, skip: dict[str, np.ndarray], out: dict) -> bool:
    """Every labeller's prediction for song ``i``, decoding it once per sample rate; ``False`` when it does not
    decode."""
    audio: dict[int, np.ndarray | None] = {}
    for name, model in models.items():
        if skip[name][i]:
            continue
        sr = int(model.data_config["sample_rate"])
        if sr not in audio:
            try:
                audio[sr] = decode_excerpt(path, sr, EXCERPT_S)
            except DataError as exc:
                log.warning("%s", exc)
                audio[sr] = None
        if audio[sr] is not None:
            out[name][i] = model.predict_audio(audio[sr])[0]
    return all(a is not None for a in audio.values())


def _auc_rows(y: np.ndarray, s: np.ndarray) -> np.ndarray:
    """ROC AUC of each row of ``s`` (``(B, n)``) against labels ``y`` (``(B, n)``, 0/1), by the rank-sum (Mann-
    Whitney) formula with tied scores averaged; NaN for rows with one class only."""
    ranks = rankdata(s, axis=1)
    n1 = y.sum(1)
    n0 = y.shape[1] - n1
    with np.errstate(invalid="ignore", divide="ignore"):
        return ((ranks * y).sum(1) - n1 * (n1 + 1) / 2) / (n1 * n0)


def auc_ci(y: np.ndarray, s: np.ndarray, n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """AUC and a seeded bootstrap 95 % interval (NaN when a class is missing)."""
    y, s = np.asarray(y, float), np.asarray(s, float)
    if len(np.unique(y)) < 2:
        return (np.nan, np.nan, np.nan)
    idx = np.random.default_rng(seed).integers(0, len(y), (n_boot, len(y)))
    boots = _auc_rows(y[idx], s[idx])
    boots = boots[np.isfinite(boots)]
    return float(_auc_rows(y[None], s[None])[0]), float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))


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


def evaluate(data: Path, labellers: list[Labeller], progress: bool = True) -> dict[str, dict[str, dict]]:
    """``{set: {labeller: metrics}}``; ``fourq`` on the clips no labeller was fitted on, ``fourq_own`` each
    labeller on every clip it was not fitted on."""
    results: dict[str, dict[str, dict]] = {}
    for set_name, cat in find_sets(data).items():
        songs = cat.songs[cat.songs["path"] != ""].reset_index(drop=True)
        seen = set().union(*(lab.fitted.get(set_name, set()) for lab in labellers))
        common = ~songs["song_id"].isin(seen).to_numpy()
        skip = {lab.name: songs["song_id"].isin(lab.fitted.get(set_name, set())).to_numpy() for lab in labellers}
        preds = predict_all(labellers, songs, skip, progress)
        if set_name == "fourq":
            q = songs["quadrant"].to_numpy()
            results["fourq"] = {n: fourq_metrics(p[common], q[common]) for n, p in preds.items()}
            results["fourq_own"] = {n: fourq_metrics(p[~skip[n]], q[~skip[n]]) for n, p in preds.items()}
        else:
            target = cat.scale.to_ref(songs[["valence", "arousal"]].to_numpy(float))
            results[set_name] = {n: pmemo_metrics(p[common], target[common]) for n, p in preds.items()}
    return results


def flat(results: dict[str, dict[str, dict]]) -> dict[str, float | None]:
    """``<set>/<labeller>/<metric>`` keys (NaN as null)."""
    out: dict[str, float | None] = {}
    for s, labs in results.items():
        for lab, m in labs.items():
            for k, v in m.items():
                out[f"{s}/{lab}/{k}"] = None if v is None or not np.isfinite(v) else round(float(v), 4)
    return out


def _f(v: float | None, fmt: str = ".2f") -> str:
    return "-" if v is None or not np.isfinite(v) else format(v, fmt)


def render(
    results: dict[str, dict[str, dict]], labellers: list[Labeller], data: Path, command: str | None = None
) -> str:
    """The markdown report."""
    from emotune.eval.music_report import render_report

    return render_report(results, labellers, data, TARGETS, _f, command)


def labellers_from_args(demo: Path | None, extra: list[str]) -> list[Labeller]:
    """The demo (if its file exists), the packaged default, ``NAME=CKPT`` extras and the constant."""
    from emotune.models.music_weights import default_music_checkpoint

    labs = []
    if demo is not None and demo.is_file():
        labs.append(Labeller("synthetic (demo)", "log-mel ConvNeXt trained on the synthetic songs", demo, {}))
    elif demo is not None:
        log.warning("No demo music checkpoint at %s (make demo trains it): not scored.", demo)
    default = default_music_checkpoint()
    labs.append(
        Labeller("real (default)", "descriptors + small head, the packaged labeller", default, fitted_ids(default))
    )
    for item in extra:
        name, _, path = item.partition("=")
        if not path or not Path(path).is_file():
            raise MissingResourceError(f"--ckpt {item!r}: give NAME=PATH to an existing music checkpoint.")
        labs.append(Labeller(name, f"`{path}`", Path(path), fitted_ids(Path(path))))
    labs.append(Labeller("constant", "the training labels' mean (chance)", None, {}))
    return labs


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    """CLI."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="folder with music4q/ and/or pmemo/")
    ap.add_argument("--demo", type=Path, default=best_checkpoint("outputs/demo/music"))
    ap.add_argument("--ckpt", action="append", default=[], help="NAME=PATH: another music checkpoint to score")
    ap.add_argument("--out", type=Path, default=Path("outputs/eval"))
    ap.add_argument("--doc", type=Path, default=None, help="also write the report here (docs/eval/music.md)")
    argv = sys.argv[1:] if argv is None else argv
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    labs = labellers_from_args(args.demo, args.ckpt)
    results = evaluate(args.data, labs)
    write_json_atomic(args.out / "music.json", flat(results))
    md = render(results, labs, args.data, "python -m emotune.eval.music " + " ".join(argv))
    write_text_atomic(args.out / "music.md", md)
    if args.doc:
        write_text_atomic(args.doc, md)
    print(md)


if __name__ == "__main__":
    main()
