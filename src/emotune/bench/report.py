"""``bench.md`` of ``make bench``: the headline table against the issues' goals, and every section's table."""

from __future__ import annotations

from typing import Any

import pandas as pd
from omegaconf import DictConfig

GOALS = {  # what the issues ask for
    "realtime_demo": (">=", 40.0),
    "realtime_real": (">=", 25.0),
    "realtime_vitb32": (">=", 15.0),
    "overhead_ms_per_frame": ("<=", 4.0),
    "peak_rss_real_mb": ("<=", 1500.0),
    "detector_full_ms": ("<=", 5.0),
    "mc_speedup": (">=", 10.0),
    "mc_overhead_pct": ("<=", 10.0),
    "matcher_us_1802": ("<=", 50.0),
    "matcher_ms_1e6": ("<=", 5.0),
    "feature_cache_speedup": (">=", 10.0),
    "photo_recall": (">=", 0.95),
    "photo_fp_per_10": ("<=", 1.0),
    "webcam_found": (">=", 0.97),
    "music_songs_per_s": (">=", 10.0),
    "listener_step_ms": ("<=", 5.0),
    "store_mb_per_hour": ("<=", 1.0),
}


def check(name: str, value: float) -> str:
    """``met (goal >= 3)`` or ``missed (...)``."""
    op, goal = GOALS[name]
    ok = value >= goal if op == ">=" else value <= goal
    return f"{'met' if ok else 'missed'} (goal {op} {goal:g})"


def _md(df: pd.DataFrame, **kw: Any) -> str:
    return df.to_markdown(**kw)


