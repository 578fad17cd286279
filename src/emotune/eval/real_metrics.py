"""Metrics that score V-A predictions against real labels (pure functions of arrays): AUCs between expression
groups for labelled faces, correlations for rated photographs."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import roc_auc_score

# valence: a smile against the negative expressions; arousal: the activated expressions against the calm ones.
VALENCE_GROUPS = (("happy",), ("angry", "disgust", "fear", "sad"))
AROUSAL_GROUPS = (("surprise", "fear", "angry"), ("neutral", "sad"))


def group_auc(score: np.ndarray, expression: np.ndarray, groups: tuple[tuple[str, ...], tuple[str, ...]]) -> float:
    """How often a face of the first group scores higher than one of the second (ROC AUC; NaN if a group is empty)."""
    hi, lo = np.isin(expression, groups[0]), np.isin(expression, groups[1])
    keep = (hi | lo) & np.isfinite(score)
    if hi[keep].sum() == 0 or lo[keep].sum() == 0:
        return float("nan")
    return float(roc_auc_score(hi[keep], score[keep]))


def face_metrics(va: np.ndarray, expression: np.ndarray) -> dict[str, float]:
    """Valence and arousal AUC of ``(n, 2)`` predictions (NaN rows: no face) and the mean V-A per expression."""
    out = {
        "valence_auc": group_auc(va[:, 0], expression, VALENCE_GROUPS),
        "arousal_auc": group_auc(va[:, 1], expression, AROUSAL_GROUPS),
        "n": float(np.isfinite(va[:, 0]).sum()),
    }
    for e in sorted(set(expression)):
        rows = (expression == e) & np.isfinite(va[:, 0])
        if rows.any():
            out[f"{e}_valence"], out[f"{e}_arousal"] = (float(x) for x in va[rows].mean(0))
    return out


def ccc(x: np.ndarray, y: np.ndarray) -> float:
    """Lin's concordance correlation coefficient."""
    mx, my = x.mean(), y.mean()
    cov = ((x - mx) * (y - my)).mean()
    return float(2 * cov / (x.var() + y.var() + (mx - my) ** 2 + 1e-12))


