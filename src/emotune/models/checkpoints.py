"""Reading one Lightning checkpoint: safe (``weights_only``), offline, phase-checked. Which checkpoints a model set
loads is :mod:`emotune.models.loading`'s."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import TypeVar

import torch

from emotune.models.base import EmotuneModule
from emotune.utils.errors import DataError, MissingResourceError

M = TypeVar("M", bound=EmotuneModule)


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


def load_module(path: str | Path, phase: str, cls: type[M], map_location: str = "cpu") -> M:
    """Rebuild ``cls`` (the ``phase`` module) from a checkpoint for inference: no network, no pretrained file,
    weights from the checkpoint; a checkpoint of another phase or version is refused with the fix."""
    ckpt = read_checkpoint(path)
    found = ckpt.get("emotune_phase")
    if found != phase:
        raise DataError(
            f"{path} is a {found or 'non-emotune'} checkpoint, but it was given as the {phase} "
            f"checkpoint; pass it as ckpt.{found} or give a {phase} checkpoint."
        )
    if not isinstance(ckpt.get("hyper_parameters"), dict):
        raise DataError(f"{path} has no hyperparameters to rebuild the {phase} model from; re-train it.")
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
