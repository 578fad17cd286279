"""A synthetic data set in the FindingEmo format: ``annotations_single.ann`` + an image folder.

Each image shows a scene context and (usually) a drawn face. The main face's expression encodes
the latent V-A exactly; the context correlates with it in train/val/test but is drawn
independently in ``test_shifted``, so a model that learned the context instead of the faces is
caught there. Some images have no face (``NoPeople`` tag), some a second, smaller face with an
unrelated expression.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from emotune.data.findingemo import PLUTCHIK, write_annotations
from emotune.data.splits import annotation_fingerprint, make_split, save_split
from emotune.data.scales import FINDINGEMO
from emotune.synthetic.drawing import FaceStyle, add_noise, draw_context, draw_face
from emotune.utils.io import atomic_path

log = logging.getLogger(__name__)

RUN_IN = "Run_1/Synthetic scenes"
RUN_SHIFTED = "Run_2/Shifted context"


@dataclass
class SyntheticSpec:
    """Size and difficulty of the synthetic FindingEmo-format set."""

    n_images: int = 3000  # in-distribution images (split into train/val/test)
    n_shifted: int = 400  # extra test_shifted images
    image_size: int = 160
    p_no_face: float = 0.08
    p_two_faces: float = 0.15
    context_noise: float = 0.25  # std (reference units) of context around the label in-distribution
    label_noise: float = 0.25  # annotator noise (FE units) before rounding to integers
    seed: int = 0


def emotion_from_va(v: float, a: float) -> str:
    """A plausible Plutchik label for a V-A point (reference units): angle picks the primary,
    radius the intensity."""
    ang = np.degrees(np.arctan2(a, v)) % 360
    # counter-clockwise from positive valence / neutral arousal
    order = ["Trust", "Joy", "Surprise", "Fear", "Anger", "Disgust", "Sadness", "Anticipation"]
    primary = order[int(((ang + 22.5) % 360) // 45)]
    r = np.hypot(v, a)
    intensity = 0 if r < 0.45 else (1 if r < 0.9 else 2)
    return PLUTCHIK[primary][intensity]


def render_scene(
    rng: np.random.Generator, v: float, a: float, ctx_v: float, ctx_a: float, size: int, n_faces: int
) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """One square image: context from ``ctx_*``, main face from ``v, a`` (reference units)."""
    img = draw_context(size, size, ctx_v, ctx_a, rng)
    boxes = []
    if n_faces >= 2:  # a smaller bystander with an unrelated expression, drawn first (behind)
        fh = rng.uniform(0.28, 0.34) * size
        side = rng.choice([-1, 1])
        cx = size / 2 + side * size * 0.33
        boxes.append(
            draw_face(
                img,
                cx,
                rng.uniform(0.3, 0.7) * size,
                fh,
                rng.uniform(-1, 1),
                rng.uniform(-1, 1),
                FaceStyle.random(rng),
                rng.uniform(-5, 5),
            )
        )
    if n_faces >= 1:
        fh = rng.uniform(0.42, 0.58) * size
        cx = size / 2 + rng.uniform(-0.12, 0.12) * size
        cy = size / 2 + rng.uniform(-0.08, 0.1) * size
        boxes.insert(0, draw_face(img, cx, cy, fh, v, a, FaceStyle.random(rng), rng.uniform(-6, 6)))
    img = cv2.GaussianBlur(img, (3, 3), rng.uniform(0.1, 0.8))
    return add_noise(img, rng, sigma=rng.uniform(2, 7), gain=rng.uniform(0.85, 1.15)), boxes


def generate(root: str | Path, spec: SyntheticSpec | None = None, progress: bool = True) -> pd.DataFrame:
    """Write the data set under ``root`` and return its rows (with ``split`` and face boxes).

    Layout: ``root/annotations_single.ann``, ``root/images/<image_path>``, ``root/splits.csv``,
    ``root/faces_truth.csv`` (drawn face boxes, for measuring detectors).
    """
    spec = spec or SyntheticSpec()
    root = Path(root)
    img_root = root / "images"
    rng = np.random.default_rng(spec.seed)
    rows, truth = [], []
    t0 = datetime(2023, 3, 1, 9, 0, 0)
    total = spec.n_images + spec.n_shifted
    for i in tqdm(range(total), desc="synthetic FindingEmo", disable=not progress, unit="img"):
        shifted = i >= spec.n_images
        v, a = rng.uniform(-1, 1), rng.uniform(-1, 1)  # latent, reference units
        u = rng.random()
        n_faces = 0 if u < spec.p_no_face else (2 if u < spec.p_no_face + spec.p_two_faces else 1)
        if shifted:
            ctx_v, ctx_a = rng.uniform(-1, 1), rng.uniform(-1, 1)
        else:
            noise = spec.context_noise if n_faces else spec.context_noise / 2
            ctx_v = float(np.clip(v + rng.normal(0, noise), -1, 1))
            ctx_a = float(np.clip(a + rng.normal(0, noise), -1, 1))
        img, boxes = render_scene(rng, v, a, ctx_v, ctx_a, spec.image_size, n_faces)
        folder = RUN_SHIFTED if shifted else RUN_IN
        rel = f"/{folder}/synthetic scene {i:05d}.jpg"
        out = img_root / rel.lstrip("/")
        out.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(out), img, [cv2.IMWRITE_JPEG_QUALITY, 92])
        fe = FINDINGEMO.from_ref(np.array([v, a]))
        val = int(np.clip(np.round(fe[0] + rng.normal(0, spec.label_noise)), -3, 3))
        aro = int(np.clip(np.round(fe[1] + rng.normal(0, spec.label_noise)), 0, 6))
        tags = ["NoPeople"] if n_faces == 0 else (["Group"] if n_faces > 1 else [])
        rows.append(
            {
                "index": i,
                "user": f"synth{int(rng.integers(1, 40)):02d}",
                "image_path": rel,
                "tags": tags,
                "age": [] if n_faces == 0 else ["Adults"],
                "valence": val,
                "arousal": aro,
                "emotion": emotion_from_va(v, a),
                "dec_factors": ["FacialExpression"] if n_faces else ["Context"],
                "ambiguity": int(rng.integers(0, 4)),
                "datetime": (t0 + timedelta(seconds=37 * i)).strftime("%Y-%m-%d %H:%M:%S"),
                "shifted": shifted,
                "n_faces": n_faces,
                "latent_valence": v,
                "latent_arousal": a,
            }
        )
        for k, (x, y, w, h) in enumerate(boxes):
            truth.append({"image_path": rel, "face": k, "x": x, "y": y, "w": w, "h": h, "main": k == 0})
    df = pd.DataFrame(rows)
    write_annotations(df, root / "annotations_single.ann")
    split = pd.Series("test_shifted", index=df.index, dtype=object)
    ind = df.index[~df["shifted"]]
    split.loc[ind] = make_split(df.loc[ind], seed=spec.seed)
    df["split"] = split
    save_split(df["image_path"], split, root / "splits.csv", annotation_fingerprint(df), spec.seed)
    with atomic_path(root / "faces_truth.csv") as tmp:
        pd.DataFrame(truth, columns=["image_path", "face", "x", "y", "w", "h", "main"]).to_csv(
            tmp, index=False
        )
    return df
