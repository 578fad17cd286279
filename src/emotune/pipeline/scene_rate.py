"""When the scene path runs: a scene changes far more slowly than a face, so its backbone runs on a shot change (a
cheap test on a tiny grey thumbnail) or when its last reading is ``every_s`` old, and its output is reused between.
"""

from __future__ import annotations

import cv2
import numpy as np

from emotune.utils.errors import check_range

THUMB = (32, 18)  # width, height of the shot-change thumbnail (16:9; the test is insensitive to the exact size)


def thumbnail(frame_bgr: np.ndarray) -> np.ndarray:
    """A ``THUMB``-sized grey float image in [0, 1]."""
    grey = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY) if frame_bgr.ndim == 3 else frame_bgr
    return cv2.resize(grey, THUMB, interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


class SceneSchedule:
    """Decides, frame by frame, whether the scene backbone runs or its last reading is reused.

    Args:
        every_s: the longest a scene reading is reused, in seconds of video (0: run on every analysed frame).
        change: a shot change is a mean absolute difference of the grey thumbnails above this (0..1).
    """

    def __init__(self, every_s: float = 1.0, change: float = 0.08) -> None:
        self.every_s = check_range("perceive.scene_every_s", every_s, 0.0)
        self.change = check_range("perceive.scene_change", change, 0.0, 1.0)
        self.reset()

    def reset(self) -> None:
        """A new video: the next frame runs the scene path."""
        self._thumb: np.ndarray | None = None
        self._t = -np.inf

    def plan(self, frames_bgr: list[np.ndarray], times: list[float]) -> list[bool]:
        """Which of these frames (in order, with their times) run the scene backbone; later frames compare with the
        last frame that ran, including one of this batch."""
        out = []
        for frame, t in zip(frames_bgr, times):
            thumb = None if self.every_s == 0 else thumbnail(frame)
            run = (
                thumb is None
                or self._thumb is None
                or t - self._t >= self.every_s
                or t < self._t  # time went backwards: another clip
                or float(np.abs(thumb - self._thumb).mean()) > self.change
            )
            if run:
                self._thumb, self._t = thumb, t
            out.append(run)
        return out
