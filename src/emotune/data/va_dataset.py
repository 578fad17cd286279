"""The FindingEmo-format dataset: one split's rows as scene images, face crops or both, and the shared loader."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypedDict, cast

import cv2
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from emotune.detect.context import face_context
from emotune.detect.detectors import FacePolicy, as_dets, choose_face, crop_face
from emotune.utils.io import file_stamp, safe_join
from emotune.utils.scales import FINDINGEMO, VAScale

log = logging.getLogger(__name__)

View = Literal["scene", "face", "both"]


class VABatch(TypedDict, total=False):
    """One batch of the FindingEmo-format data (keys present depend on the view)."""

    image: torch.Tensor  # (B, 3, H, W) normalised with the scene backbone's mean/std
    face: torch.Tensor  # (B, 3, h, w) face crop; zeros when no face was found
    has_face: torch.Tensor  # (B,) bool
    context: torch.Tensor  # (B, len(detect.context.CONTEXT_COLUMNS)): what the image shows of the face; zeros without
    va: torch.Tensor  # (B, 2) float32 on [-1, 1]
    ambiguity: torch.Tensor  # (B,) the annotator's ambiguity rating / 6 (0..1), -1 where unknown
    key: list[str]  # identity of each input (feature caches)


def load_rgb(path: Path) -> np.ndarray | None:
    """HxWx3 uint8 RGB, or ``None`` when the file is missing or does not decode."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return None if img is None else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


class VADataset(Dataset):
    """Rows of one split. Decoded images can be held in memory (small sets, many epochs)."""

    def __init__(
        self,
        rows: pd.DataFrame,
        image_root: Path,
        view: View,
        boxes: dict[str, list],
        image_tf: Any,
        face_tf: Any,
        face_margin: float,
        face_policy: FacePolicy,
        in_memory: bool,
        face_size: int = 64,
        label_scale: VAScale = FINDINGEMO,
        face_channels: int = 3,
    ) -> None:
        self.rows = rows.reset_index(drop=True)
        self.image_root, self.view = image_root, view
        self.image_tf, self.face_tf = image_tf, face_tf
        self.boxes, self.face_margin, self.face_policy = boxes, face_margin, face_policy
        va = label_scale.to_ref(self.rows[["valence", "arousal"]].to_numpy(np.float64))
        self.va = torch.tensor(va, dtype=torch.float32)
        amb = self.rows["ambiguity"].to_numpy(np.float64) if "ambiguity" in self.rows else np.full(len(self.rows), -1.0)
        self.ambiguity = torch.tensor(np.where(amb >= 0, amb / 6.0, -1.0), dtype=torch.float32)  # 0..1, -1: unknown
        self._mem: dict[int, np.ndarray] = {}
        self.in_memory, self.face_size, self.face_channels = in_memory, face_size, face_channels
        # Feature-cache keys name the image file's version (size, mtime) and, for crops, the margin and box:
        # an edited image or another margin never gets a stale cached feature.
        self.stamps = [file_stamp(safe_join(image_root, p)) for p in self.rows["image_path"]]

    def __len__(self) -> int:
        return len(self.rows)

    def _image(self, i: int) -> np.ndarray:
        if i in self._mem:
            return self._mem[i]
        img = load_rgb(safe_join(self.image_root, self.rows.at[i, "image_path"]))
        if img is None:  # vanished since validation: a black image keeps the batch shape, and we say so
            log.warning("Image became unreadable: %s", self.rows.at[i, "image_path"])
            img = np.zeros((64, 64, 3), np.uint8)
        if self.in_memory:
            self._mem[i] = img
        return img

    def __getitem__(self, i: int) -> dict:
        rel = self.rows.at[i, "image_path"]
        img = self._image(i)
        out: dict[str, Any] = {
            "va": self.va[i],
            "ambiguity": self.ambiguity[i],
            "key": f"{rel}|{self.stamps[i]}|{self.view}",
        }
        if self.view in ("scene", "both"):
            out["image"] = self.image_tf(torch.from_numpy(img).permute(2, 0, 1))
        if self.view in ("face", "both"):
            dets = as_dets(self.boxes.get(rel, []))
            box = choose_face(dets, self.face_policy)
            out["has_face"] = torch.tensor(box is not None)
            crop = crop_face(img, box, self.face_margin) if box is not None else None
            out["context"] = torch.from_numpy(face_context(img.shape[:2], box, len(dets), crop))
            if box is not None and crop is not None:
                out["face"] = self.face_tf(torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1))
                out["key"] += f"|m{self.face_margin:g}|" + ",".join(f"{v:.1f}" for v in box[:4])
            else:
                out["face"] = torch.zeros(self.face_channels, self.face_size, self.face_size)
        return out


def collate(items: list[dict]) -> VABatch:
    """Stack tensors; keep keys as a list."""
    batch: dict[str, Any] = {"key": [it["key"] for it in items]}
    for k in items[0]:
        if k != "key":
            batch[k] = torch.stack([it[k] for it in items])
    return cast(VABatch, batch)  # every key of the items, stacked


def make_loader(
    dataset: Dataset, batch_size: int, num_workers: int, shuffle: bool, collate_fn: Callable = collate
) -> DataLoader:
    """The DataLoader every datamodule uses (workers kept alive between epochs)."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        collate_fn=collate_fn,
        persistent_workers=num_workers > 0,
    )
