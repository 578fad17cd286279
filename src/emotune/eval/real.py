"""``make eval-real DATA=DIR``: every model set on real, human-labelled data, through the full PERCEIVE stage, the
scene path, the face path and the fusion side by side.

``python -m emotune.eval.real data_dir=DIR [key=value ...]`` (settings: ``conf/eval_real.yaml``).

- Faces: each labelled photograph shown as a webcam frame: valence / arousal AUC of each path and of the fusion (what
  MATCH sees) on the frames with a face, each expression's mean reading against its published coordinates, σ against
  the error.
- Rated photographs (OASIS): Pearson, Spearman, CCC of each path, overall and on ``Person``, on the hash-split parts
  no scene head was fitted or chosen on; σ against the error and the 90 % interval's coverage.
- A real face video: the stabilized valence at its start and its end, the longest run of stabilized arousal at the
  plane's edge; an interview-like copy: the share of frames with a face.
- The embedded benchmark's ``test_face`` / ``test_shifted_face`` (the demo set's fusion run).

A model set whose fusion was cross-fitted on these very images (``make real-heads``) scores each of them with the fold
that never saw it (:class:`FoldSwitch`); the report says how many. Writes ``<out>/real.json`` (flat keys),
``<out>/real.md``, ``<out>/real_clip.png`` and ``<out>/fusion_weight.png``; ``doc`` gets a copy of all three.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from emotune.eval.interview import InterviewSpec, make_interview_clip
from emotune.eval.real_metrics import clip_metrics, face_part, photo_part
from emotune.eval.real_report import render_real_report, write_clip_figure, write_weight_figure
from emotune.eval.real_sets import FoldSwitch, benchmark_part, subsample
from emotune.models.loading import best_checkpoint
from emotune.runtime.compose import compose_config
from emotune.runtime.real_rows import PerceivedRows, face_images, perceive_images, photo_images
from emotune.utils.command import command
from emotune.utils.errors import ConfigError, MissingResourceError
from emotune.utils.instantiators import instantiate
from emotune.utils.io import atomic_path, write_json_atomic, write_text_atomic

log = logging.getLogger("emotune.eval")


def infer_config(ckpt_dir: Path, run_dir: Path, overrides: list[str], video: str = "unused") -> DictConfig:
    """``conf/infer.yaml`` for one model set, as ``infer.py`` would compose it."""
    return compose_config(
        "infer",
        [f"video={video}", f"ckpt.dir={ckpt_dir}", "progress=false", "extras.print_config=false", *overrides],
        run_dir,
    )


def perceive_each(
    perceivers: dict[str, tuple[Any, FoldSwitch | None]], images: list, size: tuple[int, int], desc: str
) -> dict[str, PerceivedRows]:
    """The images through every model set (with its cross-fitting folds where it has them)."""
    out = {}
    for name, (perceiver, folds) in perceivers.items():
        out[name] = perceive_images(perceiver, images, size, folds, desc=f"{desc}/{name}")
        if folds is not None:
            out[name].cross_fitted, folds.cross_fitted = folds.cross_fitted, 0
            folds.restore()
    return out


def eval_clip(sets: dict[str, Path], clip: Path, out: Path, overrides: list[str], cfg: DictConfig) -> dict:
    """``infer()`` on the real clip with each model set: stabilized valence at the start and the end, the longest
    stretch of stabilized arousal at the plane's edge, faces found."""
    from emotune.runtime.infer import infer

    res: dict[str, Any] = {"clip": str(clip), "phases": [list(p) for p in cfg.clip_phases or []]}
    for name, ckpt in sets.items():
        run = out / "clip" / name
        infer(infer_config(ckpt, run, overrides, video=str(clip)))
        tl = pd.read_csv(run / "timeline.csv")
        res[name] = {
            **clip_metrics(tl, float(cfg.clip_window_s), float(cfg.edge)),
            "timeline": str(run / "timeline.csv"),
        }
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
        res[name] = {
            "face_found": float(
                summary["face_found_fraction"] if summary["face_found_fraction"] is not None else "nan"
            ),
            "frames": int(summary["frames_analysed"]),
        }
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


