"""A model set from its run dirs: which checkpoint each phase loads (``<dir>/<phase>/checkpoints/best.ckpt``) and
the trained phases ``infer.py`` chains. Reading one checkpoint is :mod:`emotune.models.checkpoints`'s."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast, overload

import hydra
import lightning as L

from emotune.models.base import EmotuneModule
from emotune.models.checkpoints import load_module
from emotune.utils.errors import MissingResourceError

if TYPE_CHECKING:  # the classes are imported when a phase is loaded (PHASE_CLASSES), not with this module
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
    """Load a trained phase for inference (:func:`emotune.models.checkpoints.load_module` with the phase's class)."""
    return load_module(
        path, phase, cast("type[EmotuneModule]", hydra.utils.get_class(PHASE_CLASSES[phase])), map_location
    )


@dataclass
class TrainedModels:
    """The trained phases ``infer.py`` chains: the scene path, and optionally the face path and their fusion."""

    scene: SceneLitModule
    face: FaceLitModule | None = None
    fusion: FusionLitModule | None = None
    checkpoints: dict[str, str | None] = field(default_factory=dict)  # phase -> the file it came from (None: absent)

    @property
    def paths_run(self) -> list[str]:
        """The phases that run: ``scene`` always, ``face`` and ``fusion`` when their models were found."""
        return [p for p, m in (("scene", self.scene), ("face", self.face), ("fusion", self.fusion)) if m is not None]

    @property
    def missing(self) -> list[str]:
        """The phases that do not run (no checkpoint of their own, none inside a fusion checkpoint)."""
        return [p for p in ("scene", "face", "fusion") if p not in self.paths_run]


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
    models = TrainedModels(scene_m, face_m, fused, checkpoints=dict(paths))
    log.info("Models: %s", {k: v for k, v in paths.items() if v})
    if models.missing:
        where = f"under ckpt.dir={dir} " if dir else ""
        log.warning(
            "No %s checkpoint %s(ckpt.%s=PATH gives one): only the %s path%s run%s.",
            " or ".join(models.missing), where, models.missing[0], " and ".join(models.paths_run),
            "s" * (len(models.paths_run) > 1), "" if len(models.paths_run) > 1 else "s",
        )  # fmt: skip
    return models
