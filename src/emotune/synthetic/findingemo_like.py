"""The embedded benchmark: a data set in the FindingEmo format (``annotations_single.ann`` + an image folder)
that looks like FindingEmo in its statistics.

* Labels: ``(valence, arousal, ambiguity)`` triples drawn from the real joint distribution in
  findingemo-light's annotations.
* The image shows a latent mood; the label is an annotator's noisy reading of it, with noise that grows
  with ambiguity (``label = latent + N(0, noise_base + noise_per_ambiguity * ambiguity)``, FindingEmo units;
  arousal ``arousal_noise_factor`` times more).
* Ambiguity has causes one can see: small, blurred, occluded or turned faces, a person seen from behind,
  several people with different expressions, a mixed expression.
* The context (colours, clutter) carries part of the mood (the latent plus noise); in the extra
  ``test_shifted`` split it is random, which exposes a model that learned the context instead of the faces.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from emotune.data.findingemo import PLUTCHIK, read_annotations, write_annotations
from emotune.data.splits import annotation_fingerprint, make_split, save_split
from emotune.synthetic.drawing import FaceLook, FaceStyle, add_noise, draw_context, draw_face
from emotune.utils.io import atomic_path
from emotune.utils.scales import FINDINGEMO

log = logging.getLogger(__name__)

RUN_IN = "Run_1/Synthetic scenes"
RUN_SHIFTED = "Run_2/Shifted context"


@dataclass
class SyntheticSpec:
    """Size and difficulty of the synthetic FindingEmo-format set."""

    n_images: int = 3000  # in-distribution images (split into train/val/test)
    n_shifted: int = 400  # extra test_shifted images (context randomised)
    image_size: int = 160
    context_noise: float = 0.45  # std (reference units) of the context mood around the latent, in distribution
    noise_base: float = 0.25  # annotator noise (FindingEmo units, valence) at ambiguity 0 ...
    noise_per_ambiguity: float = 0.35  # ... growing by this per ambiguity step (0..6)
    arousal_noise_factor: float = 1.3  # annotators agree less on arousal than on valence
    p_no_person: float = 0.12  # scenes without anyone (FindingEmo has few: most faces are just hard to see)
    seed: int = 0


@dataclass
class Person:
    """One drawn person: where, how big, what the face shows, and how hard it is to read."""

    cx: float
    cy: float
    height: float
    valence: float
    arousal: float
    look: FaceLook
    facing_away: bool = False


def emotion_from_va(v: float, a: float) -> str:
    """A plausible Plutchik label for a V-A point (reference units): angle picks the primary, radius the intensity."""
    ang = np.degrees(np.arctan2(a, v)) % 360
    order = ["Trust", "Joy", "Surprise", "Fear", "Anger", "Disgust", "Sadness", "Anticipation"]  # counter-clockwise
    primary = order[int(((ang + 22.5) % 360) // 45)]
    r = np.hypot(v, a)
    return PLUTCHIK[primary][0 if r < 0.45 else (1 if r < 0.9 else 2)]


CAUSES = ("yaw", "occlusion", "blur", "small", "bystanders", "mixed")


def sample_people(
    rng: np.random.Generator, latent: np.ndarray, ambiguity: int, size: int, p_no_person: float
) -> list[Person]:
    """The people of one scene; the first is the main person, whose face shows the (maybe mixed) latent mood.

    Ambiguity has causes one can see: the higher it is, the more of :data:`CAUSES` apply (0.2 on average at
    ambiguity 0, 3.4 at 6) and the stronger they are; the main person may also face away.
    """
    if rng.random() < p_no_person:
        return []
    d = ambiguity / 6.0
    causes = set(rng.choice(CAUSES, rng.binomial(4, 0.05 + 0.8 * d), replace=False))

    def strength() -> float:
        return float(rng.uniform(0.5, 1.0) * (0.4 + 0.6 * d))

    fh = float(np.exp(rng.uniform(np.log(0.08), np.log(0.55)))) * size
    if "small" in causes:
        fh *= 1 - 0.6 * strength()
    look = FaceLook(
        yaw=float(rng.choice([-1, 1]) * (0.3 + 0.65 * strength())) if "yaw" in causes else 0.0,
        occlusion=0.25 + 0.6 * strength() if "occlusion" in causes else 0.0,
        blur=(1.0 + 5.0 * strength()) * fh / 60 if "blur" in causes else 0.0,
    )
    mix = 0.2 + 0.6 * strength() if "mixed" in causes else 0.0  # part of another mood in the expression
    shown = (1 - mix) * latent + mix * rng.uniform(-1, 1, 2)
    main = Person(
        size / 2 + rng.uniform(-0.25, 0.25) * size,
        size / 2 + rng.uniform(-0.15, 0.2) * size,
        fh,
        float(shown[0]),
        float(shown[1]),
        look,
        facing_away=rng.random() < 0.06 + 0.15 * d,
    )
    people = [main]
    for _ in range(int(rng.integers(1, 3)) if "bystanders" in causes else 0):  # other expressions, similar sizes
        side = rng.choice([-1, 1])
        people.append(
            Person(
                float(np.clip(main.cx + side * rng.uniform(0.8, 1.6) * fh, 0, size)),
                main.cy + rng.uniform(-0.3, 0.3) * fh,
                fh * rng.uniform(0.7, 1.2),
                float(rng.uniform(-1, 1)),
                float(rng.uniform(-1, 1)),
                FaceLook(blur=look.blur * rng.uniform(0, 1)),
                facing_away=rng.random() < 0.15,
            )
        )
    return people


def render_scene(
    rng: np.random.Generator, people: list[Person], context: np.ndarray, size: int
) -> tuple[np.ndarray, list[tuple[int, int, int, int, bool]]]:
    """One square image; returns it and each person's face box ``(x, y, w, h, visible)`` (main person first)."""
    img = draw_context(size, size, float(context[0]), float(context[1]), rng)
    boxes: list[tuple[int, int, int, int, bool]] = [(0, 0, 0, 0, False)] * len(people)
    for i in sorted(range(len(people)), key=lambda k: people[k].height):  # smaller (farther) people first
        p = people[i]
        style = FaceStyle.random(rng)
        if p.facing_away:  # the back of a head: a person, no face
            style = FaceStyle(style.hair, style.hair, style.shirt, style.aspect)
        x, y, w, h = draw_face(img, p.cx, p.cy, p.height, p.valence, p.arousal, style, rng.uniform(-8, 8), p.look)
        boxes[i] = (x, y, w, h, not p.facing_away)
    img = cv2.GaussianBlur(img, (3, 3), rng.uniform(0.1, 0.8))
    return add_noise(img, rng, sigma=rng.uniform(2, 7), gain=rng.uniform(0.85, 1.15)), boxes


