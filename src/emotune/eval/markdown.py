"""``report.md`` of ``make eval``: the tables and figures with the sentences that say what they show."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

STAB_MEAN_COLS = [
    "pearson_valence",
    "pearson_arousal",
    "rmse",
    "jitter",
    "lag63_s",
    "switches_per_min",
    "dwell_violations",
    "repeats",
    "song_dist_truth",
]


def _md(df: pd.DataFrame, floatfmt: str = ".3f") -> str:
    return df.to_markdown(index=False, floatfmt=floatfmt) if len(df) else "_(not run)_"


def verdict(agg: pd.DataFrame) -> str:
    """One sentence on whether smoothing bought less jitter for its lag."""
    a = agg.set_index("stabilizer")
    parts = []
    for st in ("ema", "kalman"):
        if st in a.index and "none" in a.index:
            j = a.loc["none", "jitter"] / max(a.loc[st, "jitter"], 1e-9)
            lag = a.loc[st, "lag63_s"] - a.loc["none", "lag63_s"]
            dp = np.nanmean([a.loc[st, f"pearson_{d}"] - a.loc["none", f"pearson_{d}"] for d in ("valence", "arousal")])
            parts.append(
                f"**{st}** cuts steady-state jitter {j:.1f}x versus no stabilizer, adds {lag:+.1f} s of lag "
                f"to 63 %, and changes tracking Pearson by {dp:+.3f}"
            )
    return "Verdict: " + "; ".join(parts) + "." if parts else ""


def _stabilizers(result: dict[str, Any], all_sc: dict, figs: dict[str, Path]) -> list[str]:
    df = pd.DataFrame(result["stabilizers"])
    lines = [
        "## Stabilizers on scripted clips",
        "",
        "Each clip is rendered from a script, run through `infer.py` with the demo models, and compared with its "
        "ground truth. **jitter**: mean |Δ(V, A)| per second on steady stretches (truth unchanged for 6 s). "
        "**lag63_s**: seconds after a scripted step until the stabilized track covers 63 % of the change the "
        "per-frame estimate saw. **song_dist_truth**: mean distance from the true mood to the song playing (with 3-6 "
        "songs per clip one different switch moves it by about 0.1, so it does not rank the stabilizers).",
        "",
    ]
    if not len(df):
        return [*lines, "_(not run)_", ""]
    lines += [f"- `{n}`: {all_sc[n].about}" for n in df["scenario"].unique()]
    agg = df.groupby("stabilizer", sort=False)[STAB_MEAN_COLS].mean().reset_index()
    lines += ["", _md(df), "", "Mean over scenarios:", "", _md(agg), "", verdict(agg), ""]
    lines += [f"![{k}]({p.name})" for k, p in figs.items() if k.startswith("stabilizer")]
    return [*lines, ""]


def _gate(result: dict[str, Any]) -> list[str]:
    df = pd.DataFrame(result["gate"])
    lines = [
        "## The uncertainty gate (EMA holds when σ > τ)",
        "",
        "Per analysed frame: the error (reference units) of the per-frame fused estimate against the truth, on "
        "frames the gate held and on frames it passed. A gate that works holds the frames that are wrong. τ is the "
        "fusion checkpoint's gate: a quantile (`model.gate_quantile`, 0.8) of its fused σ on val images with a face "
        "(`tau_face`) and without (`tau_no_face`), so about a fifth of frames like val's are held.",
        "",
    ]
    if not len(df):
        return [*lines, "_(not run)_", ""]
    held = (df["held_frames"] * df["held_mean_error"].fillna(0)).sum() / max(1, df["held_frames"].sum())
    passed = (df["passed_frames"] * df["passed_mean_error"]).sum() / max(1, df["passed_frames"].sum())
    return [
        *lines,
        _md(df),
        "",
        f"Over these clips: held frames' mean error **{held:.3f}** vs passed **{passed:.3f}** "
        f"(ratio {held / max(passed, 1e-9):.2f}; the goal is >= 1.5).",
        "",
    ]


def _guide(result: dict[str, Any], figs: dict[str, Path]) -> list[str]:
    g = pd.DataFrame(result["guide"])
    lines = [
        "## Validate vs guide",
        "",
        "Same clip, `matcher/policy=validate` vs `guide` (EMA). Mean song V-A is time-weighted, on the catalogue's own "
        "scale (DEAM 1-9: calm is low arousal).",
        "",
        _md(g, ".2f"),
        "",
    ]
    if len(g):
        for name in g["scenario"].unique():
            s = g[g.scenario == name].set_index("mode")
            dv = s.loc["guide", "mean song valence"] - s.loc["validate", "mean song valence"]
            da = s.loc["guide", "mean song arousal"] - s.loc["validate", "mean song arousal"]
            lines.append(f"- `{name}`: guide moves the songs by Δvalence {dv:+.2f}, Δarousal {da:+.2f}.")
        lines += ["", f"![guide]({figs['guide_vs_validate'].name})", ""]
    sess = pd.DataFrame(result["session"])
    lines += [
        "### A listening session: 3 minutes of steady distress",
        "",
        f"Catalogue: {result['session_catalog']}. Guide starts at the listener's mood (iso principle) and steps "
        "toward calm one song at a time; targets: at least 4 songs, song arousal never rising by more than 0.3 "
        "(DEAM scale), the last song within 0.25 of the calm goal, no dwell violation or repeat.",
        "",
        _md(sess, ".2f"),
        "",
    ]
    return lines


def _phases(result: dict[str, Any], figs: dict[str, Path]) -> list[str]:
    ph = pd.DataFrame(result["phases"])
    lines = [
        "## Phases (demo models, synthetic benchmark)",
        "",
        "Every path on each test split, valence (`v_`) and arousal (`a_`): CCC, MAE and Spearman on [-1, 1]; "
        "Spearman of σ against |error| (does σ flag errors?), the share of labels inside the central 90 % "
        "interval, and the Gaussian NLL. `*_face` splits keep the images where the face path found a face; "
        "`test_shifted` randomises the context. The constant path predicts the training labels' mean.",
        "",
    ]
    if not len(ph):
        return [*lines, "_(not run)_", ""]
    for split in dict.fromkeys(ph["split"]):
        lines += [f"### {split}", "", _md(ph[ph["split"] == split].drop(columns=["split"])), ""]
    if "phases" in figs:
        lines.append(f"![phases]({figs['phases'].name})")
    return lines


def shown_path(path: str | Path) -> str:
    """``path`` relative to the checkout when it lies inside it (a report never names the writer's machine)."""
    from emotune.utils.command import repo_root

    p = Path(str(path))
    return str(p.relative_to(repo_root())) if p.is_absolute() and p.is_relative_to(repo_root()) else str(p)


def render_report(result: dict[str, Any], all_sc: dict, figs: dict[str, Path]) -> str:
    """The whole ``report.md``."""
    lines = [
        "# emotune evaluation report",
        "",
        f"Demo models: `{shown_path(result['demo'])}`. Produced by `make eval` in {result['seconds']:.0f} s. V-A on the "
        "[-1, 1] reference unless marked. Every number is also in `report.json` (flat keys).",
        "",
    ]
    lines += _stabilizers(result, all_sc, figs) + _gate(result) + _guide(result, figs) + _phases(result, figs)
    return "\n".join(lines) + "\n"
