"""The phase table: every path (scene, face, each fusion, the constant baseline) on each test split, with
accuracy and uncertainty side by side, from the runs' ``metrics.json``; real-FindingEmo runs also sit beside
the published frozen CLIP ViT-B/32 baseline. ``make eval-findingemo RUNS=DIR`` (``python -m emotune.eval.phases
runs=DIR``, settings ``conf/eval_phases.yaml``) writes ``DIR/phases.md`` and ``phases.json``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from emotune.utils.command import command
from emotune.utils.errors import MissingResourceError
from emotune.utils.io import write_json_atomic, write_text_atomic

# Published frozen CLIP ViT-B/32 + head on FindingEmo (about 13.1k/2.8k/2.8k), on [-1, 1] (valence/3, (arousal-3)/3).
PUBLISHED_BASELINE = {
    "valence_mae_ref": 0.375,
    "arousal_mae_ref": 0.435,
    "valence_spearman": 0.66,
    "arousal_spearman": 0.22,
}
PATHS = [  # (label, run, metric prefix)
    ("constant (train mean)", "fusion", "constant/"),
    ("scene", "scene", ""),
    ("face", "face", ""),
    ("fusion: context (default)", "fusion", "context/"),
    ("fusion: robust (conflict-aware)", "fusion", "robust/"),
    ("fusion: inverse-variance", "fusion", "ivw/"),
    ("fusion: learned linear", "fusion", "learned/"),
    ("fusion: fixed 0.6/0.4", "fusion", "fixed/"),
]
METRICS = ("ccc", "mae_ref", "spearman", "sigma_err_spearman", "coverage90", "nll")


def load_metrics(runs: Path) -> dict[str, dict[str, float]]:
    """``metrics.json`` of each phase run under ``runs`` (``scene/``, ``face/``, ``fusion/``)."""
    out = {}
    for phase in ("scene", "face", "fusion"):
        f = runs / phase / "metrics.json"
        if f.is_file():
            out[phase] = json.loads(f.read_text())
    return out


def phase_table(
    runs: Path, splits: tuple[str, ...] = ("test", "test_face", "test_shifted", "test_shifted_face")
) -> pd.DataFrame:
    """One row per (path, split), a column per metric and dimension. Scene and face rows on ``*_face`` splits
    come from the fusion run (which scores every path on the same images)."""
    metrics = load_metrics(runs)
    rows = []
    for label, run, prefix in PATHS:
        for split in splits:
            src, pre = run, prefix
            if run in ("scene", "face") and "fusion" in metrics:
                src, pre = "fusion", f"{run}/"  # the same images for every path
            m = metrics.get(src, {})
            if f"{split}/{pre}valence_ccc" not in m:
                continue
            row = {"path": label, "split": split, "n": m.get(f"{split}/{pre}n", np.nan)}
            for metric in METRICS:
                for dim in ("valence", "arousal"):
                    row[f"{dim[0]}_{metric}"] = m.get(f"{split}/{pre}{dim}_{metric}", np.nan)
            rows.append(row)
    return pd.DataFrame(rows)


def beside_published(runs: Path) -> pd.DataFrame:
    """Test MAE and Spearman on [-1, 1] of each path beside the published frozen CLIP ViT-B/32 figures."""
    table = phase_table(runs, splits=("test",))
    rows = [
        {
            "path": "published frozen CLIP ViT-B/32 (Mertens et al. 2024)",
            **{
                "valence MAE": PUBLISHED_BASELINE["valence_mae_ref"],
                "arousal MAE": PUBLISHED_BASELINE["arousal_mae_ref"],
                "valence Spearman": PUBLISHED_BASELINE["valence_spearman"],
                "arousal Spearman": PUBLISHED_BASELINE["arousal_spearman"],
            },
        }
    ]
    for _, r in table.iterrows():
        rows.append(
            {
                "path": r["path"],
                "valence MAE": r["v_mae_ref"],
                "arousal MAE": r["a_mae_ref"],
                "valence Spearman": r["v_spearman"],
                "arousal Spearman": r["a_spearman"],
            }
        )
    return pd.DataFrame(rows)


@command("eval_phases")
def main(cfg: DictConfig) -> None:
    """``python -m emotune.eval.phases runs=RUNS``: the phase table of a set of runs, beside the published baseline."""
    runs = Path(str(cfg.runs))
    if not load_metrics(runs):
        raise MissingResourceError(
            f"No scene/, face/ or fusion/ metrics.json under {runs}; train the phases with hydra.run.dir={runs}/<phase> "
            "first."
        )
    table, published = phase_table(runs), beside_published(runs)
    md = [
        "# Phase table",
        "",
        f"Runs: `{runs}`.",
        "",
        "## Test MAE and Spearman on [-1, 1], beside the published frozen CLIP ViT-B/32 baseline",
        "",
        published.to_markdown(index=False, floatfmt=".3f"),
        "",
        "## Every path and split",
        "",
        table.to_markdown(index=False, floatfmt=".3f"),
        "",
    ]
    write_text_atomic(runs / "phases.md", "\n".join(md))
    write_json_atomic(
        runs / "phases.json",
        {"phases": table.to_dict(orient="records"), "beside_published": published.to_dict(orient="records")},
    )
    print(published.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(f"Wrote {runs / 'phases.md'} and phases.json")


if __name__ == "__main__":
    main()
