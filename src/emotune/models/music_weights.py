"""The committed default music labeller: a small head shipped as package data, and how it is made.

``src/emotune/models/weights/music_fourq.ckpt`` is a slim music-phase checkpoint (descriptor standardiser +
V-A head, plain hyperparameters; it loads with :func:`emotune.models.loading.load_phase_module`), and
``music_fourq.json`` beside it says which data trained it, which split, the exact commands that reproduce it
and the ids of every clip it was fitted or selected on (``make eval-music`` leaves those out).

Reproduce it::

    python train.py phase=music data=fourq data.root=../shared/data/real/music4q experiment=music_fourq \\
        hydra.run.dir=outputs/music_fourq
    python -m emotune.models.music_weights run_dir=outputs/music_fourq
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import lightning as L
import torch
import yaml
from omegaconf import DictConfig

from emotune.models.loading import best_checkpoint
from emotune.utils.command import command
from emotune.utils.errors import DataError, MissingResourceError
from emotune.utils.io import atomic_path, write_json_atomic

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_NAME = "music_fourq"
MAX_BYTES = 1_000_000


def default_music_checkpoint() -> Path:
    """The packaged default labeller (``make library`` without ``CKPT``)."""
    return WEIGHTS_DIR / f"{DEFAULT_NAME}.ckpt"


def sidecar_path(ckpt: str | Path) -> Path:
    """``<name>.json`` beside a checkpoint: what trained it."""
    return Path(ckpt).with_suffix(".json")


def read_sidecar(ckpt: str | Path) -> dict[str, Any]:
    """The checkpoint's sidecar (``{}`` when there is none, e.g. a checkpoint from a training run)."""
    p = sidecar_path(ckpt)
    return json.loads(p.read_text()) if p.is_file() else {}


def fitted_song_ids(ckpt: str | Path) -> dict[str, set[str]]:
    """Per data set, the ids of the clips a checkpoint was fitted or selected on (train and val splits)."""
    meta = read_sidecar(ckpt)
    return {meta["data"]["format"]: set(meta["fitted_on"])} if meta.get("fitted_on") else {}


def checkpoint_digest(path: str | Path) -> str:
    """A short content hash (a relabelling key that survives a fresh clone's new file times)."""
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()[:16]


def _command(run: Path) -> str:
    overrides = yaml.safe_load((run / ".hydra" / "overrides.yaml").read_text()) or []
    return "python train.py " + " ".join(str(o) for o in overrides)


def save_head(module: L.LightningModule, out: str | Path, meta: dict[str, Any]) -> Path:
    """Write a fitted music module as a slim package checkpoint (weights, plain hyperparameters without machine
    paths, the phase tag) plus its sidecar ``meta`` (with the checkpoint's hash); refuses more than 1 MB."""
    hp = dict(module.hparams)
    hp["cache_dir"] = None  # a path of the training machine
    if isinstance(hp.get("backbone"), dict):
        hp["backbone"] = {k: v for k, v in hp["backbone"].items() if k != "cache_dir"}
    slim = {
        "state_dict": {k: v.detach().cpu() for k, v in module.state_dict().items()},
        "hyper_parameters": hp,
        "emotune_phase": "music",
        "pytorch-lightning_version": L.__version__,
    }
    return _write(slim, Path(out), meta)


def _write(slim: dict[str, Any], out: Path, meta: dict[str, Any]) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        torch.save(slim, tmp)
    if out.stat().st_size > MAX_BYTES:
        raise DataError(f"{out} is {out.stat().st_size} bytes; a committed head must stay under {MAX_BYTES}.")
    write_json_atomic(sidecar_path(out), {**meta, "sha1_16": checkpoint_digest(out)})
    return out


def export_head(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write a training run's best music checkpoint as a slim package checkpoint plus its sidecar.

    Keeps the weights, the plain hyperparameters (machine paths removed) and the phase tag; drops optimizer
    and loop state.
    """
    run = Path(run_dir)
    best, stats_path = best_checkpoint(run), run / "data_stats.json"
    for p in (best, stats_path, run / ".hydra" / "config.yaml"):
        if not p.is_file():
            raise MissingResourceError(
                f"{p} not found: give the folder of a finished `python train.py phase=music` run."
            )
    ckpt = torch.load(best, map_location="cpu", weights_only=True)
    if ckpt.get("emotune_phase") != "music":
        raise DataError(f"{best} is a {ckpt.get('emotune_phase')} checkpoint, not a music one.")
    hp = dict(ckpt["hyper_parameters"])
    hp["cache_dir"] = None  # a path of the training machine
    if isinstance(hp.get("backbone"), dict):
        hp["backbone"] = {k: v for k, v in hp["backbone"].items() if k != "cache_dir"}
    cfg = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())
    stats = json.loads(stats_path.read_text())
    ids = stats.get("song_ids", {})
    metrics = json.loads((run / "metrics.json").read_text()) if (run / "metrics.json").is_file() else {}
    kind = hp.get("data_config", {}).get("kind", "log_mel")
    meta = {
        "model": (
            "descriptors (src/emotune/audio/descriptors.py) -> standardiser"
            if kind == "descriptors"
            else f"log-mel -> {hp['backbone'].get('name')}"
        )
        + " -> V-A head (MC Dropout + heteroscedastic sigma)",
        "data": {"format": cfg["data"]["format"], "root": str(cfg["data"]["root"]), "songs": stats.get("songs")},
        "split": {
            "seed": cfg["data"]["split_seed"],
            "fractions": cfg["data"]["split_fractions"],
            "sizes": stats.get("sizes"),
            "note": "seeded, stratified on the quadrant; train fits the weights, val picks the epoch and fits "
            "the sigma calibration; test is never seen in training",
        },
        "fitted_on": sorted(ids.get("train", []) + ids.get("val", [])),
        "test_ids": sorted(ids.get("test", [])),
        "commands": [_command(run) + f" hydra.run.dir={run}", f"python -m emotune.models.music_weights run_dir={run}"],
        "val_metrics": {k: v for k, v in metrics.items() if k.startswith("val/")},
        "licence": "MIT (this repository); trained on the 4Q audio emotion data set (research use)",
    }
    out = Path(out) if out else default_music_checkpoint()
    slim = {
        "state_dict": ckpt["state_dict"],
        "hyper_parameters": hp,
        "emotune_phase": "music",
        "pytorch-lightning_version": ckpt.get("pytorch-lightning_version", ""),
    }
    return _write(slim, out, meta)


@command("music_weights")
def main(cfg: DictConfig) -> None:
    """CLI: ``python -m emotune.models.music_weights run_dir=RUN_DIR [out=FILE.ckpt]``."""
    out = export_head(str(cfg.run_dir), str(cfg.out) if cfg.out else None)
    print(f"{out} ({out.stat().st_size / 1024:.0f} KB) and {sidecar_path(out).name}")


if __name__ == "__main__":
    main()
