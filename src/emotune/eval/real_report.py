"""``real.md`` of ``make eval-real``: the tables, the sentences that say what they show, the real clip's figure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from emotune.eval.markdown import shown_path
from emotune.viz.save import save_figure

EXPRESSION_ORDER = ("happy", "surprise", "neutral", "sad", "fear", "disgust", "angry", "contempt")


def _md(rows: list[dict[str, Any]]) -> str:
    return pd.DataFrame(rows).fillna("-").to_markdown(index=False, floatfmt=".3f") if rows else "_(not run)_"


def _sets(part: dict[str, Any]) -> list[str]:
    return [k for k, v in part.items() if isinstance(v, dict)]


def _pair(m: dict[str, Any], key: str) -> str:
    """``valence / arousal`` of one metric."""
    return f"{m.get(f'valence_{key}', np.nan):.3f} / {m.get(f'arousal_{key}', np.nan):.3f}"


def faces_section(name: str, part: dict[str, Any]) -> str:
    """Per model set, on the frames with a face: each path's AUCs side by side, the better single path, the fusion's
    calibration and σ; each expression's mean fused reading against its coordinates."""
    from emotune.data.expressions import RUSSELL_MEHRABIAN_1977

    rows, means = [], []
    for s in _sets(part):
        r = part[s]
        if "scene" not in r:  # the constant baseline ranks nothing
            rows.append({"model set": s, "face": _pair(r["face"], "auc")})
            continue
        cal = r["calibration"]
        rows.append(
            {
                "model set": s,
                "face found": f"{r['face_found']:.3f}",
                "scene": _pair(r["scene"], "auc"),
                "face": _pair(r["face"], "auc"),
                "**fused**": _pair(r["fused"], "auc"),
                "better single path": _pair(r["best_single"], "auc"),
                "fused: mean distance from coordinates": f"{cal['fused']['mean_distance']:.3f}",
                "largest |mean|": f"{cal['fused']['max_abs_mean']:.2f}",
                "fused σ-|error| Spearman": _pair(r["fused_sigma"], "sigma_error"),
                "cross-fitted": str(r["cross_fitted"]),
            }
        )
        for e in EXPRESSION_ORDER:
            if e in RUSSELL_MEHRABIAN_1977 and f"{e}_valence" in r["fused"]:
                c = RUSSELL_MEHRABIAN_1977[e]
                means.append({"model set": s, "expression": e, "coordinates": f"{c[0]:+.2f}, {c[1]:+.2f}",
                              "face": f"{r['face'][f'{e}_valence']:+.2f}, {r['face'][f'{e}_arousal']:+.2f}",
                              "fused": f"{r['fused'][f'{e}_valence']:+.2f}, {r['fused'][f'{e}_arousal']:+.2f}",
                              "fused distance": cal["fused"][f"{e}_distance"]})  # fmt: skip
    text = [
        f"### Faces: `{name}` ({part[_sets(part)[0]]['n_images']} labelled photographs, each shown at its own size in "
        "a webcam-sized frame)",
        "",
        "AUC valence / arousal on the frames with a face. Valence: a happy face above an angry, disgusted, afraid or "
        "sad one; arousal: surprise, fear and anger above neutral and sadness; 0.5 is a coin. **fused** is what MATCH "
        "sees. The distance is the mean over expressions of how far the expression's mean fused reading lies from "
        "its published coordinates (Russell & Mehrabian 1977; neutral at the centre). *cross-fitted*: images scored by "
        "the fold of the fitted heads that never saw them (`make real-heads` fitted the real set on them).",
        "",
        _md(rows),
    ]
    if means:
        text += ["", "Each expression's mean reading (valence, arousal) against its coordinates:", "", _md(means)]
    return "\n".join(text)


