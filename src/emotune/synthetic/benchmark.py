"""How much the embedded benchmark looks like FindingEmo: ``<root>/benchmark.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from emotune.detect.detectors import FaceDetector


def label_histogram(df: pd.DataFrame) -> np.ndarray:
    """The joint 7 x 7 histogram of integer (valence, arousal) labels, normalised."""
    h = np.zeros((7, 7))
    np.add.at(h, (df["valence"].to_numpy(int) + 3, df["arousal"].to_numpy(int)), 1)
    return h / h.sum()


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence, base 2 (0: same distribution, 1: disjoint)."""
    p, q = p.ravel() / p.sum(), q.ravel() / q.sum()
    m = (p + q) / 2

    def kl(a: np.ndarray, b: np.ndarray) -> float:
        keep = a > 0
        return float((a[keep] * np.log2(a[keep] / b[keep])).sum())

    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


def face_fraction(boxes: dict[str, list]) -> float:
    """Share of images where the detector found at least one face (what the face path sees)."""
    return float(np.mean([bool(b) for b in boxes.values()])) if boxes else 0.0


def benchmark_stats(
    root: Path, real: pd.DataFrame, detections: dict[str, dict[str, list]], default_detector: str
) -> dict[str, Any]:
    """``face_detected_fraction`` (default detector), ``label_js_divergence`` (base 2, joint V-A histogram vs the
    real annotations'), ``label_noise_sd`` (label minus drawn mood, FindingEmo units) and each detector's rates."""
    from emotune.data.findingemo import read_annotations
    from emotune.detect.cache import detection_rate

    ann = read_annotations(root / "annotations_single.ann")
    latent = pd.read_csv(root / "latent.csv").set_index("image_path").loc[ann["image_path"]]
    noise = np.concatenate(
        [
            ann["valence"].to_numpy() - latent["latent_valence"].to_numpy(),
            ann["arousal"].to_numpy() - latent["latent_arousal"].to_numpy(),
        ]
    )
    per_amb = {
        int(a): float(
            np.sqrt(
                np.mean(
                    np.concatenate(
                        [
                            (g["valence"] - latent.loc[g["image_path"], "latent_valence"].to_numpy()) ** 2,
                            (g["arousal"] - latent.loc[g["image_path"], "latent_arousal"].to_numpy()) ** 2,
                        ]
                    )
                )
            )
        )
        for a, g in ann.groupby("ambiguity")
    }
    stats: dict[str, Any] = {
        "images": len(ann),
        "default_detector": default_detector,
        "face_detected_fraction": face_fraction(detections[default_detector]),
        "label_js_divergence": js_divergence(label_histogram(ann), label_histogram(real)),
        "label_noise_sd": float(np.sqrt(np.mean(noise**2))),
        "label_noise_sd_by_ambiguity": per_amb,
        "faces_visible_fraction": float((latent["faces_visible"] > 0).mean()),
        "detectors": {
            name: {"face_detected_fraction": face_fraction(b), **detection_rate(b, root / "faces_truth.csv")}
            for name, b in detections.items()
        },
    }
    return stats


def detector_rates_line(stats: dict[str, Any]) -> str:
    """One line per detector for ``make data``'s output."""
    return "; ".join(
        f"{n}: a face in {100 * d['face_detected_fraction']:.0f} % of images, main face found in "
        f"{100 * d['recall']:.0f} % of images that show one"
        for n, d in stats["detectors"].items()
    )


__all__ = [
    "FaceDetector",
    "benchmark_stats",
    "detector_rates_line",
    "face_fraction",
    "js_divergence",
    "label_histogram",
]
