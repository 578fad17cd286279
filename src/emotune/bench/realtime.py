"""``make bench``'s realtime section: ``infer.py`` runs, each in its own process (so its peak memory is its own), with
the time per stage, the per-frame cost outside the model forwards and the realtime factor."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from emotune.models.loading import best_checkpoint

BACKBONE_STAGES = ("scene_backbone", "face_backbone")


def run_child(out: Path, name: str, overrides: list[str]) -> dict[str, Any]:
    """One ``infer()`` in a fresh process (:mod:`emotune.bench.child`), so its peak memory is its own."""
    result = out / "runs" / f"{name}.json"
    cmd = [sys.executable, "-m", "emotune.bench.child", str(result), str(out / "runs" / name), *overrides]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if proc.returncode != 0:
        raise RuntimeError(f"bench run {name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(result.read_text())


MODEL_STAGES = ("scene_backbone", "face_backbone", "heads")  # the model forwards; everything else is overhead


def realtime_runs(cfg: DictConfig, vit_ckpt: Path) -> dict[str, list[str]]:
    """The timed ``infer.py`` runs: name -> overrides (the real set on the real clip when both are there; the
    scene on every frame beside its own rate; the same again on the GPU when one is present)."""
    rt = cfg.realtime
    base = [f"video={cfg.video}", f"ckpt.dir={cfg.demo}", *rt.infer]
    runs = {"demo": base, "vitb32": [*base, f"ckpt.scene={vit_ckpt}"]}
    real_set, real_clip = Path(str(rt.real_set)), Path(str(rt.real_clip))
    if best_checkpoint(real_set / "fusion").is_file() and real_clip.is_file():
        runs["real"] = [f"video={real_clip}", f"ckpt.dir={real_set}", *rt.infer]
    for name in list(rt.every_frame):
        if name in runs:
            runs[f"{name}_every_frame"] = [*runs[name], "perceive.scene_every_s=0"]
    for label, (base_run, *overrides) in (rt.get("variants") or {}).items():
        if base_run in runs:
            runs[str(label)] = [*runs[base_run], *overrides]
    if torch.cuda.is_available():
        runs.update({f"{k}_gpu": [*v, "perceive.device=cuda"] for k, v in list(runs.items())})
    return runs


def realtime(cfg: DictConfig, vit_ckpt: Path) -> dict[str, Any]:
    """Realtime factor, time per stage, per-frame overhead outside the model forwards and peak memory of
    ``infer.py`` (each run in its own process)."""
    out = Path(cfg.out)
    res = {}
    for name, overrides in realtime_runs(cfg, vit_ckpt).items():
        s = run_child(out, name, overrides)
        stages, frames = s["stage_seconds"], max(1, s["frames_analysed"])
        backbone = sum(stages.get(k, 0.0) for k in BACKBONE_STAGES)
        models = sum(stages.get(k, 0.0) for k in MODEL_STAGES)
        res[name] = {
            "realtime_factor": s["realtime_factor"],
            "processing_seconds": s["processing_seconds"],
            "video_seconds": s["video_seconds"],
            "frames_analysed": s["frames_analysed"],
            "stage_seconds": stages,
            "outside_backbone_pct": 100 * (1 - backbone / s["processing_seconds"]),
            "model_ms_per_frame": 1e3 * models / frames,
            "overhead_ms_per_frame": 1e3 * (s["processing_seconds"] - models) / frames,
            "peak_rss_mb": s["peak_rss_mb"],
            "seconds_with_loading": s["wall_seconds_with_loading"],
            "face_found_fraction": s["face_found_fraction"],
            "scene_runs_fraction": s.get("scene_fresh_fraction"),
            "detector": s.get("detector"),
        }
    return res
