"""``music.md`` of ``make eval-music``: the side-by-side tables with the sentences that say what they show."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

TARGETS = {"valence_auc": 0.85, "arousal_auc": 0.93}  # issue 31, for the default labeller


def _f(v: float | None, fmt: str = ".2f") -> str:
    return "-" if v is None or not np.isfinite(v) else format(v, fmt)


def _auc(m: dict[str, float], dim: str) -> str:
    return f"{_f(m.get(f'{dim}_auc'))} [{_f(m.get(f'{dim}_auc_lo'))}, {_f(m.get(f'{dim}_auc_hi'))}]"


def _acc(m: dict[str, float]) -> str:
    acc = m.get("quadrant_acc")
    return f"{_f(100 * acc if acc is not None else None, '.0f')} %"


def _fourq_rows(table: dict[str, dict], speed: dict[str, float], how: dict[str, str]) -> list[str]:
    rows = ["| labeller | n | valence AUC [95 % CI] | arousal AUC | 4-quadrant accuracy | songs/s | predictions |",
            "|---|---|---|---|---|---|---|"]  # fmt: skip
    for name, m in table.items():
        rows.append(f"| {name} | {int(m['n'])} | {_auc(m, 'valence')} | {_auc(m, 'arousal')} | {_acc(m)} | "
                    f"{_f(speed.get(name), '.1f')} | {how.get(name, '')} |")  # fmt: skip
    return rows


def render_report(results: dict[str, Any], labellers: list[Any], data: Path, command: str | None = None) -> str:
    """Markdown: the 4Q table on the clips every labeller has an honest prediction for, each labeller on all of
    its own, PMEmo."""
    speed, how = results.get("speed", {}), results.get("how", {})
    lines = [
        "# Music labellers on real, human-labelled music",
        "",
        f"`{command or f'make eval-music DATA={data}'}`. Each labeller predicts a song's V-A from a 30-second "
        "excerpt decoded around its middle. Only honest predictions are scored: a checkpoint on clips it was "
        "neither fitted nor selected on; the packaged head on the clips it was fitted on through its recipe re-run "
        "out of fold (nested cross-validation grouped by artist: selection and fit never saw the clip's artist); "
        "the baseline out of fold (grouped by artist). Predictions are reproducible (MC Dropout draws the same "
        "masks for every song). Songs/s: one process on one thread, decoding included (`make bench` times "
        "`make library` on two cores).",
        "",
        "| labeller | what it is |",
        "|---|---|",
        *[f"| {lab.name} | {lab.about} |" for lab in labellers],
        "",
    ]
    fq = results.get("fourq")
    if fq:
        n = int(next(iter(fq.values()))["n"])
        lines += [
            f"## 4Q clips (Panda et al. 2018): the {n} clips every labeller has an honest prediction for",
            "",
            "AUC: positive vs negative valence (Q1, Q4 vs Q2, Q3) and arousal (Q1, Q2 vs Q3, Q4), seeded bootstrap "
            "95 % interval in brackets; quadrant: share of clips whose predicted signs give their quadrant (chance "
            f"25 %). Issue 31's targets for the default labeller (measured on other clips): valence AUC >= "
            f"{TARGETS['valence_auc']:.2f}, arousal AUC >= {TARGETS['arousal_auc']:.2f}.",
            "",
            *_fourq_rows(fq, speed, how.get("fourq", {})),
        ]
        own = results.get("fourq_own", {})
        if any(int(m["n"]) != n for m in own.values()):
            lines += [
                "",
                "Each labeller on every 4Q clip it has an honest prediction for:",
                "",
                *_fourq_rows(own, speed, how.get("fourq", {})),
            ]
        default = own.get("default")
        if default:
            hits = [
                f"{k.replace('_auc', '')} {_f(default[k])} ({'met' if default[k] >= t else 'missed'}, target {t:.2f})"
                for k, t in TARGETS.items()
            ]
            lines += ["", f"Default labeller, n = {int(default['n'])}: " + "; ".join(hits) + "."]
        lines.append("")
    pm = results.get("pmemo")
    if pm:
        n = int(next(iter(pm.values()))["n"])
        lines += [
            f"## PMEmo choruses (Zhang et al. 2018), n = {n}",
            "",
            "Pearson of the predicted V-A against the static annotations (0..1, mapped to [-1, 1]); with a handful "
            "of songs these are anecdotes, not estimates.",
            "",
            "| labeller | n | valence Pearson | arousal Pearson | quadrant accuracy |",
            "|---|---|---|---|---|",
            *[
                f"| {name} | {int(m['n'])} | {_f(m.get('valence_pearson'))} | {_f(m.get('arousal_pearson'))} | "
                f"{_acc(m)} |"
                for name, m in pm.items()
            ],
            "",
        ]
    return "\n".join(lines)
