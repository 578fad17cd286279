"""``make eval``: the design's claims measured with the demo models.

``python -m emotune.eval.report [key=value ...]`` (settings: ``conf/eval_scenarios.yaml``).

1. Renders the scripted scenarios (:mod:`emotune.eval.scenarios`) into clips with ground truth.
2. Runs the real ``infer()`` on each with ``stabilizer=none|ema|kalman``: tracking, jitter, lag, playlist.
3. The uncertainty gate: the per-frame error of frames the EMA holds against frames it passes.
4. Guide vs validate on short clips and as a 3-minute listening session.
5. The phase table (every path and the constant baseline, accuracy and uncertainty) from the demo runs.
6. Writes ``report.md``, ``report.json`` (flat, key -> number), ``eval.json`` and PNG figures.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig
from tqdm.auto import tqdm

from emotune.eval.markdown import render_report
from emotune.eval.metrics import gate_errors, playlist_mean_va, timeline_metrics
from emotune.eval.phases import phase_table
from emotune.eval.scenarios import Scenario, scenarios
from emotune.runtime.compose import compose_config
from emotune.utils.command import command
from emotune.utils.errors import ConfigError, MissingResourceError
from emotune.utils.io import write_json_atomic, write_text_atomic
from emotune.viz import eval_figures as figures

log = logging.getLogger("emotune.eval")


def gate_taus(summary: dict[str, Any]) -> dict[str, float]:
    """The τ the EMA used, with a face and without (``summary.json``'s ``gate_sigma``)."""
    gate = summary.get("gate_sigma") or [float("nan")] * 2
    return {"tau_face": float(gate[0]), "tau_no_face": float(gate[1])}


def render_clip(sc: Scenario, clip_dir: Path) -> Path:
    """The scenario's clip (rendered once; re-rendered when its keyframes or look change)."""
    from emotune.synthetic.video import render_video

    clip = clip_dir / f"{sc.name}.mp4"
    stamp = clip_dir / f"{sc.name}_keyframes.csv"
    text = sc.keyframes.to_csv(index=False) + repr(sc.spec)
    if not (clip.is_file() and stamp.is_file() and stamp.read_text() == text):
        clip_dir.mkdir(parents=True, exist_ok=True)
        render_video(sc.keyframes, clip, sc.spec, progress=False)
        write_text_atomic(stamp, text)
    return clip


def run_infer(clip: Path, demo: Path, run_dir: Path, overrides: list[str]) -> dict[str, Any]:
    """One real ``infer()`` run; returns its timeline, playlist and summary."""
    from emotune.runtime.infer import infer

    cfg = compose_config(
        "infer",
        [f"video={clip}", f"ckpt.dir={demo}", "progress=false", "extras.print_config=false", *overrides],
        run_dir,
    )
    summary = infer(cfg)
    return {
        "timeline": pd.read_csv(run_dir / "timeline.csv"),
        "playlist": json.loads((run_dir / "playlist.json").read_text()),
        "summary": summary,
    }


def check_demo(demo: Path) -> None:
    """The demo checkpoints must exist."""
    from emotune.models.loading import best_checkpoint

    missing = [p for p in ("scene", "face", "fusion") if not best_checkpoint(demo / p).is_file()]
    if missing:
        raise MissingResourceError(
            f"demo={demo} lacks the {', '.join(missing)} checkpoint(s); run `make demo` "
            "first (or point demo= at a folder with scene/face/fusion run dirs)."
        )


def session_catalog(cfg: DictConfig) -> tuple[list[str], str]:
    """The catalogue of the listening session: a real DEAM folder when given and present, else the synthetic one."""
    root = Path(str(cfg.session.deam_root))
    if root.is_dir() and any(root.rglob("static_annotations_averaged_songs_1_2000.csv")):
        return ["catalog=deam", f"catalog.root={root}"], f"real DEAM ({root})"
    return [], "the synthetic DEAM-format catalogue"


def session_rows(runs: dict[str, dict[str, Any]], calm_goal: np.ndarray) -> list[dict[str, Any]]:
    """Guide vs validate over the 3-minute session: songs, mean song V-A, distance to the calm goal, checks."""
    from emotune.utils.scales import get_scale

    rows = []
    for mode, r in runs.items():
        pl, s = r["playlist"], r["summary"]
        scale = get_scale(pl["scale"])
        va = np.array([[x["valence"], x["arousal"]] for x in pl["songs"]])
        ref = scale.to_ref(va)
        mean = playlist_mean_va(pl)
        rows.append(
            {
                "mode": mode,
                "songs": len(va),
                "mean song valence": mean[0],
                "mean song arousal": mean[1],
                "distance to goal, first song": float(np.linalg.norm(ref[0] - calm_goal)),
                "distance to goal, last song": float(np.linalg.norm(ref[-1] - calm_goal)),
                "largest arousal rise": float(np.max(np.diff(va[:, 1]), initial=0.0)),
                "dwell violations": s["dwell_violations"],
                "repeats": s["repeats_within_memory"],
                "scale": pl["scale"],
            }
        )
    return rows


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Run every scenario and write the report; returns what ``eval.json`` holds."""
    demo, out = Path(cfg.demo), Path(cfg.out)
    check_demo(demo)
    t0 = time.perf_counter()
    all_sc = scenarios()
    only = set(cfg.only or [])
    unknown = only - set(all_sc)
    if unknown:
        raise ConfigError(f"only={sorted(unknown)}: unknown scenario; choose from {', '.join(all_sc)}.")
    stab_names = [s for s in cfg.stabilizer_scenarios if not only or s in only]
    guide_names = [s for s in cfg.guide_scenarios if not only or s in only]
    session_name = cfg.session.scenario if not only or cfg.session.scenario in only else None
    extra = list(cfg.infer)
    variants = {str(k): list(v) for k, v in (cfg.get("stabilizer_variants") or {}).items()}
    stab_labels = [*cfg.stabilizers, *variants]

    def stab_overrides(label: str) -> list[str]:
        return variants.get(label, [f"stabilizer={label}"])

    jobs: list[tuple[str, str, str, list[str]]] = [(s, st, "validate", []) for s in stab_names for st in stab_labels]
    jobs += [(s, "ema", mode, []) for s in guide_names for mode in ("validate", "guide")]
    cat_overrides, cat_name = session_catalog(cfg)
    if session_name:
        jobs += [(session_name, "ema", mode, cat_overrides) for mode in ("validate", "guide")]
    runs: dict[tuple[str, str, str], dict[str, Any]] = {}
    for name, stab, mode, more in tqdm(jobs, desc="eval runs", unit="run"):
        clip = render_clip(all_sc[name], out / "clips")
        runs[(name, stab, mode)] = run_infer(
            clip,
            demo,
            out / "runs" / f"{name}_{stab}_{mode}",
            [*stab_overrides(stab), f"matcher/policy={mode}", *extra, *more],
        )

    def truth(name: str) -> pd.DataFrame:
        return pd.read_csv(out / "clips" / f"{name}.va.csv")

    stab_rows = [
        {
            "scenario": n,
            "stabilizer": st,
            **timeline_metrics(
                runs[(n, st, "validate")]["timeline"],
                truth(n),
                all_sc[n].keyframes,
                runs[(n, st, "validate")]["playlist"],
                runs[(n, st, "validate")]["summary"],
            ),
        }
        for n in stab_names
        for st in stab_labels
    ]
    gate_rows = [
        {
            "scenario": n,
            **gate_errors(runs[(n, "ema", "validate")]["timeline"], truth(n)),
            **gate_taus(runs[(n, "ema", "validate")]["summary"]),
        }
        for n in cfg.gate.scenarios
        if (n, "ema", "validate") in runs
    ]
    guide_rows = []
    for n in guide_names:
        for mode in ("validate", "guide"):
            pl = runs[(n, "ema", mode)]["playlist"]
            va = playlist_mean_va(pl)
            guide_rows.append(
                {
                    "scenario": n,
                    "mode": mode,
                    "songs": len(pl["songs"]),
                    "mean song valence": va[0],
                    "mean song arousal": va[1],
                    "scale": pl["scale"],
                }
            )
    calm = np.array(compose_config("infer", ["video=x", "matcher/policy=guide"], out).matcher.policy.calm_goal, float)
    sess = (
        session_rows({m: runs[(session_name, "ema", m)] for m in ("validate", "guide")}, calm) if session_name else []
    )
    phases = phase_table(demo)
    figs = make_figures(out, runs, all_sc, stab_names, guide_names, stab_rows, phases, list(cfg.stabilizers), truth)
    result = {
        "stabilizers": stab_rows,
        "gate": gate_rows,
        "guide": guide_rows,
        "session": sess,
        "session_catalog": cat_name,
        "phases": phases.to_dict(orient="records"),
        "seconds": round(time.perf_counter() - t0, 1),
        "demo": str(demo),
    }
    write_json_atomic(out / "eval.json", result)
    write_json_atomic(out / "report.json", flat_report(result))
    write_text_atomic(out / "report.md", render_report(result, all_sc, figs))
    return result


def make_figures(
    out: Path,
    runs: dict,
    all_sc: dict,
    stab_names: list[str],
    guide_names: list[str],
    stab_rows: list[dict],
    phases: pd.DataFrame,
    stabilizers: list[str],
    truth: Any,
) -> dict[str, Path]:
    """Every PNG of the report."""
    figs = {}
    for n in stab_names:
        figs[f"stabilizers_{n}"] = figures.stabilizer_figure(
            {st: runs[(n, st, "validate")]["timeline"] for st in stabilizers},
            truth(n),
            out / f"stabilizers_{n}.png",
            title=f"{n}: {all_sc[n].about}",
        )
    if stab_rows:
        figs["stabilizer_summary"] = figures.stabilizer_bars(pd.DataFrame(stab_rows), out / "stabilizer_summary.png")
    if guide_names:
        figs["guide_vs_validate"] = figures.guide_figure(
            {(n, m): runs[(n, "ema", m)] for n in guide_names for m in ("validate", "guide")},
            out / "guide_vs_validate.png",
        )
    if len(phases):
        figs["phases"] = figures.phase_bars(phases, out / "phases.png")
    return figs


def flat_report(result: dict[str, Any]) -> dict[str, float]:
    """``report.json``: every number of the report under a flat key."""
    flat: dict[str, float] = {}

    def put(prefix: str, row: dict, skip: tuple[str, ...]) -> None:
        for k, v in row.items():
            if k not in skip and isinstance(v, int | float | np.floating | np.integer) and not isinstance(v, bool):
                flat[f"{prefix}/{k}"] = float(v)

    for r in result["stabilizers"]:
        put(f"stabilizer/{r['stabilizer']}/{r['scenario']}", r, ("scenario", "stabilizer"))
    for st in {r["stabilizer"] for r in result["stabilizers"]}:
        rows = pd.DataFrame([r for r in result["stabilizers"] if r["stabilizer"] == st])
        put(f"stabilizer/{st}/mean", rows.mean(numeric_only=True).to_dict(), ())
    for r in result["gate"]:
        put(f"gate/{r['scenario']}", r, ("scenario",))
    if result["gate"]:
        held = [r["held_frames"] * r["held_mean_error"] for r in result["gate"] if r["held_frames"]]
        passed = [r["passed_frames"] * r["passed_mean_error"] for r in result["gate"]]
        n_held, n_passed = (
            sum(r["held_frames"] for r in result["gate"]),
            sum(r["passed_frames"] for r in result["gate"]),
        )
        flat["gate_held_mean_error"] = sum(held) / n_held if n_held else float("nan")
        flat["gate_passed_mean_error"] = sum(passed) / max(1, n_passed)
        flat["gate_error_ratio"] = flat["gate_held_mean_error"] / max(flat["gate_passed_mean_error"], 1e-9)
    for r in result["guide"]:
        put(f"guide/{r['scenario']}/{r['mode']}", r, ("scenario", "mode"))
    for r in result["session"]:
        put(f"session/{r['mode']}", r, ("mode",))
    for r in result["phases"]:
        put(f"phase/{r['path']}/{r['split']}", r, ("path", "split"))
    return flat


@command("eval_scenarios")
def main(cfg: DictConfig) -> None:
    """``conf/eval_scenarios.yaml`` composed with ``key=value`` overrides, run."""
    evaluate(cfg)
    print(f"Report: {Path(cfg.out) / 'report.md'} (report.json, eval.json and figures beside it)")


if __name__ == "__main__":
    main()
