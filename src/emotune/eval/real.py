"""``make eval-real DATA=DIR``: every model set on real, human-labelled data, through the full PERCEIVE stage.

``python -m emotune.eval.real data_dir=DIR [key=value ...]`` (settings: ``conf/eval_real.yaml``).

- Faces: each labelled photograph shown as a webcam frame; the configured detector, the face path and the fusion
  (what MATCH sees): valence AUC (a smile above the negative expressions), arousal AUC (surprise, fear, anger above
  neutral and sadness), mean V-A per expression, the share of frames with a face.
- Rated photographs (OASIS): the scene path's Pearson, Spearman and CCC per dimension, overall and on ``Person``,
  on the hash-split parts no real model was fitted or chosen on.
- A real face video: the stabilized valence at its start and its end, the share of frames with a face; and an
  interview-like copy of it (smaller face, a microphone over the chin, subtitles, 50 s): the share with a face.

Writes ``<out>/real.json`` (flat keys), ``<out>/real.md`` and its copy ``doc``, and ``<out>/real_clip.png``.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
from omegaconf import DictConfig
from tqdm.auto import tqdm

from emotune.data.face_sets import dev_part, read_face_set, webcam_frame
from emotune.data.oasis import read_oasis
from emotune.data.splits import hash_split
from emotune.detect.detectors import POSE_COLUMNS, face_pose
from emotune.eval.interview import InterviewSpec, make_interview_clip
from emotune.eval.real_metrics import error_signals, face_metrics, rating_metrics
from emotune.eval.real_report import render_real_report, write_clip_figure
from emotune.models.loading import best_checkpoint
from emotune.runtime.compose import compose_config
from emotune.utils.cli import exit_on_user_error
from emotune.utils.errors import ConfigError, MissingResourceError
from emotune.utils.instantiators import instantiate
from emotune.utils.io import write_json_atomic, write_text_atomic
from emotune.utils.scales import OASIS

log = logging.getLogger("emotune.eval")
CONSTANT = "constant"


def infer_config(ckpt_dir: Path, run_dir: Path, overrides: list[str], video: str = "unused") -> DictConfig:
    """``conf/infer.yaml`` for one model set, as ``infer.py`` would compose it."""
    return compose_config(
        "infer",
        [f"video={video}", f"ckpt.dir={ckpt_dir}", "progress=false", "extras.print_config=false", *overrides],
        run_dir,
    )


def subsample(df: pd.DataFrame, limit: int | None) -> pd.DataFrame:
    """At most ``limit`` rows, drawn at random (seeded) so every label keeps its share; all rows without a limit."""
    if limit is None or len(df) <= int(limit):
        return df.reset_index(drop=True)
    return df.sample(n=int(limit), random_state=0).sort_index().reset_index(drop=True)


def perceive_images(perceiver: Any, paths: list[str], frame: Any, desc: str) -> dict[str, np.ndarray]:
    """Each image through PERCEIVE on its own (the tracker forgets the last photo): per-path V-A, NaN without a face."""
    n = len(paths)
    out = {k: np.full((n, 2), np.nan) for k in ("scene", "face", "fused", "face_sd")}
    out["pose"] = np.full((n, len(POSE_COLUMNS)), np.nan)
    for i, p in enumerate(tqdm(paths, desc=desc, unit="img", leave=False)):
        img = cv2.imread(p, cv2.IMREAD_COLOR)
        if img is None:
            log.warning("Unreadable image skipped: %s", p)
            continue
        perceiver.reset()
        fp = perceiver([frame(img)])[0]
        out["scene"][i], out["fused"][i] = fp.scene_mean, fp.fused_mean
        if fp.face_found:
            out["face"][i] = fp.face_mean
            out["face_sd"][i] = np.sqrt(fp.face_var)
            out["pose"][i] = face_pose(fp.face_box)[0]
    return out


def eval_faces(
    perceivers: dict[str, Any], face_set: Path, size: tuple[int, int], limit: int | None, dev_tenths: int
) -> dict:
    """Face-found share, face-path and fused AUCs (on the same frames), mean V-A per expression and what ranks the face
    path's errors (:func:`error_signals`), per model set, on the photographs outside the set's development part."""
    df = read_face_set(face_set)
    df = subsample(df[~dev_part(df["file"], dev_tenths)], limit)
    expr = df["expression"].to_numpy()
    res: dict[str, Any] = {"n_images": len(df), "dev_tenths": dev_tenths}
    for name, perceiver in perceivers.items():
        va = perceive_images(
            perceiver, df["path"].tolist(), lambda im: webcam_frame(im, size), f"{face_set.name}/{name}"
        )
        found = np.isfinite(va["face"][:, 0])
        fused_same = np.where(found[:, None], va["fused"], np.nan)  # the frames the face path scored
        res[name] = {
            "face_found": float(found.mean()),
            "face": face_metrics(va["face"], expr),
            "fused": face_metrics(fused_same, expr),
            "fused_all": face_metrics(va["fused"], expr),
            "error_signals": error_signals(va, expr),
        }
    res[CONSTANT] = {"face": {"valence_auc": 0.5, "arousal_auc": 0.5}}  # a constant ranks nothing
    return res


def eval_photos(perceivers: dict[str, Any], folder: Path, splits: list[str], limit: int | None) -> dict:
    """The scene path against OASIS's ratings on the hash-split parts ``splits``, overall and on ``Person``."""
    df = read_oasis(folder / "OASIS.csv")
    df["split"] = hash_split(df["theme"], seed=0).to_numpy()  # the split data=oasis trains on (split_seed 0)
    df = df[df["split"].isin(splits) & df["image_path"].map(lambda p: (folder / "images" / p).is_file())]
    df = subsample(df, limit)
    if df.empty:
        raise MissingResourceError(f"No OASIS image of the {splits} split(s) under {folder / 'images'}.")
    target = OASIS.to_ref(df[["valence", "arousal"]].to_numpy(np.float64))
    person = (df["category"] == "Person").to_numpy()
    res: dict[str, Any] = {"n_images": len(df), "n_person": int(person.sum()), "splits": list(splits)}
    paths = [str(folder / "images" / p) for p in df["image_path"]]
    for name, perceiver in perceivers.items():
        pred = perceive_images(perceiver, paths, lambda im: im, f"{folder.name}/{name}")["scene"]
        ok = np.isfinite(pred[:, 0])
        res[name] = {
            "all": rating_metrics(pred[ok], target[ok]),
            "person": rating_metrics(pred[ok & person], target[ok & person]),
        }
    res[CONSTANT] = {"all": rating_metrics(np.zeros_like(target), target)}
    return res


