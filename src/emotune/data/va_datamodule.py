"""LightningDataModule for FindingEmo-format data (the real set or the embedded synthetic one).

One module, three views: ``scene`` (whole image), ``face`` (crop of the chosen face; images
without a face are left out) and ``both`` (image + crop + ``has_face``, for fusion).
Targets are on the [-1, 1] reference (FindingEmo v/3, (a-3)/3). Preprocessing, the face crop's
margin included, comes from the model (:meth:`VADataModule.configure_inputs`).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from emotune.data.findingemo import read_annotations, resolve_annotations
from emotune.data.splits import HELD_OUT_PARTS, annotation_fingerprint, halve_held_out, load_or_make_split
from emotune.data.transforms import build_transform
from emotune.data.va_dataset import VADataset, View, make_loader
from emotune.data.validation import read_validation
from emotune.detect.cache import build_face_cache
from emotune.detect.detectors import FACE_POLICIES, FaceDetector
from emotune.utils.errors import ConfigError, DataError, check_choice, check_range
from emotune.utils.io import safe_join
from emotune.utils.scales import FINDINGEMO, VAScale

log = logging.getLogger(__name__)

# conf/detector/'s options, the likeliest to find a face first (yunet last: its model is downloaded when online)
DETECTOR_OPTIONS = ("blazeface", "mtcnn", "yuface", "retinaface", "haar", "yunet")
MIN_FACE_IMAGES = {"train": 16, "val": 4}  # fewer detected faces than this and the face phase cannot learn


class VADataModule(L.LightningDataModule):
    """FindingEmo-format data for the scene, face and fusion phases (subclasses read other formats: override
    :meth:`_rows` and :attr:`label_scale`).

    Args:
        root: the data set folder (``annotations_single.ann``, images, split, caches).
        view: ``scene`` | ``face`` | ``both`` (set by ``phase/``).
        annotations: the annotation file; ``None``: ``<root>/annotations_single.ann``, else findingemo-light's.
        image_root: where the ``/Run_*/...`` image paths start (``None``: ``<root>/images``).
        split_file: the saved split (``None``: ``<root>/splits.csv``).
        split_seed: seed of a new split.
        train_split / val_split / test_splits: split names used for each stage; ``val_fit`` / ``val_select`` are the
            two halves of ``val`` (the fusion is fitted on one and chosen on the other).
        detector: the face detector (face and fusion views).
        face_policy: ``largest`` or ``confident`` face when there are several.
        cache_dir: face-detection cache folder.
        batch_size / num_workers: loader settings.
        augment: random crops, flips and colour jitter on the training split.
        shuffle: the training batches in a new random order each epoch (``False``: the split's order).
        face_color_jitter: colour jitter of training face crops (0..1; 1: any hue, wide brightness and saturation),
            so the background's colour at a crop's corners cannot stand in for the expression.
        in_memory: keep decoded images in memory (small sets, many epochs).
        limit_per_split: at most this many rows per split (quick checks).

    Every setting but ``detector`` (built by ``train.py`` from the ``detector`` group) is required:
    ``conf/data/*.yaml`` is its one home.
    """

    label_scale: VAScale = FINDINGEMO  # the labels' own scale; targets are mapped onto [-1, 1] from it

    def __init__(
        self,
        *,
        root: str,
        view: View,
        annotations: str | None,
        image_root: str | None,
        split_file: str | None,
        split_seed: int,
        train_split: str,
        val_split: str,
        test_splits: tuple[str, ...] | list[str],
        face_policy: str,
        cache_dir: str | None,
        batch_size: int,
        num_workers: int,
        augment: bool,
        shuffle: bool,
        in_memory: bool,
        limit_per_split: int | None,
        face_color_jitter: float,
        detector: FaceDetector | None = None,
    ) -> None:
        super().__init__()
        check_choice("data.view", view, ("scene", "face", "both"))
        self.face_policy = check_choice("data.face_policy", face_policy, FACE_POLICIES)
        if batch_size < 1:
            raise ConfigError(f"data.batch_size={batch_size} must be >= 1.")
        if view != "scene" and detector is None:
            first, *others = DETECTOR_OPTIONS
            raise ConfigError(
                f"data.view={view} needs a face detector; set `detector={first}` (or {', '.join(others)})."
            )
        self.root = Path(root)
        self.annotations = annotations
        self.image_root = Path(image_root) if image_root else self.root / "images"
        self.split_file = Path(split_file) if split_file else self.root / "splits.csv"
        self.cache_dir = Path(cache_dir) if cache_dir else self.root / "cache"
        self.view, self.detector, self.split_seed = view, detector, split_seed
        self.train_split, self.val_split = train_split, val_split
        self.test_splits = list(test_splits)
        self.batch_size, self.num_workers = batch_size, num_workers
        self.augment, self.shuffle, self.in_memory, self.limit_per_split = augment, shuffle, in_memory, limit_per_split
        self.face_color_jitter = check_range("data.face_color_jitter", face_color_jitter, 0.0, 1.0)
        self.data_configs: dict[str, dict] = {}
        self.datasets: dict[str, VADataset] = {}
        self.test_split_names: list[str] = []
        self.stats: dict[str, Any] = {}

    def configure_inputs(self, data_configs: dict[str, dict]) -> None:
        """Preprocessing from the model: ``{"image": cfg, "face": cfg}`` (size, mean, std, face crop margin)."""
        self.data_configs = dict(data_configs)

    @property
    def face_margin(self) -> float:
        """The face crop margin (the face model's own, from its data config)."""
        return float(self.data_configs.get("face", {}).get("face_margin", 0.0))

    def _rows(self) -> pd.DataFrame:
        """Usable rows: ``image_path`` (under ``image_root``), ``valence``, ``arousal`` (on :attr:`label_scale`),
        optionally ``ambiguity``, and ``split``."""
        ann = resolve_annotations(self.annotations, self.root, self.image_root)
        self.stats["annotations"] = str(ann)
        df = read_annotations(ann)
        if "report" in df.attrs:
            self.stats["labels"] = dataclasses.asdict(df.attrs["report"])  # rows dropped for bad labels, counted
        fingerprint = annotation_fingerprint(df)
        manifest = self.root / "manifest.csv"
        validation = read_validation(self.root)
        if manifest.is_file():  # rows that passed the validation pass (make validate-findingemo)
            keep = set(pd.read_csv(manifest, dtype=str, keep_default_na=False)["image_path"])
            df = df[df["image_path"].isin(keep)].reset_index(drop=True)
            if validation:
                self.stats["validation"] = {k: validation[k] for k in ("total", "usable", "missing", "unreadable")}
        else:
            exists = np.array([safe_join(self.image_root, p).is_file() for p in df["image_path"]])
            if (~exists).any():
                log.warning(
                    "%d of %d images are missing under %s and are skipped.",
                    int((~exists).sum()),
                    len(df),
                    self.image_root,
                )
            df = df[exists].reset_index(drop=True)
            self.stats["missing_images"] = int((~exists).sum())
        if df.empty:
            raise DataError(f"None of the annotated images exist under {self.image_root}; check data.image_root.")
        df["split"] = load_or_make_split(df, self.split_file, fingerprint, seed=self.split_seed)
        return df

    def prepare_data(self) -> None:
        """Lightning runs this once per node (local rank zero) before ``setup``: write the split file and build
        the face-detection cache there, so the other ranks only read them."""
        df = self._rows()
        if self.view != "scene":
            assert self.detector is not None  # __init__ requires one for the face views
            build_face_cache(df["image_path"].tolist(), self.image_root, self.detector, self.cache_dir)

    def setup(self, stage: str | None = None) -> None:
        """Build the datasets of every split used."""
        if self.datasets:
            return
        if not self.data_configs:
            raise ConfigError("VADataModule.configure_inputs(model.data_configs) must be called before setup().")
        df = self._rows()
        if {self.train_split, self.val_split} & set(HELD_OUT_PARTS):  # a second stage: fit / choose on val's halves
            df["split"] = halve_held_out(df["split"], df["image_path"], seed=self.split_seed)
        boxes: dict[str, list] = {}
        if self.view != "scene":
            assert self.detector is not None  # __init__ requires one for the face views
            boxes = build_face_cache(df["image_path"].tolist(), self.image_root, self.detector, self.cache_dir)
            readable = df["image_path"].isin(set(boxes))
            if (~readable).any():
                log.warning("%d unreadable image(s) skipped.", int((~readable).sum()))
                self.stats["unreadable_images"] = int((~readable).sum())
                df = df[readable].reset_index(drop=True)
            has_face = df["image_path"].map(lambda p: bool(boxes.get(p)))
            self.stats["face_found_fraction"] = float(has_face.mean())
            if self.view == "face":
                self._check_faces(df, has_face)
                df = df[has_face].reset_index(drop=True)
        train_rows = df[df["split"] == ("train" if (df["split"] == "train").any() else self.train_split)]
        va = torch.tensor(
            self.label_scale.to_ref(train_rows[["valence", "arousal"]].to_numpy(np.float64)), dtype=torch.float32
        )
        self._label_moments = (va.mean(0), va.var(0, unbiased=False).clamp_min(1e-6))
        image_cfg, face_cfg = self.data_configs.get("image"), self.data_configs.get("face")
        tf = {
            "image": (build_transform(image_cfg, train=True), build_transform(image_cfg))
            if image_cfg
            else (None, None),
            "face": (
                build_transform(face_cfg, train=True, color_jitter=self.face_color_jitter),
                build_transform(face_cfg),
            )
            if face_cfg
            else (None, None),
        }
        for name in dict.fromkeys([self.train_split, self.val_split, *self.test_splits]):
            rows = df[df["split"] == name]
            if self.limit_per_split:
                rows = rows.iloc[: self.limit_per_split]
            if rows.empty:
                if name in (self.train_split, self.val_split):
                    raise DataError(
                        f"Split {name!r} is empty in {self.split_file}; delete the file to re-split, or check the data."
                    )
                continue
            train = name == self.train_split and self.augment
            k = 0 if train else 1
            self.datasets[name] = VADataset(
                rows,
                self.image_root,
                self.view,
                boxes,
                tf["image"][k],
                tf["face"][k],
                self.face_margin,
                self.face_policy,
                self.in_memory,
                int(face_cfg["input_size"]) if face_cfg else 64,
                self.label_scale,
                int(face_cfg.get("channels", 3)) if face_cfg else 3,
            )
        self.test_split_names = [s for s in self.test_splits if s in self.datasets]
        self.stats["sizes"] = {k: len(v) for k, v in self.datasets.items()}
        log.info("Data (%s view): %s", self.view, self.stats["sizes"])

    def _check_faces(self, df: pd.DataFrame, has_face: pd.Series) -> None:
        """The face phase needs detected faces in train and val; say which detector found how many."""
        counts = {
            s: (int(has_face[df["split"] == s].sum()), int((df["split"] == s).sum()))
            for s in (self.train_split, self.val_split, *self.test_splits)
        }
        self.stats["faces_per_split"] = {s: {"with_face": f, "images": n} for s, (f, n) in counts.items()}
        short = [
            s
            for s, need in ((self.train_split, MIN_FACE_IMAGES["train"]), (self.val_split, MIN_FACE_IMAGES["val"]))
            if counts[s][0] < need
        ]
        if short:
            found = ", ".join(f"{s} {f}/{n}" for s, (f, n) in counts.items())
            name = getattr(self.detector, "name", type(self.detector).__name__)
            raise DataError(
                f"Too few detected faces for the face phase: detector={name} found faces in {found} images "
                f"(need at least {MIN_FACE_IMAGES['train']} in {self.train_split} and {MIN_FACE_IMAGES['val']} in "
                f"{self.val_split}). Try another detector ("
                + ", ".join(f"detector={d}" for d in DETECTOR_OPTIONS if d != name)
                + ") or check that the images show people."
            )

    def train_label_moments(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and variance of the ``train`` split's labels (the constant baseline's prediction and variance)."""
        return self._label_moments

    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        return make_loader(self.datasets[name], self.batch_size, self.num_workers, shuffle)

    def train_dataloader(self) -> DataLoader:
        """The training batches (shuffled unless ``shuffle`` is off)."""
        return self._loader(self.train_split, shuffle=self.shuffle)

    def val_dataloader(self) -> DataLoader:
        """Validation batches."""
        return self._loader(self.val_split, shuffle=False)

    def test_dataloader(self) -> list[DataLoader]:
        """One loader per test split present."""
        if not self.test_split_names:
            raise DataError(f"No test split among {self.test_splits} has rows; check {self.split_file}.")
        return [self._loader(n, shuffle=False) for n in self.test_split_names]