def photos_section(part: dict[str, Any]) -> str:
    """Per model set, overall and on photographs of people: Pearson of each path side by side."""
    rows = []
    for s in _sets(part):
        if s == "constant":
            continue
        for subset in ("all", "person"):
            m = part[s].get(subset)
            if m:
                rows.append(
                    {
                        "model set": s,
                        "photos": f"{subset} ({m['n']}; face in {m['n_face']})",
                        "scene": _pair(m["scene"], "pearson"),
                        "face (where found)": _pair(m["face_where_found"], "pearson"),
                        "**fused**": _pair(m["fused"], "pearson"),
                        "better single path": _pair(m["best_single"], "pearson"),
                        "scene / fused where a face is found": f"{_pair(m['scene_where_found'], 'pearson')} | "
                        f"{_pair(m['fused_where_found'], 'pearson')}",
                    }
                )
    sig = [{"model set": s, "fused σ-|error| Spearman": _pair(part[s]["fused_sigma"], "sigma_error"),
            "coverage of the 90 % interval": _pair(part[s]["fused_sigma"], "coverage90"),
            "cross-fitted": str(part[s]["cross_fitted"])} for s in _sets(part) if "fused_sigma" in part[s]]  # fmt: skip
    return "\n".join(
        [
            f"### Rated photographs: OASIS ({part['n_images']} photographs of the {'/'.join(part['splits'])} "
            f"part, {part['n_person']} of people)",
            "",
            "Pearson valence / arousal against the mean ratings of about 100 people per photograph. The real-input "
            "scene head is fitted on the hash split's `train` part and chosen on `val`; only the other parts are "
            "scored. The better single path is the better of the scene and the face where a face is found.",
            "",
            _md(rows),
            "",
            _md(sig),
        ]
    )


def benchmark_section(part: dict[str, Any]) -> str:
    """The demo fusion run's CCC per path on the benchmark's test images with a face, plain and context-shifted."""
    rows = []
    for split in ("test_face", "test_shifted_face"):
        r = part.get(split)
        if not r:
            continue
        best = {d: max(r["scene"][d], r["face"][d]) for d in ("valence", "arousal")}
        rows.append(
            {
                "split": split,
                "scene": f"{r['scene']['valence']:.3f} / {r['scene']['arousal']:.3f}",
                "face": f"{r['face']['valence']:.3f} / {r['face']['arousal']:.3f}",
                "**fused** (context)": f"{r['context']['valence']:.3f} / {r['context']['arousal']:.3f}",
                "better single path": f"{best['valence']:.3f} / {best['arousal']:.3f}",
            }
        )
    return "\n".join(
        [
            f"### The embedded benchmark (`{shown_path(part['run'])}`, from `make demo`)",
            "",
            "CCC valence / arousal on the test images with a face; in `test_shifted_face` the context says something "
            "else than the person (the seed's first risk).",
            "",
            _md(rows),
        ]
    )


def clip_section(part: dict[str, Any]) -> str:
    """The real clip's stabilized valence at its start and its end."""
    rows = [
        {
            "model set": s,
            "face found": part[s]["face_found"],
            "stabilized valence, first 5 s": part[s]["stab_valence_first"],
            "last 5 s": part[s]["stab_valence_last"],
            "rise": part[s]["stab_valence_rise"],
            "valence rise per frame: scene | face | **fused**": " | ".join(
                f"{part[s].get(f'{p}_valence_rise', np.nan):+.2f}" for p in ("scene", "face", "fused")
            ),
            "longest stretch of stabilized arousal at the edge (s)": part[s]["stab_arousal_edge_s"],
        }
        for s in _sets(part)
    ]
    phases = ", ".join(f"{p[2]} ({p[0]:g}-{p[1]:g} s)" for p in part.get("phases", []))
    return "\n".join(
        [
            f"### A real face video: `{Path(part['clip']).name}`",
            "",
            (f"What it shows: {phases}. " if phases else "")
            + "The stabilized valence is what MATCH sees; its first and last seconds are compared.",
            "",
            _md(rows),
            "",
            "![stabilized valence over the real clip](real_clip.png)",
        ]
    )


