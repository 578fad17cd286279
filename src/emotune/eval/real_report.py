"""``real.md`` of ``make eval-real``: the tables, the sentences that say what they show, the real clip's figure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from emotune.viz.save import save_figure

EXPRESSION_ORDER = ("happy", "surprise", "neutral", "sad", "fear", "disgust", "angry", "contempt")


def _md(rows: list[dict[str, Any]]) -> str:
    return pd.DataFrame(rows).to_markdown(index=False, floatfmt=".3f") if rows else "_(not run)_"


def _sets(part: dict[str, Any]) -> list[str]:
    return [k for k, v in part.items() if isinstance(v, dict)]


def faces_section(name: str, part: dict[str, Any]) -> str:
    """AUCs and the face-found share per model set; mean V-A per expression."""
    rows, means = [], []
    for s in _sets(part):
        r = part[s]
        face, fused = r.get("face", {}), r.get("fused", {})
        rows.append(
            {
                "model set": s,
                "face found": r.get("face_found", np.nan),
                "face path: valence AUC": face.get("valence_auc", np.nan),
                "arousal AUC": face.get("arousal_auc", np.nan),
                "fused (same frames): valence AUC": fused.get("valence_auc", np.nan),
                "fused: arousal AUC": fused.get("arousal_auc", np.nan),
            }
        )
        for e in EXPRESSION_ORDER:
            if f"{e}_valence" in face:
                means.append(
                    {"model set": s, "expression": e, "valence": face[f"{e}_valence"], "arousal": face[f"{e}_arousal"]}
                )
    text = [
        f"### Faces: `{name}` ({part['n_images']} labelled photographs"
        + (" outside its development part" if part.get("dev_tenths") else "")
        + ", each shown at its own size in a webcam-sized frame)",
        "",
        "Valence AUC: how often a happy face gets a higher valence than an angry, disgusted, afraid or sad one. "
        "Arousal AUC: surprise, fear and anger above neutral and sadness. 0.5 is a coin; the constant baseline "
        "ranks nothing. The fused column is what MATCH sees, on the frames where the face path found a face.",
        "",
        _md(rows),
    ]
    signals = [{"model set": s, **part[s]["error_signals"]} for s in _sets(part) if "error_signals" in part[s]]
    if signals:
        text += [
            "",
            "What ranks the face path's errors (Spearman with the distance of its V-A from the labelled expression's "
            "coordinates; 0: no signal): its own σ, the head's roll and turn from the detector's keypoints, a small "
            "face.",
            "",
            _md(signals),
        ]
    if means:
        table = pd.DataFrame(means).pivot_table(index="expression", columns="model set", values=["valence", "arousal"])
        table = table.reindex([e for e in EXPRESSION_ORDER if e in table.index])
        table.columns = [f"{s} {d}" for d, s in table.columns]
        text += [
            "",
            "Mean V-A of the face path per labelled expression (reference scale, -1..1):",
            "",
            table.reset_index().to_markdown(index=False, floatfmt=".2f"),
        ]
    return "\n".join(text)


def photos_section(part: dict[str, Any]) -> str:
    """Pearson, Spearman and CCC of the scene path per dimension, overall and on the Person category."""
    rows = []
    for s in _sets(part):
        for subset in ("all", "person"):
            m = part[s].get(subset)
            if m:
                rows.append(
                    {
                        "model set": s,
                        "photos": f"{subset} ({int(m['n'])})",
                        **{
                            f"{d[0].upper()} {k}": m[f"{d}_{k}"]
                            for d in ("valence", "arousal")
                            for k in ("pearson", "spearman", "ccc")
                        },
                    }
                )
    return "\n".join(
        [
            f"### Rated photographs: OASIS ({part['n_images']} photographs of the {'/'.join(part['splits'])} "
            f"split, {part['n_person']} of people)",
            "",
            "The scene path against the mean ratings of about 100 people per photograph. The real-input scene head "
            "is fitted on the hash split's `train` part and chosen on `val`; only the other parts are scored.",
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
        + ", ".join(f"`{k}` ({v})" for k, v in results["sets"].items())
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
    return "\n".join(parts) + "\n"


def write_clip_figure(part: dict[str, Any], path: Path) -> Path:
    """Stabilized (solid) and per-frame fused (dots) valence over the real clip, one colour per model set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.2))
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
