"""Render a video of a drawn face whose expression follows a V-A keyframe trajectory.

Keyframes CSV: ``t_s,valence,arousal`` in FindingEmo units (valence -3..3, arousal 0..6),
linearly interpolated; an optional ``face`` column (1/0) marks stretches without a face, and optional
``occlusion`` (0..1), ``blur`` (pixels at 360p) and ``yaw`` (-1..1) columns make the face hard to read. The
per-frame ground truth is written beside the video as ``<stem>.va.csv`` (``t_s,valence,arousal,face``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from emotune.synthetic.drawing import FaceLook, FaceStyle, add_noise, draw_context, draw_face
from emotune.utils.errors import DataError, MissingResourceError
from emotune.utils.io import atomic_path
from emotune.utils.scales import FINDINGEMO

LOOK_COLUMNS = ("occlusion", "blur", "yaw")  # optional keyframe columns: what makes the face hard to read


@dataclass
class VideoSpec:
    """How the clip looks; V-A comes from the keyframes."""

    fps: float = 24.0
    width: int = 640
    height: int = 360
    head_motion: float = 1.0  # 0 = still; 1 = gentle sway and bob
    lighting: float = 1.0  # 0 = constant; 1 = slow brightness drift of +-15 %
    noise: float = 4.0  # pixel noise std
    context: bool = True  # background follows the mood (scene path has a signal)
    seed: int = 0


def read_keyframes(path: str | Path) -> pd.DataFrame:
    """Read and check a keyframes CSV (sorted times, FE ranges)."""
    path = Path(path)
    if not path.is_file():
        raise MissingResourceError(f"Keyframes file not found: {path}. Give TRAJ=FILE with t_s,valence,arousal.")
    kf = pd.read_csv(path, skipinitialspace=True)
    kf.columns = [c.strip() for c in kf.columns]
    missing = {"t_s", "valence", "arousal"} - set(kf.columns)
    if missing:
        raise DataError(f"{path} lacks column(s) {sorted(missing)}; expected t_s,valence,arousal[,face].")
    if len(kf) < 1 or kf[["t_s", "valence", "arousal"]].isna().any().any():
        raise DataError(f"{path}: needs at least one complete keyframe row.")
    if not kf["t_s"].is_monotonic_increasing or kf["t_s"].iloc[0] < 0:
        raise DataError(f"{path}: t_s must start at >= 0 and increase.")
    ok = FINDINGEMO.contains(kf[["valence", "arousal"]].to_numpy())
    if not ok.all():
        bad = kf.loc[~ok].iloc[0]
        raise DataError(
            f"{path}: keyframe at t_s={bad.t_s} has valence={bad.valence}, arousal={bad.arousal}; "
            "valid FindingEmo units: valence -3..3, arousal 0..6."
        )
    if "face" not in kf.columns:
        kf["face"] = 1
    return kf


def trajectory(kf: pd.DataFrame, fps: float, duration_s: float | None = None) -> pd.DataFrame:
    """Per-frame ``t_s, valence, arousal, face`` (+ the face's look) by linear interpolation of V-A; the face
    and its look (``occlusion``, ``blur``, ``yaw``) hold from the previous keyframe."""
    dur = float(kf["t_s"].iloc[-1]) if duration_s is None else duration_s
    n = max(1, round(dur * fps))
    t = np.arange(n) / fps
    v = np.interp(t, kf["t_s"], kf["valence"])
    a = np.interp(t, kf["t_s"], kf["arousal"])
    idx = np.clip(np.searchsorted(kf["t_s"].to_numpy(), t, side="right") - 1, 0, len(kf) - 1)
    out = pd.DataFrame({"t_s": t, "valence": v, "arousal": a, "face": kf["face"].to_numpy()[idx].astype(int)})
    for col in LOOK_COLUMNS:
        out[col] = kf[col].to_numpy(float)[idx] if col in kf.columns else 0.0
    return out


def render_video(
    keyframes: str | Path | pd.DataFrame,
    out: str | Path,
    spec: VideoSpec | None = None,
    progress: bool = True,
) -> tuple[Path, Path]:
    """Render the clip to ``out`` (MP4, ``mp4v``) and its ground truth to ``<stem>.va.csv``."""
    spec = spec or VideoSpec()
    kf = keyframes if isinstance(keyframes, pd.DataFrame) else read_keyframes(keyframes)
    traj = trajectory(kf, spec.fps)
    out = Path(out)
    if out.suffix.lower() != ".mp4":
        raise DataError(f"OUT={out}: the renderer writes MP4; give a path ending in .mp4.")
    rng = np.random.default_rng(spec.seed)
    style = FaceStyle.random(rng)
    ref = FINDINGEMO.to_ref(traj[["valence", "arousal"]].to_numpy())
    with atomic_path(out) as tmp_video:
        fourcc = cv2.VideoWriter.fourcc("m", "p", "4", "v")
        writer = cv2.VideoWriter(str(tmp_video), fourcc, spec.fps, (spec.width, spec.height))
        if not writer.isOpened():
            raise DataError(f"OpenCV cannot write {out}; check the folder is writable.")
        fh = 0.55 * spec.height
        for i, row in tqdm(
            enumerate(traj.itertuples()),
            total=len(traj),
            desc="render video",
            disable=not progress,
            unit="frame",
        ):
            v, a = ref[i]
            ctx_v, ctx_a = (v, a) if spec.context else (0.0, 0.0)
            frame = draw_context(spec.width, spec.height, ctx_v, ctx_a, rng, layout_seed=spec.seed)
            if row.face:
                t = row.t_s
                cx = spec.width / 2 + spec.head_motion * 0.08 * spec.width * np.sin(2 * np.pi * t / 7.0)
                cy = spec.height / 2 + spec.head_motion * 0.04 * spec.height * np.sin(2 * np.pi * t / 3.1)
                ang = spec.head_motion * 5 * np.sin(2 * np.pi * t / 5.3)
                look = FaceLook(yaw=row.yaw, occlusion=row.occlusion, blur=row.blur * spec.height / 360)
                draw_face(frame, cx, cy, fh, v, a, style, ang, look)
            gain = 1.0 + spec.lighting * 0.15 * np.sin(2 * np.pi * row.t_s / 23.0)
            writer.write(add_noise(frame, rng, sigma=spec.noise, gain=gain))
        writer.release()
    gt = out.with_suffix(".va.csv")
    with atomic_path(gt) as tmp:
        traj.round(4).to_csv(tmp, index=False)
    return out, gt


def default_keyframes() -> pd.DataFrame:
    """A 2-minute script with several mood changes and a 10 s stretch without a face."""
    rows = [
        (0, 1, 3, 1),
        (14, 1, 3, 1),
        (16, 3, 5, 1),
        (34, 3, 5, 1),
        (36, -2, 5, 1),
        (52, -2, 5, 1),
        (54, -2, 5, 0),
        (64, -2, 5, 0),
        (66, -2, 1, 1),
        (84, -2, 1, 1),
        (94, 0, 2, 1),
        (104, 2, 4, 1),
        (120, 2, 4, 1),
    ]
    return pd.DataFrame(rows, columns=["t_s", "valence", "arousal", "face"])
