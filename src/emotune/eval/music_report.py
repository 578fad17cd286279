"""``music.md`` of ``make eval-music``: the side-by-side tables with the sentences that say what they show."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


def _auc(m: dict[str, float], dim: str, f: Callable) -> str:
    return f"{f(m.get(f'{dim}_auc'))} [{f(m.get(f'{dim}_auc_lo'))}, {f(m.get(f'{dim}_auc_hi'))}]"


def render_report(
    results: dict[str, dict[str, dict]],
    labellers: list[Any],
    data: Path,
    targets: dict[str, float],
    f: Callable,
    command: str | None = None,
) -> str:
    """Markdown: the 4Q table on the clips no labeller saw, each labeller on all its unseen clips, PMEmo."""
    lines = [
        "# Music labellers on real, human-labelled music",
        "",
        f"`{command or f'make eval-music DATA={data}'}`. Each labeller predicts a song's V-A from a 30-second "
        "excerpt (decoded around its middle); only clips a labeller was neither fitted nor selected on are scored. "
        "Predictions are MC-Dropout means (torch seed 0): with other seeds the AUCs move by about 0.01-0.03.",
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
            f"## 4Q clips (Panda et al. 2018), the {n} clips no labeller was fitted on",
            "",
            "AUC: positive vs negative valence (Q1, Q4 vs Q2, Q3) and arousal (Q1, Q2 vs Q3, Q4), seeded bootstrap "
            "95 % interval in brackets; quadrant: share of clips whose predicted signs give their quadrant (chance "
            f"25 %). Targets for the default labeller: valence AUC >= {targets['valence_auc']:.2f}, arousal AUC >= "
            f"{targets['arousal_auc']:.2f}.",
            "",
            "| labeller | n | valence AUC | arousal AUC | 4-quadrant accuracy |",
            "|---|---|---|---|---|",
        ]
        for name, m in fq.items():
            acc = m.get("quadrant_acc")
            lines.append(
                f"| {name} | {int(m['n'])} | {_auc(m, 'valence', f)} | {_auc(m, 'arousal', f)} | "
                f"{f(100 * acc if acc is not None else None, '.0f')} % |"
            )
        default = fq.get("real (default)")
        if default:
            hits = [
                f"{k.replace('_auc', '')} {f(default[k])} ({'met' if default[k] >= t else 'missed'}, target {t:.2f})"
                for k, t in targets.items()
            ]
            lines += ["", "Default labeller against the targets: " + "; ".join(hits) + "."]
        own = results.get("fourq_own", {})
        if any(int(m["n"]) != n for m in own.values()):
            lines += [
                "",
                "Each labeller on every 4Q clip it was not fitted on (a labeller that never saw real music is scored "
                "on all of them):",
                "",
                "| labeller | n | valence AUC | arousal AUC | 4-quadrant accuracy |",
                "|---|---|---|---|---|",
                *[
                    f"| {name} | {int(m['n'])} | {_auc(m, 'valence', f)} | {_auc(m, 'arousal', f)} | "
                    f"{f(100 * m['quadrant_acc'] if m.get('quadrant_acc') is not None else None, '.0f')} % |"
                    for name, m in own.items()
                ],
            ]
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
                f"| {name} | {int(m['n'])} | {f(m.get('valence_pearson'))} | {f(m.get('arousal_pearson'))} | "
                f"{f(100 * m['quadrant_acc'] if m.get('quadrant_acc') is not None else None, '.0f')} % |"
                for name, m in pm.items()
            ],
            "",
        ]
    return "\n".join(lines)