def summary_rows(res: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The headline table: measure, value, goal (the detector rows are the default detector's, the one the demo
    run used)."""
    rt, mc, mt, fc = res["realtime"], res["mc_dropout"]["ViT-B/32 scene"], res["matcher"], res["feature_cache"]
    default_detector = rt["demo"].get("detector") or ""
    small, big = list(mt.values())
    rows = [
        ("realtime factor, demo models (default clip)", f"{rt['demo']['realtime_factor']:.1f}x",
         check("realtime_demo", rt["demo"]["realtime_factor"])),
    ]  # fmt: skip
    if "real" in rt:
        rows += [
            ("realtime factor, real-input models (real clip)", f"{rt['real']['realtime_factor']:.1f}x",
             check("realtime_real", rt["real"]["realtime_factor"])),
            ("peak memory, infer.py with the real-input models", f"{rt['real']['peak_rss_mb']:.0f} MB",
             check("peak_rss_real_mb", rt["real"]["peak_rss_mb"])),
        ]  # fmt: skip
    rows += [
        ("realtime factor, ViT-B/32 scene", f"{rt['vitb32']['realtime_factor']:.1f}x",
         check("realtime_vitb32", rt["vitb32"]["realtime_factor"])),
        ("outside the model forwards, ms per analysed frame (demo run)", f"{rt['demo']['overhead_ms_per_frame']:.1f}",
         check("overhead_ms_per_frame", rt["demo"]["overhead_ms_per_frame"])),
    ]  # fmt: skip
    for name in ("demo", "vitb32"):
        every = rt.get(f"{name}_every_frame")
        if every:
            rows.append((f"realtime factor, {name}, scene on every frame",
                         f"{every['realtime_factor']:.1f}x", ""))  # fmt: skip
    if "vitb32_scene_every_1s" in rt:
        rows.append(("realtime factor, ViT-B/32 scene at most every 1 s",
                     f"{rt['vitb32_scene_every_1s']['realtime_factor']:.1f}x", ""))  # fmt: skip
    rows += [
        ("MC Dropout T=20 head-only vs naive (ViT-B/32)", f"{mc['speedup']:.1f}x faster",
         check("mc_speedup", mc["speedup"])),
        ("head-only MC overhead over one pass (ViT-B/32)", f"{mc['overhead_pct']:.1f} %",
         check("mc_overhead_pct", mc["overhead_pct"])),
        (f"matcher query, {small['songs']} songs", f"{small['query_us']:.0f} µs",
         check("matcher_us_1802", small["query_us"])),
        ("matcher query, 10^6 songs", f"{big['query_us'] / 1e3:.2f} ms", check("matcher_ms_1e6", big["query_us"] / 1e3)),
        ("feature cache, epoch time (frozen ViT-B/32)", f"{fc['speedup']:.0f}x faster",
         check("feature_cache_speedup", fc["speedup"])),
    ]  # fmt: skip
    det = res["detection"].get(default_detector, {})
    if "clip" in det:
        rows.append((f"default detector ({default_detector}): full scan, ms per 640-px frame",
                     f"{det['clip']['full_ms']:.1f}", check("detector_full_ms", det["clip"]["full_ms"])))  # fmt: skip
    if det.get("photos"):
        ph = det["photos"]
        rows += [
            (f"{default_detector} on real photographs: faces found", f"{ph['found']}/{ph['faces']}",
             check("photo_recall", ph["recall"])),
            (f"{default_detector} on real photographs: false positives / 10 images",
             f"{ph['false_positives_per_10_images']:.2f}", check("photo_fp_per_10", ph["false_positives_per_10_images"])),
        ]  # fmt: skip
    if det.get("webcam"):
        rows.append((f"{default_detector}: real face photos shown as webcam frames, found",
                     f"{det['webcam']['recall']:.3f}", check("webcam_found", det["webcam"]["recall"])))  # fmt: skip
    if "songs_per_s" in res["music"]:
        rows.append(("music labelling, 30 s excerpts incl. decoding", f"{res['music']['songs_per_s']:.1f} songs/s",
                     check("music_songs_per_s", res["music"]["songs_per_s"])))  # fmt: skip
    return rows + listener_rows(res.get("listener"))


def listener_rows(ls: dict[str, Any] | None) -> list[tuple[str, str, str]]:
    """The listener section's headline rows (none when the section did not run)."""
    if not ls:
        return []
    plays = ls["history"]["plays"]
    return [
        (f"session-driver step, listener with {plays:,} plays (median)", f"{ls['step_ms_median']:.2f} ms",
         check("listener_step_ms", ls["step_ms_median"])),
        ("listener store growth per hour of session", f"{ls['store_mb_per_hour']:.2f} MB",
         check("store_mb_per_hour", ls["store_mb_per_hour"])),
    ]  # fmt: skip


def listener_lines(ls: dict[str, Any] | None) -> list[str]:
    """The listener section of ``bench.md``."""
    if not ls:
        return []
    flat = {k: v for k, v in ls.items() if k != "history"} | {f"history_{k}": v for k, v in ls["history"].items()}
    return ["## Listener: the session driver with a long history (SQLite store)", "",
            pd.Series(flat).to_frame("value").to_markdown(), ""]  # fmt: skip


def detector_frame(det: dict[str, Any]) -> pd.DataFrame:
    """One row per detector: synthetic recall / FP, photo recall / FP per 10 images, clip ms per frame."""
    rows = []
    for name, r in det.items():
        if "skipped" in r:
            rows.append({"detector": name, "note": r["skipped"][:90]})
            continue
        syn, ph, clip = r.get("synthetic") or {}, r.get("photos") or {}, r["clip"]
        rows.append(
            {
                "detector": name,
                "synthetic recall": syn.get("recall", float("nan")),
                "synthetic FP rate": syn.get("false_positive_rate", float("nan")),
                "photos found": f"{ph['found']}/{ph['faces']}" if ph else "n/a",
                "photos FP / 10 img": ph.get("false_positives_per_10_images", float("nan")),
                "clip ms full": clip["full_ms"],
                "clip ms tracking": clip["tracking_ms"],
                "tracking vs haar": clip.get("tracking_ms_vs_haar", float("nan")),
                "clip recall (tracking)": clip.get("tracking_recall", float("nan")),
            }
        )
    return pd.DataFrame(rows)


def render(res: dict[str, Any], cfg: DictConfig) -> str:
    """``bench.md``."""
    rt = res["realtime"]
    md = [
        "# emotune benchmark",
        "",
        f"Machine: {res['machine']}. One `make bench` run ({res['seconds']:.0f} s); ratios are side by side in this "
        f"run. Video: the default 120 s synthetic clip; infer overrides {list(cfg.realtime.infer)}.",
        "",
        pd.DataFrame(summary_rows(res), columns=["measure", "value", "goal"]).to_markdown(index=False),
        "",
        "## Time per stage (seconds over the whole clip)",
        "",
    ]
    stages = pd.DataFrame({k: v["stage_seconds"] for k, v in rt.items()}).fillna(0.0)
    stages.loc["total processing"] = [rt[k]["processing_seconds"] for k in stages.columns]
    stages.loc["with model loading"] = [rt[k].get("seconds_with_loading", float("nan")) for k in stages.columns]
    md += [
        stages.round(3).to_markdown(),
        "",
        f"`detect` is the face detector ({rt['demo'].get('detector')}, looking near the last face first), `heads` "
        "the uncertainty passes of both heads, `preprocess` colour conversion, resizing and cropping, "
        "`scene_schedule` the shot-change test; `decode` is the time spent waiting for the decoding thread. "
        "`*_every_frame` runs the scene backbone on every analysed frame (`perceive.scene_every_s=0`), the others "
        "on a shot change or when the last reading is `perceive.scene_every_s` old (2 s; `*_every_1s`: 1 s); "
        "`*_gpu` rows ran with `perceive.device=cuda`. `with model loading` is the whole `infer()` call: loading the "
        "checkpoints and the detector, one warm-up forward per batch size (`perceive.warmup`), the run, the outputs. "
        "Peak memory is each run's own (`VmHWM`).",
        "",
        "## Face detectors",
        "",
        detector_frame(res["detection"]).round(3).to_markdown(index=False),
        "",
        "Synthetic: the drawn main face of the synthetic test split found (centre inside its box); FP rate on its "
        "images without a face. Photos: real photographs shipped inside PyPI packages (`make photos`), faces marked "
        "by eye. Clip: the default clip's analysed frames at 640 px.",
        "",
        "## MC Dropout (batch of 8 frames, T = 20)",
        "",
        pd.DataFrame(res["mc_dropout"]).T.round(2).to_markdown(),
        "",
        "## Matcher",
        "",
        pd.DataFrame(res["matcher"]).T.round(2).to_markdown(),
        "",
        "## Feature cache (frozen ViT-B/32, training epoch seconds)",
        "",
        f"{res['feature_cache']['images']} images per split; epoch 1 fills the cache, epoch 2 reads it: "
        f"{res['feature_cache']['epoch_seconds']}.",
        "",
        "## Image data pipeline (decode + resize + augment, 800x600 JPEGs)",
        "",
        pd.Series(res["data_pipeline"]).to_frame("value").to_markdown(),
        "",
        "## Frozen-CLIP feature cache build (ViT-B/32 forward on this machine)",
        "",
        pd.Series(res["feature_build"]).to_frame("value").round(3).to_markdown(),
        "",
        "## Music labelling (`make library`)",
        "",
        pd.Series(res["music"]).to_frame("value").to_markdown(),
        "",
        *listener_lines(res.get("listener")),
    ]
    md += (
        ["## Goals missed", ""]
        + ([f"- {m} {v}: {g}" for m, v, g in summary_rows(res) if g.startswith("missed")] or ["None."])
        + [""]
    )
    md += ["## GPU", "", cfg.gpu or "No GPU was lent to the session that produced this run; CPU figures only.", ""]
    return "\n".join(md) + "\n"