def interview_section(part: dict[str, Any]) -> str:
    """The interview-like copy of the clip: the share of analysed frames with a face."""
    rows = [
        {"model set": s, "frames analysed": part[s]["frames"], "face found": part[s]["face_found"]} for s in _sets(part)
    ]
    return "\n".join(
        [
            f"### An interview-like copy of it ({part['seconds']:g} s)",
            "",
            "The same real clip made harder the way an interview is (`emotune.eval.interview`): the face at 0.6 of its "
            "size in a wider frame, a handheld microphone over the chin, two lines of burnt-in subtitles, played "
            "forward and backward to the interview's length. A stand-in: no real interview clip ships in a wheel.",
            "",
            _md(rows),
        ]
    )


def render_real_report(results: dict[str, Any]) -> str:
    """The whole ``real.md``."""
    parts = [
        "# Real data: faces, photographs, a face video",
        "",
        f"`make eval-real DATA={results['data']}`; model sets: "
        + ", ".join(f"`{k}` ({shown_path(v)})" for k, v in results["sets"].items())
        + (f"; at most {results['limit']} images per part" if results.get("limit") else "")
        + ". Every number comes from the full PERCEIVE stage with the configured detector.",
    ]
    for key, part in results.items():
        if key.startswith("faces_"):
            parts += ["", faces_section(key.removeprefix("faces_"), part)]
    if "photos" in results:
        parts += ["", photos_section(results["photos"])]
    if "clip" in results:
        parts += ["", clip_section(results["clip"])]
    if "interview" in results:
        parts += ["", interview_section(results["interview"])]
    if "benchmark" in results:
        parts += ["", benchmark_section(results["benchmark"])]
    parts += ["", "![the fusion's weight on the face against the face's share of the frame](fusion_weight.png)"]
    return "\n".join(parts) + "\n"


def write_clip_figure(part: dict[str, Any], path: Path) -> Path:
    """Stabilized (solid) and per-frame fused (dots) valence over the real clip, one colour per model set."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 3.2))
    ax = fig.subplots()
    for i, s in enumerate(_sets(part)):
        tl = pd.read_csv(part[s]["timeline"])
        c = f"C{i}"
        ax.plot(tl["t_s"], tl["stab_valence"], color=c, lw=2, label=f"{s}: stabilized")
        ax.scatter(tl["t_s"], tl["fused_valence"], color=c, s=6, alpha=0.4)
    for k, (t0, t1, label) in enumerate(part.get("phases", [])):
        ax.axvspan(float(t0), float(t1), color="0.92" if k % 2 == 0 else "0.82", zorder=0)
        ax.text((float(t0) + float(t1)) / 2, 0.92, str(label), ha="center", va="top", fontsize=8)
    ax.set(xlabel="time (s)", ylabel="valence (-1..1)", ylim=(-1, 1))
    ax.axhline(0, color="0.5", lw=0.5)
    ax.legend(loc="lower right", fontsize=8)
    return save_figure(fig, path)


def write_weight_figure(results: dict[str, Any], path: Path) -> Path:
    """The fusion's weight on the face (valence, arousal) against the face's share of the frame, per data set, for
    each model set: how much of the picture a face must fill before the fusion follows it."""
    from matplotlib.figure import Figure

    sources = [(k.removeprefix("faces_") + " (webcam frames)", v) for k, v in results.items() if k.startswith("faces_")]
    if "photos" in results:
        sources.append(("OASIS photographs", results["photos"]))
    sets = list(results.get("sets", {}))
    fig = Figure(figsize=(4.2 * max(1, len(sets)), 3.4))
    axes = fig.subplots(1, max(1, len(sets)), squeeze=False)[0]
    for ax, s in zip(axes, sets):
        for k, (label, part) in enumerate(sources):
            pts = part.get(s, {}).get("points")
            if pts is None or not len(pts["area"]):
                continue
            for d, marker in ((0, "o"), (1, "^")):
                ax.scatter(pts["area"], pts["weight"][:, d], s=8, alpha=0.5, color=f"C{k}", marker=marker,
                           label=f"{label}: {'valence' if d == 0 else 'arousal'}")  # fmt: skip
        ax.set(xscale="log", ylim=(-0.02, 1.02), xlabel="face box / frame area", ylabel="fusion's weight on the face",
               title=f"model set: {s}")  # fmt: skip
        ax.legend(fontsize=6, loc="upper left")
    fig.tight_layout()
    return save_figure(fig, path)
