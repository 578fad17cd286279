"""What ``make eval-real`` needs besides the metrics: the cross-fitting folds of a model set, a seeded subsample, and
the embedded benchmark's rows with a face from the demo fusion run."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import torch

from emotune.models.checkpoints import read_checkpoint
from emotune.runtime.real_models import FOLDS_KEY

BENCHMARK_SPLITS = ("test_face", "test_shifted_face")
BENCHMARK_PATHS = ("scene", "face", "context")


class FoldSwitch:
    """Puts into a perceiver the cross-fitting fold that never saw an image (by its content id) before it is perceived,
    and the pieces fitted on all rows for images no fold saw; counts how many images were scored by a fold."""

    def __init__(self, perceiver: Any, folds: dict[str, Any]) -> None:
        self.perceiver, self.fold_of = perceiver, dict(folds["fold_of"])
        self.face_folds, self.fusion_folds = list(folds["face"]), list(folds["fusion"])
        self.full_face = {k: v.clone() for k, v in perceiver.face.state_dict().items() if k.startswith("head.")}
        self.full_fusion = {k: v.clone() for k, v in perceiver.fusion.context_fusion.state_dict().items()}
        self.current: int | None = None
        self.cross_fitted = 0

    @classmethod
    def of(cls, perceiver: Any, fusion_ckpt: Path) -> FoldSwitch | None:
        """The switch for a model set whose fusion checkpoint keeps folds, else ``None``."""
        if perceiver.fusion is None or perceiver.face is None or not fusion_ckpt.is_file():
            return None
        folds = read_checkpoint(fusion_ckpt).get(FOLDS_KEY)
        return cls(perceiver, folds) if folds else None

    def _load(self, fold: int | None) -> None:
        if fold == self.current:
            return
        face = self.full_face if fold is None else self.face_folds[fold]
        fusion = self.full_fusion if fold is None else self.fusion_folds[fold]
        with torch.no_grad():
            self.perceiver.face.load_state_dict(face, strict=False)
            self.perceiver.fusion.context_fusion.load_state_dict(fusion)
        self.current = fold

    def __call__(self, content: str) -> None:
        """Before perceiving the image ``content``."""
        fold = self.fold_of.get(content)
        self.cross_fitted += fold is not None
        self._load(fold)

    def restore(self) -> None:
        """The pieces fitted on all rows again."""
        self._load(None)


def subsample(images: list, limit: int | None, seed: int = 0) -> list:
    """At most ``limit`` items, drawn at random (seeded), in their order; all without a limit."""
    if limit is None or len(images) <= int(limit):
        return images
    keep = sorted(random.Random(seed).sample(range(len(images)), int(limit)))
    return [images[i] for i in keep]


def benchmark_part(run_dir: Path) -> dict[str, Any]:
    """The demo fusion run's CCC per path on the benchmark's test images with a face, plain and with the context
    shifted (``{}`` when the run is not there)."""
    path = run_dir / "metrics.json"
    if not path.is_file():
        return {}
    m = json.loads(path.read_text())
    out: dict[str, Any] = {"run": str(run_dir)}
    for split in BENCHMARK_SPLITS:
        row = {
            p: {d: m.get(f"{split}/{p}/{d}_ccc", float("nan")) for d in ("valence", "arousal")} for p in BENCHMARK_PATHS
        }
        row["n"] = m.get(f"{split}/n", float("nan"))
        out[split] = row
    return out
