"""Load trained phases from Lightning checkpoints: safe (``weights_only``), offline, phase-checked."""

from __future__ import annotations

import logging
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast, overload

import lightning as L
import torch

from emotune.models.base import EmotuneModule
from emotune.utils.errors import DataError, MissingResourceError

if TYPE_CHECKING:  # the modules import this file to load their paths
    from emotune.models.face_module import FaceLitModule
    from emotune.models.fusion_module import FusionLitModule
    from emotune.models.music_module import MusicLitModule
    from emotune.models.scene_module import SceneLitModule

log = logging.getLogger(__name__)

PHASE_CLASSES = {
    "scene": "emotune.models.scene_module.SceneLitModule",
    "face": "emotune.models.face_module.FaceLitModule",
    "fusion": "emotune.models.fusion_module.FusionLitModule",
    "music": "emotune.models.music_module.MusicLitModule",
}


def read_checkpoint(path: str | Path) -> dict:
    """``torch.load(..., weights_only=True)`` with one-line errors for anything that is not a checkpoint."""
    path = Path(path)
    if not path.is_file():
        what = "is a folder, not a checkpoint file" if path.is_dir() else "not found"
        raise MissingResourceError(
            f"Checkpoint {what}: {path}. Train it with `python train.py phase=...` or `make demo`."
        )
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Unsupported global" not in str(exc):  # not a pickle of objects: just not a checkpoint
            raise DataError(f"{path} is not a readable PyTorch checkpoint (corrupt or another format).") from None
        raise DataError(
            f"{path} needs pickled Python objects to load, which could run code; refusing it "
            f"({str(exc).splitlines()[0][:120]}). Re-save it with plain hyperparameters."
        ) from None
    except Exception as exc:  # torch.load raises many types on foreign files (zip, npz, text, images...)
        raise DataError(f"{path} is not a readable PyTorch checkpoint ({type(exc).__name__}).") from None
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("state_dict"), dict):
        raise DataError(f"{path} is not a Lightning checkpoint (no state_dict).")
    return ckpt


@overload
def load_phase_module(path: str | Path, phase: Literal["scene"], map_location: str = ...) -> SceneLitModule: ...
@overload
def load_phase_module(path: str | Path, phase: Literal["face"], map_location: str = ...) -> FaceLitModule: ...
@overload
def load_phase_module(path: str | Path, phase: Literal["fusion"], map_location: str = ...) -> FusionLitModule: ...
@overload
def load_phase_module(path: str | Path, phase: Literal["music"], map_location: str = ...) -> MusicLitModule: ...
@overload
def load_phase_module(path: str | Path, phase: str, map_location: str = ...) -> L.LightningModule: ...
def load_phase_module(path: str | Path, phase: str, map_location: str = "cpu") -> L.LightningModule:
    """Load a trained phase for inference: no network, no pretrained file, weights from the checkpoint."""
    import hydra

    ckpt = read_checkpoint(path)
    found = ckpt.get("emotune_phase")
    if found != phase:
        raise DataError(
            f"{path} is a {found or 'non-emotune'} checkpoint, but it was given as the {phase} "
            f"checkpoint; pass it as ckpt.{found} or give a {phase} checkpoint."
        )
    if not isinstance(ckpt.get("hyper_parameters"), dict):
        raise DataError(f"{path} has no hyperparameters to rebuild the {phase} model from; re-train it.")
    cls = cast("type[EmotuneModule]", hydra.utils.get_class(PHASE_CLASSES[phase]))
    hparams = ckpt["hyper_parameters"]
    legacy = {k: v for k, v in cls.restore_kwargs(hparams).items() if k not in hparams}  # settings it predates
    try:
        module = cls.load_from_checkpoint(
            path, map_location=map_location, weights_only=True, load_pretrained=False, **legacy
        )
    except (TypeError, KeyError, RuntimeError, ValueError) as exc:  # hparams or weights of another version
        first = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise DataError(f"{path} does not rebuild a {phase} model ({first}); re-train it with this version.") from None
    return module.eval()


@dataclass
class TrainedModels:
    """The trained phases ``infer.py`` chains: the scene path, and optionally the face path and their fusion."""

    scene: SceneLitModule
    face: FaceLitModule | None = None
    fusion: FusionLitModule | None = None


CHECKPOINT_DIR = "checkpoints"  # a run dir's checkpoints (conf/callbacks/model_checkpoint.yaml writes them there)


def best_checkpoint(run_dir: str | Path) -> Path:
    """``<run_dir>/checkpoints/best.ckpt``: the best epoch of a training run, what ``infer.py`` loads (the one
    spelling of that layout in Python; ``tests/test_config_homes.py`` checks the callback config writes it)."""
    return Path(run_dir) / CHECKPOINT_DIR / "best.ckpt"


def last_checkpoint(run_dir: str | Path) -> Path:
    """``<run_dir>/checkpoints/last.ckpt``: the latest epoch (what ``resume=true`` continues from)."""
    return Path(run_dir) / CHECKPOINT_DIR / "last.ckpt"


def resolve_checkpoints(
    dir: str | None, scene: str | None, face: str | None, fusion: str | None
) -> dict[str, str | None]:
    """Each phase's checkpoint: as given, else ``<dir>/<phase>/checkpoints/best.ckpt`` when it exists."""
    out: dict[str, str | None] = {}
    for phase, given in (("scene", scene), ("face", face), ("fusion", fusion)):
        if not given and dir:
            cand = best_checkpoint(Path(dir) / phase)
            given = str(cand) if cand.is_file() else None
        out[phase] = given
    if not out["scene"] and not out["fusion"]:
        raise MissingResourceError(
            "No scene checkpoint: give ckpt.dir=DIR (with scene/face/fusion subfolders, e.g. outputs/demo after "
            "`make demo`) or ckpt.scene=PATH [ckpt.face=PATH ckpt.fusion=PATH]."
        )
    return out


def load_trained(*, dir: str | None, scene: str | None, face: str | None, fusion: str | None) -> TrainedModels:
    """Scene, face and fusion modules for inference (``conf/perceive``'s ``models`` node).

    A fusion checkpoint carries both paths; an explicit scene or face checkpoint replaces its copy.
    """
    paths = resolve_checkpoints(dir, scene, face, fusion)
    fused = load_phase_module(paths["fusion"], "fusion") if paths["fusion"] else None
    if paths["scene"]:
        scene_m = load_phase_module(paths["scene"], "scene")
    else:
        assert fused is not None  # resolve_checkpoints gives a scene or a fusion checkpoint
        scene_m = fused.scene
    face_m = load_phase_module(paths["face"], "face") if paths["face"] else (fused.face if fused is not None else None)
    log.info("Models: %s", {k: v for k, v in paths.items() if v})
    return TrainedModels(scene_m, face_m, fused)
