"""Tracking and playlist metrics on an inference timeline against a scripted ground truth.

All V-A values are on the [-1, 1] reference. Pure functions of arrays, so each can be tested
on signals whose answer is known.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from emotune.synthetic.truth import truth_at
from emotune.utils.scales import FINDINGEMO, get_scale


def plateau_mask(t: np.ndarray, truth: np.ndarray, settle_s: float, eps: float = 1e-3) -> np.ndarray:
    """True where the truth has not moved during the last ``settle_s`` seconds (a steady mood)."""
    out = np.zeros(len(t), dtype=bool)
    for i, ti in enumerate(t):
        w = (t >= ti - settle_s) & (t <= ti)
        if ti - t[0] >= settle_s:
            out[i] = np.ptp(truth[w], axis=0).max() < eps
    return out


def jitter(t: np.ndarray, x: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean speed ``|Δ(V, A)| / Δt`` (reference units per second) over consecutive frames inside ``mask``."""
    dt = np.diff(t)
    speed = np.linalg.norm(np.diff(x, axis=0), axis=1) / np.where(dt > 0, dt, np.nan)
    keep = np.ones(len(speed), bool) if mask is None else (mask[1:] & mask[:-1])
    keep &= np.isfinite(speed)
    return float(speed[keep].mean()) if keep.any() else float("nan")


def step_changes(keyframes: pd.DataFrame, max_ramp_s: float = 1.0, min_jump: float = 0.3) -> list[tuple[float, int]]:
    """``(time, dim)`` of each scripted step: keyframes at most ``max_ramp_s`` apart that move one axis by
    at least ``min_jump`` reference units (``dim`` is the axis that moves most)."""
    ref = FINDINGEMO.to_ref(keyframes[["valence", "arousal"]].to_numpy())
    t = keyframes["t_s"].to_numpy(float)
    out = []
    for i in range(1, len(t)):
        jump = np.abs(ref[i] - ref[i - 1])
        if t[i] - t[i - 1] <= max_ramp_s and jump.max() >= min_jump:
            out.append((float(t[i - 1]), int(jump.argmax())))
    return out


def lag_to_63(
    t: np.ndarray,
    smoothed: np.ndarray,
    raw: np.ndarray,
    t_step: float,
    dim: int,
    before_s: float = 4.0,
    after: tuple[float, float] = (8.0, 16.0),
    min_change: float = 0.1,
) -> float:
    """Seconds after ``t_step`` until ``smoothed`` first covers 63 % of the change the per-frame estimate saw.

    The old and new levels are medians of ``raw`` (what perception delivered) before the step and in
    the ``after`` window, so this is the lag the stabilizer adds on top of perception. NaN when
    perception saw less than ``min_change`` or the smoothed track never gets there.
    """
    pre = (t >= t_step - before_s) & (t < t_step)
    post = (t >= t_step + after[0]) & (t <= t_step + after[1])
    if not pre.any() or not post.any():
        return float("nan")
    old, new = np.median(raw[pre, dim]), np.median(raw[post, dim])
    if abs(new - old) < min_change:
        return float("nan")
    thresh = old + 0.63 * (new - old)
    sign = np.sign(new - old)
    hit = np.flatnonzero((t >= t_step) & (t <= t_step + after[1]) & (sign * (smoothed[:, dim] - thresh) >= 0))
    return float(t[hit[0]] - t_step) if len(hit) else float("nan")


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation, NaN when either side is constant or too short."""
    if len(a) < 3 or np.std(a) < 1e-9 or np.std(b) < 1e-9:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def song_points(playlist: dict) -> dict[str, np.ndarray]:
    """Song id -> its V-A on the reference scale, from a ``playlist.json``."""
    scale = get_scale(playlist["scale"])
    return {s["song_id"]: scale.to_ref(np.array([s["valence"], s["arousal"]])) for s in playlist["songs"]}


def playlist_mean_va(playlist: dict) -> np.ndarray:
    """Time-weighted mean song V-A on the catalogue's own scale."""
    songs = playlist["songs"]
    w = np.array([s["end_s"] - s["start_s"] for s in songs], float)
    va = np.array([[s["valence"], s["arousal"]] for s in songs], float)
    return (va * w[:, None]).sum(0) / max(w.sum(), 1e-9)


def timeline_metrics(
    tl: pd.DataFrame,
    gt: pd.DataFrame,
    keyframes: pd.DataFrame,
    playlist: dict,
    summary: dict,
    settle_s: float = 6.0,
) -> dict[str, float]:
    """Everything the stabilizer comparison reports for one run."""
    t = tl["t_s"].to_numpy(float)
    stab = tl[["stab_valence", "stab_arousal"]].to_numpy(float)
    raw = tl[["fused_valence", "fused_arousal"]].to_numpy(float)
    truth = truth_at(gt, t)
    steady = plateau_mask(t, truth, settle_s)
    lags = [lag_to_63(t, stab, raw, ts, d) for ts, d in step_changes(keyframes)]
    songs = song_points(playlist)
    playing = np.stack([songs[str(s)] for s in tl["song_id"].astype(str)])
    minutes = max(summary["video_seconds"], 1e-9) / 60.0
    return {
        "pearson_valence": pearson(stab[:, 0], truth[:, 0]),
        "pearson_arousal": pearson(stab[:, 1], truth[:, 1]),
        "rmse": float(np.sqrt(np.mean((stab - truth) ** 2))),
        "jitter": jitter(t, stab, steady),
        "lag63_s": float(np.nanmean(lags)) if np.isfinite(lags).any() else float("nan"),
        "steps_seen": int(np.isfinite(lags).sum()),
        "steps": len(lags),
        "switches_per_min": summary["switches"] / minutes,
        "dwell_violations": int(summary["dwell_violations"]),
        "repeats": int(summary["repeats_within_memory"]),
        "song_dist_stab": float(np.mean(np.linalg.norm(playing - stab, axis=1))),
        "song_dist_truth": float(np.mean(np.linalg.norm(playing - truth, axis=1))),
    }


def gate_errors(tl: pd.DataFrame, gt: pd.DataFrame) -> dict[str, float]:
    """Does the EMA's uncertainty gate hold the frames it should? Mean error (reference units) of the per-frame
    fused estimate against the truth, on the frames the gate held and on those it passed."""
    t = tl["t_s"].to_numpy(float)
    err = np.linalg.norm(tl[["fused_valence", "fused_arousal"]].to_numpy(float) - truth_at(gt, t), axis=1)
    held = tl["held"].to_numpy().astype(bool)
    return {
        "held_frames": int(held.sum()),
        "passed_frames": int((~held).sum()),
        "held_mean_error": float(err[held].mean()) if held.any() else float("nan"),
        "passed_mean_error": float(err[~held].mean()) if (~held).any() else float("nan"),
        "face_found_fraction": float(tl["face_found"].mean()),
    }
