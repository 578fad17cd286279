"""A listener's history as pictures: the mood map of their sessions over days and weeks, and one session's trace.

Both take the plain export of :func:`emotune.store.history.export_listener` and draw on a
:class:`matplotlib.figure.Figure` of their own (no pyplot state: safe in a server's threads).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

QUADRANTS = (("tense", -0.55, 0.9), ("excited", 0.55, 0.9), ("sad", -0.55, -0.95), ("calm", 0.55, -0.95))


def _day(iso: str | None) -> float:
    return datetime.fromisoformat(iso.rstrip("Z")).timestamp() / 86400.0 if iso else 0.0


def mood_map(data: dict[str, Any]) -> Figure:
    """Each session's mood trace on the valence-arousal plane, coloured by its date (a start ring, an end dot)."""
    fig = Figure(figsize=(6.2, 5.2))
    ax = fig.add_subplot()
    sessions = [s for s in data["sessions"] if s["trace"]]
    days = np.array([_day(s["start"]) for s in sessions]) if sessions else np.zeros(1)
    lo, hi = float(days.min()), float(max(days.max(), days.min() + 1.0))  # at least a day wide
    norm = Normalize(lo, hi)
    cmap = colormaps["viridis"]
    for s, d in zip(sessions, days):
        va = np.array([[p["valence"], p["arousal"]] for p in s["trace"]], float)
        colour = cmap(norm(d))
        ax.plot(va[:, 0], va[:, 1], color=colour, lw=1.2, alpha=0.8)
        ax.scatter(va[0, 0], va[0, 1], s=40, facecolor="white", edgecolor=colour, zorder=4)
        ax.scatter(va[-1, 0], va[-1, 1], s=40, color=colour, zorder=5)
    for name, x, y in QUADRANTS:
        ax.text(x, y, name, ha="center", va="center", color="#7b8794", fontsize=9)
    ax.axhline(0, color="grey", lw=0.5)
    ax.axvline(0, color="grey", lw=0.5)
    ax.set(xlim=(-1.05, 1.05), ylim=(-1.05, 1.05), xlabel="valence", ylabel="arousal", aspect="equal")
    ax.set_title(f"{data['listener']}: {len(sessions)} session(s), ring = start, dot = end", fontsize=10)
    if sessions:
        bar = fig.colorbar(_mappable(norm), ax=ax, shrink=0.8)
        ticks = np.linspace(lo, hi, 4)
        bar.set_ticks(list(ticks))
        bar.set_ticklabels([datetime.fromtimestamp(t * 86400.0).strftime("%d %b") for t in ticks])
        bar.set_label("session date")
    fig.tight_layout()
    return fig


def _mappable(norm: Normalize) -> Any:
    from matplotlib.cm import ScalarMappable

    return ScalarMappable(norm=norm, cmap="viridis")


def session_trace(session: dict[str, Any]) -> Figure:
    """One session: valence and arousal over time, each song's span shaded and numbered, feedback marked."""
    fig = Figure(figsize=(7.5, 3.4))
    ax = fig.add_subplot()
    tr = session["trace"]
    if tr:
        t = np.array([p["t_s"] for p in tr], float)
        ax.plot(t, [p["valence"] for p in tr], color="#c0392b", label="valence")
        ax.plot(t, [p["arousal"] for p in tr], color="#2471a3", label="arousal")
    for i, p in enumerate(session["plays"], 1):
        end = p["end_s"] if p["end_s"] is not None else (tr[-1]["t_s"] if tr else p["start_s"])
        ax.axvspan(p["start_s"], end, color="#f4d03f" if i % 2 else "#f9e79f", alpha=0.35, lw=0)
        ax.text(p["start_s"], 1.02, str(i), fontsize=8, va="bottom")
    marks = {"like": ("^", "#1e8449"), "skip": ("x", "#7f8c8d"), "dislike": ("v", "#922b21")}
    for f in session["feedback"]:
        if f["t_s"] is not None:
            m, c = marks.get(f["event"], ("o", "black"))
            ax.scatter(f["t_s"], 0.0, marker=m, color=c, s=60, zorder=5)
    ax.set(ylim=(-1.05, 1.12), xlabel="seconds", ylabel="reference V-A")
    ax.set_title(f"session {session['id']} ({session['mode']}, {session['start']}): songs numbered; "
                 "^ like, x skip, v dislike", fontsize=9)  # fmt: skip
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig
