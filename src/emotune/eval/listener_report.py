"""``docs/eval/listener.md``: the simulated listeners' numbers against the issue's targets."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def md_table(header: list[str], rows: list[list[Any]]) -> list[str]:
    """A markdown table's lines."""
    return ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)] + [
        "| " + " | ".join(map(str, r)) + " |" for r in rows
    ]


SKIP_RATIO = 0.5  # skip rate in sessions 7-8 at most this times sessions 1-2's (personal)
DISTANCE_EXCESS = 0.05  # mean song-to-mood distance at most this above the non-personal matcher's
GOAL_RATIO = 0.7  # guide: median time to the calm goal in sessions 7-8 at most this times the non-personal plan's


def _rate(df: pd.DataFrame, col: str, sessions: tuple[int, ...]) -> float:
    return float(df[df["session"].isin(sessions)][col].mean())


def _ttg(df: pd.DataFrame, sessions: tuple[int, ...], censor: float) -> float:
    """Median time to the goal (a session that never got there counts as its whole length)."""
    t = df[df["session"].isin(sessions)]["time_to_goal_s"].astype(float).fillna(censor)
    return float(np.median(t)) if len(t) else float("nan")


def population_numbers(df: pd.DataFrame, censor: float) -> dict[str, float]:
    """One population's headline numbers (personal vs none)."""
    v, g = df[df["mode"] == "validate"], df[df["mode"] == "guide"]
    out: dict[str, float] = {}
    for arm in ("personal", "none"):
        a, b = v[v["arm"] == arm], g[g["arm"] == arm]
        first, last = _rate(a, "skip_rate", (1, 2)), _rate(a, "skip_rate", (7, 8))
        out |= {f"{arm}/skip_1_2": first, f"{arm}/skip_7_8": last, f"{arm}/skip_ratio": last / max(first, 1e-9),
                f"{arm}/like_rate": float(a["like_rate"].mean()), f"{arm}/like_7_8": _rate(a, "like_rate", (7, 8)),
                f"{arm}/distance": float(a["distance"].mean()), f"{arm}/distance_7_8": _rate(a, "distance", (7, 8)),
                f"{arm}/guide_distance": float(b["distance"].mean()), f"{arm}/ttg_1_2": _ttg(b, (1, 2), censor),
                f"{arm}/ttg_7_8": _ttg(b, (7, 8), censor), f"{arm}/guide_skip_7_8": _rate(b, "skip_rate", (7, 8)),
                f"{arm}/reached_7_8": float(b[b["session"].isin((7, 8))]["time_to_goal_s"].notna().mean())}  # fmt: skip
    out["distance_excess"] = out["personal/distance"] - out["none/distance"]
    out["ttg_ratio_7_8"] = out["personal/ttg_7_8"] / max(out["none/ttg_7_8"], 1e-9)
    return out


def _per_session(df: pd.DataFrame, mode: str, col: str, agg: str, censor: float | None = None) -> list[list[Any]]:
    sub = df[df["mode"] == mode].copy()
    if censor is not None:
        sub[col] = sub[col].astype(float).fillna(censor)
    piv = sub.pivot_table(index="session", columns="arm", values=col, aggfunc=agg)
    return [[int(s), f"{piv.loc[s, 'personal']:.3f}", f"{piv.loc[s, 'none']:.3f}"] for s in piv.index]


def render_listener_report(table: pd.DataFrame, result: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The markdown report and its numbers (per population)."""
    st = result["settings"]
    censor = float(st["session_s"])
    numbers = {str(name): population_numbers(df, censor) for name, df in table.groupby("population")}
    lines = [
        "# Simulated listeners: personal ranking and the closed-loop guide",
        "",
        f"`make eval-listener` (`python -m emotune.eval.listener`, settings `conf/eval_listener.yaml`). Catalogue: "
        f"{result['catalogue']}, {result['songs']} songs, with hidden genres and artists per population. "
        f"{st['listeners']} listeners per population, {st['sessions']} sessions each of {st['session_s']} s, "
        "readings once a second, every session through the session driver (`python -m emotune.session`'s object, "
        "JSON lines both ways); each listener once by name (personal ranking, learning in a fresh SQLite store) and "
        "once as nobody (the non-personal matcher), on the same seeds. The simulator's model and parameters: "
        "`src/emotune/eval/listener_sim.py` and `conf/eval_listener.yaml`. **`dev`** is the population the "
        "`matcher.personal` and guide policy (`conf/matcher/policy/guide.yaml`) settings were chosen on; **`heldout`** has other parameters, "
        "other hidden genres and another taste structure, and was not tuned on.",
        "",
        "## Targets",
        "",
    ]
    rows = []
    for name, n in numbers.items():
        rows += [
            [name, "skip rate, sessions 7-8 / 1-2 (personal)", f"{n['personal/skip_ratio']:.2f}", f"<= {SKIP_RATIO}",
             "met" if n["personal/skip_ratio"] <= SKIP_RATIO else "missed"],
            [name, "skip rate, sessions 7-8 / 1-2 (nobody: flat)", f"{n['none/skip_ratio']:.2f}", "about 1", ""],
            [name, "mean song-to-mood distance, personal - nobody", f"{n['distance_excess']:+.3f}",
             f"<= {DISTANCE_EXCESS}", "met" if n["distance_excess"] <= DISTANCE_EXCESS else "missed"],
            [name, "guide: median time to the calm goal, sessions 7-8, personal / nobody", f"{n['ttg_ratio_7_8']:.2f}",
             f"<= {GOAL_RATIO}", "met" if n["ttg_ratio_7_8"] <= GOAL_RATIO else "missed"],
        ]  # fmt: skip
    lines += [*md_table(["population", "measure", "value", "target", ""], rows), ""]
    lines += ["## Per population", ""]
    for name, n in numbers.items():
        lines += [f"### {name}", ""]
        lines += md_table(
            ["", "personal", "nobody"],
            [
                ["skip rate, sessions 1-2", f"{n['personal/skip_1_2']:.3f}", f"{n['none/skip_1_2']:.3f}"],
                ["skip rate, sessions 7-8", f"{n['personal/skip_7_8']:.3f}", f"{n['none/skip_7_8']:.3f}"],
                ["like rate, all sessions", f"{n['personal/like_rate']:.3f}", f"{n['none/like_rate']:.3f}"],
                ["like rate, sessions 7-8", f"{n['personal/like_7_8']:.3f}", f"{n['none/like_7_8']:.3f}"],
                ["song-to-mood distance (validate)", f"{n['personal/distance']:.3f}", f"{n['none/distance']:.3f}"],
                ["song-to-mood distance (guide)", f"{n['personal/guide_distance']:.3f}", f"{n['none/guide_distance']:.3f}"],
                ["guide: median time to the goal, sessions 1-2 (s)", f"{n['personal/ttg_1_2']:.0f}", f"{n['none/ttg_1_2']:.0f}"],
                ["guide: median time to the goal, sessions 7-8 (s)", f"{n['personal/ttg_7_8']:.0f}", f"{n['none/ttg_7_8']:.0f}"],
                ["guide: goal reached, sessions 7-8", f"{n['personal/reached_7_8']:.2f}", f"{n['none/reached_7_8']:.2f}"],
            ],
        )  # fmt: skip
        df = table[table["population"] == name]
        lines += ["", "Per session (mean skip rate, validate | median time to the goal in s, guide; a session that "
                  f"never reached it counts {censor:.0f} s):", ""]  # fmt: skip
        skip, ttg = (
            _per_session(df, "validate", "skip_rate", "mean"),
            _per_session(df, "guide", "time_to_goal_s", "median", censor),
        )
        lines += md_table(["session", "skip personal", "skip nobody", "time to goal personal", "time to goal nobody"],
                          [[a[0], a[1], a[2], b[1], b[2]] for a, b in zip(skip, ttg)])  # fmt: skip
        lines += [""]
    return "\n".join(lines) + "\n", numbers