def rating_metrics(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """Pearson, Spearman and CCC per dimension of ``(n, 2)`` predictions against ratings (reference scale)."""
    out: dict[str, float] = {"n": float(len(target))}
    for i, d in enumerate(("valence", "arousal")):
        p, t = pred[:, i], target[:, i]
        const = len(t) < 3 or float(np.std(p)) < 1e-9
        out[f"{d}_pearson"] = 0.0 if const else float(pearsonr(p, t)[0])
        out[f"{d}_spearman"] = 0.0 if const else float(spearmanr(p, t)[0])
        out[f"{d}_ccc"] = 0.0 if const else ccc(p, t)
    return out


def sigma_error(mean: np.ndarray, var: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """Per dimension: Spearman of σ with the absolute error, and the share of targets inside the central 90 %
    interval ``mean ± 1.645 σ``."""
    out: dict[str, float] = {}
    for i, d in enumerate(("valence", "arousal")):
        ok = np.isfinite(mean[:, i]) & np.isfinite(target[:, i]) & np.isfinite(var[:, i])
        sd, err = np.sqrt(var[ok, i]), np.abs(mean[ok, i] - target[ok, i])
        out[f"{d}_sigma_error"] = float(spearmanr(sd, err).statistic) if ok.sum() > 10 else float("nan")
        out[f"{d}_coverage90"] = float((err <= 1.645 * sd).mean()) if ok.any() else float("nan")
    return out


def calibration(va: np.ndarray, expression: np.ndarray, coords: dict[str, tuple[float, float]]) -> dict[str, float]:
    """Each expression's mean reading and its distance from the published coordinates; their mean distance and the
    largest |mean| of any expression (inside the plane when at most 1)."""
    out: dict[str, float] = {}
    dists, peaks = [], []
    for e, c in coords.items():
        rows = (expression == e) & np.isfinite(va[:, 0])
        if rows.any():
            m = va[rows].mean(0)
            out[f"{e}_distance"] = float(np.linalg.norm(m - np.asarray(c)))
            dists.append(out[f"{e}_distance"])
            peaks.append(float(np.abs(m).max()))
    out["mean_distance"] = float(np.mean(dists)) if dists else float("nan")
    out["max_abs_mean"] = float(max(peaks)) if peaks else float("nan")
    return out


def face_part(rows_by_set: dict[str, Any]) -> dict[str, Any]:
    """Per model set, on the frames where the face path found a face: each path's AUCs and per-expression means,
    the better single path, the fusion's calibration against the published coordinates, σ against the error."""
    from emotune.data.expressions import RUSSELL_MEHRABIAN_1977

    res: dict[str, Any] = {}
    for name, rows in rows_by_set.items():
        expr, found, y = rows.column("expression"), rows.face_found, rows.label
        same = {k: np.where(found[:, None], v, np.nan) for k, v in
                (("scene", rows.scene_mean), ("face", rows.face_mean), ("fused", rows.fused_mean))}  # fmt: skip
        paths = {k: face_metrics(v, expr) for k, v in same.items()}
        best = {d: max(paths["scene"][f"{d}_auc"], paths["face"][f"{d}_auc"]) for d in ("valence", "arousal")}
        res[name] = {
            "n_images": len(expr),
            "face_found": float(found.mean()),
            "cross_fitted": rows.cross_fitted,
            **paths,
            "best_single": {f"{d}_auc": v for d, v in best.items()},
            "calibration": {
                "face": calibration(same["face"], expr, RUSSELL_MEHRABIAN_1977),
                "fused": calibration(same["fused"], expr, RUSSELL_MEHRABIAN_1977),
            },
            "fused_sigma": sigma_error(same["fused"], np.where(found[:, None], rows.fused_var, np.nan), y),
            "points": weight_points(rows),
        }
    res["constant"] = {"face": {"valence_auc": 0.5, "arousal_auc": 0.5}}  # a constant ranks nothing
    return res


def photo_part(rows_by_set: dict[str, Any], splits: list[str]) -> dict[str, Any]:
    """Per model set, overall and on photographs of people: Pearson, Spearman, CCC of the scene path, the fusion and
    (where a face is found) the face path with the scene and the fusion on those same photographs; σ against the
    fusion's error."""
    res: dict[str, Any] = {"splits": list(splits)}
    for name, rows in rows_by_set.items():
        y, person, found = rows.label, rows.column("category") == "Person", rows.face_found
        r: dict[str, Any] = {"cross_fitted": rows.cross_fitted}
        for subset, keep in (("all", np.ones_like(person)), ("person", person)):
            r[subset] = {
                "n": int(keep.sum()),
                "n_face": int((keep & found).sum()),
                "scene": rating_metrics(rows.scene_mean[keep], y[keep]),
                "fused": rating_metrics(rows.fused_mean[keep], y[keep]),
                "face_where_found": rating_metrics(rows.face_mean[keep & found], y[keep & found]),
                "scene_where_found": rating_metrics(rows.scene_mean[keep & found], y[keep & found]),
                "fused_where_found": rating_metrics(rows.fused_mean[keep & found], y[keep & found]),
            }
            r[subset]["best_single"] = {
                f"{d}_pearson": max(r[subset]["scene"][f"{d}_pearson"], r[subset]["face_where_found"][f"{d}_pearson"])
                for d in ("valence", "arousal")
            }
        r["fused_sigma"] = sigma_error(rows.fused_mean, rows.fused_var, y)
        r["points"] = weight_points(rows)
        res[name] = r
        res["n_images"], res["n_person"] = len(y), int(person.sum())
        res["constant"] = {"all": {"scene": rating_metrics(np.zeros_like(y), y)}}  # a constant ranks nothing
    return res


def weight_points(rows: Any) -> dict[str, np.ndarray]:
    """For the weight figure, per image with a face: the face's share of the frame and the fusion's weight on it."""
    from emotune.detect.context import CONTEXT_COLUMNS

    found = rows.face_found
    area = np.exp(rows.context[found, CONTEXT_COLUMNS.index("log_face_area")])
    return {"area": area, "weight": rows.face_weight[found]}


def clip_metrics(tl: Any, window_s: float, edge: float) -> dict[str, float]:
    """A run's ``timeline.csv``: faces found, stabilized valence over its first and last ``window_s`` seconds, and the
    longest stretch (seconds) of stabilized arousal or valence at ``|x| >= edge``."""
    t = tl["t_s"].to_numpy()
    first, last = t <= t[0] + window_s, t >= t[-1] - window_s
    out = {
        "face_found": float(tl["face_found"].mean()),
        "stab_valence_first": float(tl.loc[first, "stab_valence"].mean()),
        "stab_valence_last": float(tl.loc[last, "stab_valence"].mean()),
    }
    out["stab_valence_rise"] = out["stab_valence_last"] - out["stab_valence_first"]
    for path in ("scene", "face", "fused"):  # each path's own valence rise, frame by frame (no stabilizer)
        col = tl[f"{path}_valence"]
        out[f"{path}_valence_rise"] = float(col[last].mean() - col[first].mean())
    for d in ("valence", "arousal"):
        out[f"stab_{d}_edge_s"] = longest_run(t, np.abs(tl[f"stab_{d}"].to_numpy()) >= edge)
    return out


def longest_run(t: np.ndarray, flag: np.ndarray) -> float:
    """The longest time (seconds) between the first and the last of consecutive flagged frames (one frame: its own
    interval to the next frame)."""
    step = float(np.median(np.diff(t))) if len(t) > 1 else 0.0
    best, start = 0.0, None
    for i, f in enumerate(flag):
        if f and start is None:
            start = i
        if start is not None and (not f or i == len(flag) - 1):
            end = i if f else i - 1
            best = max(best, float(t[end] - t[start]) + step)
            start = None
    return best