def real_label_rows(annotations: str | Path | None = None) -> pd.DataFrame:
    """``valence, arousal, ambiguity`` of the real annotations (findingemo-light's file by default)."""
    df = read_annotations(annotations)
    return df.loc[df["ambiguity"].between(0, 6), ["valence", "arousal", "ambiguity"]].reset_index(drop=True)


def sample_labels(
    rng: np.random.Generator, real: pd.DataFrame, n: int, spec: SyntheticSpec
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` label triples ``(valence, arousal, ambiguity)`` drawn from the real joint distribution, and the latent
    mood each reads (FindingEmo units): the label is the latent plus annotator noise that grows with ambiguity."""
    picks = real.iloc[rng.integers(0, len(real), n)].to_numpy().astype(int)
    sd = (spec.noise_base + spec.noise_per_ambiguity * picks[:, 2])[:, None] * np.array(
        [1.0, spec.arousal_noise_factor]
    )
    latent = np.clip(picks[:, :2] + rng.normal(0, 1, (n, 2)) * sd, [-3, 0], [3, 6])
    return picks, latent


def generate(
    root: str | Path, spec: SyntheticSpec | None = None, progress: bool = True, label_rows: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Write the data set under ``root`` and return its rows (with ``split``, latent mood and face boxes).

    Layout: ``root/annotations_single.ann``, ``root/images/<image_path>``, ``root/splits.csv`` (+ its meta),
    ``root/faces_truth.csv`` (drawn face boxes, for measuring detectors).
    """
    spec = spec or SyntheticSpec()
    root, rng = Path(root), np.random.default_rng(spec.seed)
    real = label_rows if label_rows is not None else real_label_rows()
    picks, latents = sample_labels(rng, real, spec.n_images + spec.n_shifted, spec)
    rows, truth, t0 = [], [], datetime(2023, 3, 1, 9, 0, 0)
    for i in tqdm(range(len(picks)), desc="synthetic FindingEmo", disable=not progress, unit="img"):
        shifted = i >= spec.n_images
        vl, al, amb = (int(x) for x in picks[i])
        latent_fe = latents[i]
        latent = FINDINGEMO.to_ref(latent_fe)
        context = rng.uniform(-1, 1, 2) if shifted else np.clip(latent + rng.normal(0, spec.context_noise, 2), -1, 1)
        people = sample_people(rng, latent, amb, spec.image_size, spec.p_no_person)
        img, boxes = render_scene(rng, people, context, spec.image_size)
        rel = f"/{RUN_SHIFTED if shifted else RUN_IN}/synthetic scene {i:05d}.jpg"
        out = root / "images" / rel.lstrip("/")
        out.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(out), img, [cv2.IMWRITE_JPEG_QUALITY, 92])
        visible = sum(b[4] for b in boxes)
        rows.append(
            {
                "index": i,
                "user": f"synth{int(rng.integers(1, 40)):02d}",
                "image_path": rel,
                "tags": ["NoPeople"] if not people else (["Group"] if len(people) > 1 else []),
                "age": [] if not people else ["Adults"],
                "valence": vl,
                "arousal": al,
                "emotion": emotion_from_va(*latent),
                "ambiguity": amb,
                "dec_factors": ["FacialExpression", "Context"] if visible else ["Context"],
                "datetime": (t0 + timedelta(seconds=37 * i)).strftime("%Y-%m-%d %H:%M:%S"),
                "shifted": shifted,
                "people": len(people),
                "faces_visible": visible,
                "latent_valence": latent_fe[0],
                "latent_arousal": latent_fe[1],
            }
        )
        for k, (x, y, w, h, vis) in enumerate(boxes):
            truth.append({"image_path": rel, "face": k, "x": x, "y": y, "w": w, "h": h, "main": k == 0, "visible": vis})
    df = pd.DataFrame(rows)
    write_annotations(df, root / "annotations_single.ann")
    split = pd.Series("test_shifted", index=df.index, dtype=object)
    ind = df.index[~df["shifted"]]
    split.loc[ind] = make_split(df.loc[ind], seed=spec.seed)
    df["split"] = split
    save_split(df["image_path"], split, root / "splits.csv", annotation_fingerprint(df), spec.seed)
    cols = ["image_path", "face", "x", "y", "w", "h", "main", "visible"]
    with atomic_path(root / "faces_truth.csv") as tmp:
        pd.DataFrame(truth, columns=cols).to_csv(tmp, index=False)
    with atomic_path(root / "latent.csv") as tmp:  # the drawn mood behind each label (benchmark statistics)
        df[["image_path", "latent_valence", "latent_arousal", "ambiguity", "people", "faces_visible"]].to_csv(
            tmp, index=False
        )
    log.info("Synthetic spec: %s", asdict(spec))
    return df