def eval_clip(
    sets: dict[str, Path], clip: Path, out: Path, overrides: list[str], window_s: float, phases: list
) -> dict:
    """``infer()`` on the real clip with each model set: stabilized valence at the start and the end, faces found."""
    from emotune.runtime.infer import infer

    res: dict[str, Any] = {"clip": str(clip), "phases": [list(p) for p in phases]}
    for name, ckpt in sets.items():
        run = out / "clip" / name
        infer(infer_config(ckpt, run, overrides, video=str(clip)))
        tl = pd.read_csv(run / "timeline.csv")
        t = tl["t_s"].to_numpy()
        first, last = t <= t[0] + window_s, t >= t[-1] - window_s
        res[name] = {
            "face_found": float(tl["face_found"].mean()),
            "stab_valence_first": float(tl.loc[first, "stab_valence"].mean()),
            "stab_valence_last": float(tl.loc[last, "stab_valence"].mean()),
            "timeline": str(run / "timeline.csv"),
        }
        res[name]["stab_valence_rise"] = res[name]["stab_valence_last"] - res[name]["stab_valence_first"]
    return res


def eval_interview(sets: dict[str, Path], clip: Path, out: Path, overrides: list[str], seconds: float) -> dict:
    """``infer()`` with each model set on the interview-like copy of the real clip (:mod:`emotune.eval.interview`):
    the share of analysed frames with a face."""
    from emotune.runtime.infer import infer

    video = make_interview_clip(clip, out / "interview.mp4", InterviewSpec(seconds=seconds))
    res: dict[str, Any] = {"clip": str(video), "source": str(clip), "seconds": seconds}
    for name, ckpt in sets.items():
        run = out / "interview" / name
        summary = infer(infer_config(ckpt, run, overrides, video=str(video)))
        res[name] = {"face_found": float(summary["face_found_fraction"]), "frames": int(summary["frames_analysed"])}
    return res


