"""What a person sees: the annotated frame (face box, V-A gauge, current song), as an MP4 or a live window."""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from emotune.utils.io import atomic_path

log = logging.getLogger(__name__)


def annotate(frame: np.ndarray, face_box: np.ndarray | None, stab: np.ndarray, song: dict) -> np.ndarray:
    """A copy of ``frame`` with the chosen face's box, the stabilized V-A on a gauge and the song playing."""
    img = frame.copy()
    if face_box is not None:
        x1, y1, x2, y2 = (int(v) for v in face_box[:4])
        cv2.rectangle(img, (x1, y1), (x2, y2), (0, 255, 0), 2)
    h, w = img.shape[:2]
    g = min(h, w) // 4
    ox, oy = w - g - 10, 10
    cv2.rectangle(img, (ox, oy), (ox + g, oy + g), (255, 255, 255), 1)
    cv2.line(img, (ox + g // 2, oy), (ox + g // 2, oy + g), (200, 200, 200), 1)
    cv2.line(img, (ox, oy + g // 2), (ox + g, oy + g // 2), (200, 200, 200), 1)
    px, py = int(ox + (stab[0] + 1) / 2 * g), int(oy + (1 - (stab[1] + 1) / 2) * g)
    cv2.circle(img, (px, py), 5, (0, 0, 255), -1)
    label = f"{song.get('artist', '')} - {song.get('title', song['song_id'])}".strip(" -")
    cv2.putText(img, label[:60], (10, h - 12), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2, cv2.LINE_AA)
    return img


class VideoRenderer:
    """``annotated.mp4`` at the analysis rate, written to a temporary file and renamed on ``close()``."""

    def __init__(self, path: Path, fps: float) -> None:
        self.path, self.fps, self.writer, self._ctx = path, fps, None, atomic_path(path)
        self.tmp = self._ctx.__enter__()

    def write(self, img: np.ndarray) -> None:
        if self.writer is None:
            self.writer = cv2.VideoWriter(
                str(self.tmp), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (img.shape[1], img.shape[0])
            )
        self.writer.write(img)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
        self._ctx.__exit__(None, None, None)

    def abort(self) -> None:
        """Drop the temporary file; nothing appears under the final name."""
        if self.writer is not None:
            self.writer.release()
        err = RuntimeError("render aborted")
        self._ctx.__exit__(type(err), err, None)


def display_available() -> bool:
    """A screen to draw on (X11 / Wayland on Linux; assumed elsewhere)."""
    if os.name != "posix" or "darwin" in os.uname().sysname.lower():
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class LiveWindow:
    """The webcam view with the overlay; ``q`` or Esc ends the session (the playlist is still written)."""

    title = "emotune (q to stop)"

    def __init__(self) -> None:
        self.open, self.stop_requested = True, False

    def show(self, img: np.ndarray) -> None:
        if not self.open:
            return
        try:
            cv2.imshow(self.title, img)
            key = cv2.waitKey(1) & 0xFF
        except cv2.error as exc:  # opencv-python-headless has no GUI
            log.warning(
                "No live window: this OpenCV build has no GUI (%s). Install opencv-python (not "
                "-headless) for one; analysis goes on.",
                str(exc).splitlines()[0][:80],
            )
            self.open = False
            return
        if key in (ord("q"), 27):
            self.stop_requested = True

    def close(self) -> None:
        if self.open:
            with contextlib.suppress(cv2.error):
                cv2.destroyWindow(self.title)


def make_live_window(setting: Any, live: bool) -> LiveWindow | None:
    """``display=auto`` opens a window for webcams when a screen exists; ``true`` always tries; ``false`` never."""
    if setting in (False, "false", "False"):
        return None
    if setting in (True, "true", "True"):
        return LiveWindow()
    return LiveWindow() if live and display_available() else None
