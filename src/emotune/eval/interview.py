"""A harder copy of a real face clip, standing in for an interview: the face smaller in a wider frame, a microphone
in front of the chin, two lines of burnt-in subtitles, and as long as an interview answer (the clip played forward,
then backward, and so on, so no frame jumps).

Built from the real clip (``make real-clip``) by :func:`make_interview_clip`; ``make eval-real`` runs every model
set on it and reports the share of analysed frames with a face. The occluder sits where a handheld microphone
would (below the mouth, over the chin, its handle down to the frame's edge) at a fixed place in the source frame:
nothing in it is placed from a detection.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm.auto import tqdm

from emotune.utils.errors import DataError
from emotune.utils.io import atomic_path

SUBTITLES = (
    ("I think the first thing you notice", "is how quiet it gets at night."),
    ("We didn't expect that at all,", "to be honest with you."),
    ("And then, of course, the music", "started again in the morning."),
    ("It's hard to explain to people", "who haven't been there."),
)


@dataclass(frozen=True)
class InterviewSpec:
    """How the copy is made.

    Args:
        seconds: its length.
        scale: the source frame's size in the output frame (a face further from the camera).
        mic_xy: the microphone head's centre in the source frame, as fractions of its width and height.
        mic_radius: the head's radius, as a fraction of the source frame's height.
        subtitle_every_s: how long each pair of subtitle lines stays.
    """

    seconds: float = 50.0
    scale: float = 0.6
    mic_xy: tuple[float, float] = (0.70, 0.86)
    mic_radius: float = 0.11
    subtitle_every_s: float = 3.0


def _read_all(src: Path) -> tuple[list[np.ndarray], float]:
    cap = cv2.VideoCapture(str(src))
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    if not frames or not 0 < fps <= 240:
        raise DataError(f"{src} could not be read as a video (frames: {len(frames)}, fps: {fps}).")
    return frames, fps


def _microphone(frame: np.ndarray, spec: InterviewSpec) -> None:
    """A dark handheld microphone: a foam head over the chin and its handle down to the bottom edge (in place)."""
    h, w = frame.shape[:2]
    cx, cy, r = int(spec.mic_xy[0] * w), int(spec.mic_xy[1] * h), int(spec.mic_radius * h)
    cv2.rectangle(frame, (cx - r // 3, cy), (cx + r // 3, h), (40, 40, 40), -1)
    cv2.ellipse(frame, (cx, cy), (r, int(r * 1.15)), 0, 0, 360, (25, 25, 25), -1)
    for k in range(-r + 4, r - 3, 6):  # the foam's texture
        cv2.line(frame, (cx + k, cy - r), (cx + k, cy + r), (45, 45, 45), 1)


def _subtitle(frame: np.ndarray, lines: tuple[str, ...]) -> None:
    """Two centred lines of white text with a black outline near the bottom (in place)."""
    h, w = frame.shape[:2]
    font, size = cv2.FONT_HERSHEY_SIMPLEX, h / 600
    for i, text in enumerate(lines):
        (tw, th), _ = cv2.getTextSize(text, font, size, 2)
        org = ((w - tw) // 2, int(h * 0.86) + i * int(th * 1.6))
        cv2.putText(frame, text, org, font, size, (0, 0, 0), 5, cv2.LINE_AA)
        cv2.putText(frame, text, org, font, size, (255, 255, 255), 2, cv2.LINE_AA)


def make_interview_clip(src: Path, dst: Path, spec: InterviewSpec | None = None, progress: bool = True) -> Path:
    """Write the interview-like copy of ``src`` to ``dst`` (mp4, the source's size and frame rate)."""
    spec = spec or InterviewSpec()
    frames, fps = _read_all(src)
    h, w = frames[0].shape[:2]
    order = list(range(len(frames))) + list(range(len(frames) - 2, 0, -1))  # forward, then backward
    n = round(spec.seconds * fps)
    sw, sh = int(w * spec.scale), int(h * spec.scale)
    x0, y0 = (w - sw) // 2, int((h - sh) * 0.35)
    backdrop = np.full((h, w, 3), (70, 62, 58), np.uint8)
    cv2.rectangle(backdrop, (0, int(h * 0.8)), (w, h), (50, 45, 42), -1)  # a desk
    with atomic_path(dst) as tmp:
        out = cv2.VideoWriter(str(tmp), cv2.VideoWriter.fourcc("m", "p", "4", "v"), fps, (w, h))
        try:
            for i in tqdm(range(n), desc="interview-like clip", unit="frame", leave=False, disable=not progress):
                src_frame = frames[order[i % len(order)]].copy()
                _microphone(src_frame, spec)
                frame = backdrop.copy()
                frame[y0 : y0 + sh, x0 : x0 + sw] = cv2.resize(src_frame, (sw, sh), interpolation=cv2.INTER_AREA)
                _subtitle(frame, SUBTITLES[int(i / fps / spec.subtitle_every_s) % len(SUBTITLES)])
                out.write(frame)
        finally:
            out.release()
    return dst