def flat(d: dict, prefix: str = "") -> dict[str, float]:
    """Nested results -> ``a.b.c: number`` (strings and lists dropped)."""
    out: dict[str, float] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flat(v, key + "."))
        elif isinstance(v, int | float | np.floating) and not isinstance(v, bool):
            out[key] = float(v)
    return out


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Every part whose data is present, for every model set present."""
    import torch

    torch.manual_seed(int(cfg.seed))
    data, out = Path(str(cfg.data_dir)), Path(cfg.out)
    if not data.is_dir():
        raise MissingResourceError(f"data_dir={data} is not a folder; give one laid out like ../shared/data/real.")
    sets = {k: Path(str(v)) for k, v in cfg.sets.items() if v}
    missing = {k: v for k, v in sets.items() if not best_checkpoint(v / "scene").is_file()}
    for k, v in missing.items():
        log.warning("Model set %s (%s) has no checkpoints and is skipped (make demo / make real-models).", k, v)
    sets = {k: v for k, v in sets.items() if k not in missing}
    if not sets:
        raise MissingResourceError(f"None of the model sets {dict(cfg.sets)} exists; run `make demo` first.")
    overrides = list(cfg.infer)
    perceivers = {k: instantiate(infer_config(v, out / "runs" / k, overrides).perceive) for k, v in sets.items()}
    results: dict[str, Any] = {"data": str(data), "sets": {k: str(v) for k, v in sets.items()}, "limit": cfg.limit}
    size = tuple(int(x) for x in cfg.frame)
    if len(size) != 2:
        raise ConfigError(f"frame={list(cfg.frame)} must be [width, height].")
    for name in cfg.face_sets:
        if (data / name).is_dir():
            results[f"faces_{name}"] = eval_faces(perceivers, data / name, size, cfg.limit, int(cfg.face_dev_tenths))
    if (data / str(cfg.photos) / "OASIS.csv").is_file():
        results["photos"] = eval_photos(perceivers, data / str(cfg.photos), list(cfg.photo_splits), cfg.limit)
    clip = Path(str(cfg.clip)) if cfg.clip else None
    if clip is not None and clip.is_file():
        results["clip"] = eval_clip(sets, clip, out, overrides, float(cfg.clip_window_s), list(cfg.clip_phases or []))
        write_clip_figure(results["clip"], out / "real_clip.png")
        if float(cfg.interview_seconds) > 0:
            results["interview"] = eval_interview(sets, clip, out, overrides, float(cfg.interview_seconds))
    elif clip is not None:
        log.warning("No real clip at %s (make real-clip); the clip part is skipped.", clip)
    write_json_atomic(out / "real.json", flat(results))
    report = render_real_report(results)
    write_text_atomic(out / "real.md", report)
    if cfg.doc:
        write_text_atomic(Path(str(cfg.doc)), report)
    return results


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    """CLI: ``python -m emotune.eval.real data_dir=DIR [key=value ...]``."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    args = sys.argv[1:] if argv is None else argv
    cfg = compose_config("eval_real", args, Path("outputs/eval/real"))
    evaluate(cfg)
    print(f"Real-data report: {Path(cfg.out) / 'real.md'} (flat numbers: {Path(cfg.out) / 'real.json'})")


if __name__ == "__main__":
    main()