def model_sets(cfg: DictConfig) -> dict[str, Path]:
    """The configured model sets that exist (a missing one is named and skipped)."""
    sets = {k: Path(str(v)) for k, v in cfg.sets.items() if v}
    missing = {k: v for k, v in sets.items() if not best_checkpoint(v / "scene").is_file()}
    for k, v in missing.items():
        log.warning("Model set %s (%s) has no checkpoints and is skipped (make demo / make real-models).", k, v)
    sets = {k: v for k, v in sets.items() if k not in missing}
    if not sets:
        raise MissingResourceError(f"None of the model sets {dict(cfg.sets)} exists; run `make demo` first.")
    return sets


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Every part whose data is present, for every model set present."""
    import torch

    torch.manual_seed(int(cfg.seed))
    if cfg.data_dir is None:
        raise ConfigError(
            "No real data: give data_dir=DIR (make eval-real DATA=DIR) or set EMOTUNE_REAL_DATA=DIR, a folder with "
            "faces/ and/or oasis/."
        )
    data, out = Path(str(cfg.data_dir)), Path(cfg.out)
    if not data.is_dir():
        raise MissingResourceError(f"data_dir={data} is not a folder; give one with faces/ and/or oasis/.")
    sets = model_sets(cfg)
    overrides = list(cfg.infer)
    perceivers = {}
    for k, v in sets.items():
        perceiver = instantiate(infer_config(v, out / "runs" / k, overrides).perceive)
        perceivers[k] = (perceiver, FoldSwitch.of(perceiver, best_checkpoint(v / "fusion")))
    size = tuple(int(x) for x in cfg.frame)
    if len(size) != 2:
        raise ConfigError(f"frame={list(cfg.frame)} must be [width, height].")
    results: dict[str, Any] = {"data": str(data), "sets": {k: str(v) for k, v in sets.items()}, "limit": cfg.limit}
    for name in cfg.face_sets:
        if (data / name).is_dir():
            images = subsample(face_images(data / name), cfg.limit)
            results[f"faces_{name}"] = face_part(perceive_each(perceivers, images, size, name))
    if (data / str(cfg.photos) / "OASIS.csv").is_file():
        images = subsample(photo_images(data / str(cfg.photos), list(cfg.photo_splits)), cfg.limit)
        if not images:
            raise MissingResourceError(f"No OASIS image of the {list(cfg.photo_splits)} part(s) under {data}.")
        results["photos"] = photo_part(perceive_each(perceivers, images, size, "oasis"), list(cfg.photo_splits))
    if not any(k.startswith("faces_") or k == "photos" for k in results):
        raise MissingResourceError(
            f"data_dir={data} holds no labelled faces ({', '.join(cfg.face_sets)}/) and no {cfg.photos}/OASIS.csv: "
            "nothing to evaluate, and the report is left as it is."
        )
    clip = Path(str(cfg.clip)) if cfg.clip else None
    figures = [out / "fusion_weight.png"]  # what the report links (copied beside doc)
    if clip is not None and clip.is_file():
        results["clip"] = eval_clip(sets, clip, out, overrides, cfg)
        write_clip_figure(results["clip"], out / "real_clip.png")
        figures.append(out / "real_clip.png")
        if float(cfg.interview_seconds) > 0:
            results["interview"] = eval_interview(sets, clip, out, overrides, float(cfg.interview_seconds))
    elif clip is not None:
        log.warning("No real clip at %s (make real-clip); the clip part is skipped.", clip)
    bench = benchmark_part(Path(str(cfg.benchmark_run)))
    if bench:
        results["benchmark"] = bench
    write_weight_figure(results, out / "fusion_weight.png")
    write_json_atomic(out / "real.json", flat(results))
    report = render_real_report(results)
    write_text_atomic(out / "real.md", report)
    if cfg.doc:  # the report and the figures it links, side by side
        doc = Path(str(cfg.doc))
        write_text_atomic(doc, report)
        for figure in figures:
            if figure.resolve() != (doc.parent / figure.name).resolve():
                with atomic_path(doc.parent / figure.name) as tmp:
                    shutil.copyfile(figure, tmp)
    return results


@command("eval_real")
def main(cfg: DictConfig) -> None:
    """CLI: ``python -m emotune.eval.real data_dir=DIR [key=value ...]``."""
    evaluate(cfg)
    print(f"Real-data report: {Path(cfg.out) / 'real.md'} (flat numbers: {Path(cfg.out) / 'real.json'})")


if __name__ == "__main__":
    main()
