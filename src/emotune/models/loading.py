"""Load trained phases from Lightning checkpoints: safe (``weights_only``), offline, phase-checked."""

from __future__ import annotations

import pickle
from pathlib import Path

import lightning as L
import torch

from emotune.utils.errors import DataError, MissingResourceError

PHASE_CLASSES = {
    "scene": "emotune.models.scene_module.SceneLitModule",
    "face": "emotune.models.face_module.FaceLitModule",
    "fusion": "emotune.models.fusion_module.FusionLitModule",
}


def read_checkpoint(path: str | Path) -> dict:
    """``torch.load(..., weights_only=True)`` with one-line errors for the usual mistakes."""
    path = Path(path)
    if not path.is_file():
        raise MissingResourceError(
            f"Checkpoint not found: {path}. Train it with `python train.py phase=...` or `make demo`."
        )
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Unsupported global" not in str(exc):  # not a pickle of objects: just not a checkpoint
            raise DataError(
                f"{path} is not a readable PyTorch checkpoint (corrupt or another format)."
            ) from None
        raise DataError(
            f"{path} needs pickled Python objects to load, which could run code; refusing it "
            f"({str(exc).splitlines()[0][:120]}). Re-save it with plain hyperparameters."
        ) from None
    except (RuntimeError, EOFError, ValueError, OSError) as exc:
        raise DataError(f"{path} is not a readable PyTorch checkpoint ({type(exc).__name__}).") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise DataError(f"{path} is not a Lightning checkpoint (no state_dict).")
    return ckpt


def checkpoint_phase(ckpt: dict) -> str | None:
    """The phase recorded in a checkpoint (``scene`` / ``face`` / ``fusion``)."""
    return ckpt.get("emotune_phase")


def load_phase_module(path: str | Path, phase: str, map_location: str = "cpu") -> L.LightningModule:
    """Load a trained phase for inference: no network, no pretrained file, weights from the checkpoint."""
    import hydra

    ckpt = read_checkpoint(path)
    found = checkpoint_phase(ckpt)
    if found != phase:
        raise DataError(
            f"{path} is a {found or 'non-emotune'} checkpoint, but it was given as the {phase} "
            f"checkpoint; pass it as ckpt.{found} or give a {phase} checkpoint."
        )
    cls = hydra.utils.get_class(PHASE_CLASSES[phase])
    module = cls.load_from_checkpoint(
        path, map_location=map_location, weights_only=True, load_pretrained=False
    )
    module.face_margin = ckpt.get("emotune_face_margin")
    return module.eval()


def encoder_from_checkpoint(ckpt_path: str, phase: str, freeze: bool = True) -> L.LightningModule:
    """A trained phase as a frozen sub-module (used by the fusion phase)."""
    module = load_phase_module(ckpt_path, phase)
    return module.requires_grad_(not freeze)
