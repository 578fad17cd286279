"""What a person sees: the frame with the face box, the mood's trail on a small circumplex, the song playing
and why; as frames of ``annotated.mp4`` or in a live window."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

log = logging.getLogger(__name__)

QUADRANTS = (("tense", -1, 1), ("excited", 1, 1), ("sad", -1, -1), ("calm", 1, -1))


@dataclass
class OverlayState:
    """What the overlay shows at one moment."""

    stabilized: np.ndarray  # (2,) reference V-A
    face_box: np.ndarray | None = None  # in the drawn frame's pixels
    trail: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))  # recent stabilized V-A, oldest first
    song: dict[str, Any] = field(default_factory=dict)  # title, artist, song_id, station
    mode: str = "validate"
    step: str = ""
    held: bool = False


def _text(
    img: np.ndarray,
    text: str,
    org: tuple[int, int],
    scale: float,
    color: tuple[int, int, int] = (255, 255, 255),
    thick: int = 1,
) -> None:
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, color, thick, cv2.LINE_AA)


def draw_circumplex(img: np.ndarray, state: OverlayState, size: int) -> None:
    """The V-A plane in the top-right corner: quadrant names, the trail, the current point."""
    w = img.shape[1]
    ox, oy = w - size - 10, 10
    panel = img[oy : oy + size, ox : ox + size]
    panel[:] = (panel.astype(np.float32) * 0.45).astype(np.uint8)  # darken for contrast
    c = (ox + size // 2, oy + size // 2)
    r = size // 2 - 4
    cv2.circle(img, c, r, (200, 200, 200), 1, cv2.LINE_AA)
    cv2.line(img, (c[0] - r, c[1]), (c[0] + r, c[1]), (130, 130, 130), 1)
    cv2.line(img, (c[0], c[1] - r), (c[0], c[1] + r), (130, 130, 130), 1)
    fs = max(0.3, size / 420)
    for name, sx, sy in QUADRANTS:
        (tw, th), _ = cv2.getTextSize(name, cv2.FONT_HERSHEY_SIMPLEX, fs, 1)
        x = c[0] + (r // 2 if sx > 0 else -r // 2) - tw // 2
        y = c[1] + (-r // 2 if sy > 0 else r // 2) + th // 2
        cv2.putText(img, name, (x, y), cv2.FONT_HERSHEY_SIMPLEX, fs, (170, 170, 170), 1, cv2.LINE_AA)

    def px(va: np.ndarray) -> tuple[int, int]:
        va = np.clip(va, -1, 1)
        return int(c[0] + va[0] * r), int(c[1] - va[1] * r)

    trail = state.trail
    for i in range(1, len(trail)):
        shade = int(80 + 175 * i / len(trail))
        cv2.line(img, px(trail[i - 1]), px(trail[i]), (shade, shade, 0), 2, cv2.LINE_AA)
    cv2.circle(img, px(state.stabilized), max(3, size // 30), (0, 0, 255) if not state.held else (0, 165, 255), -1)


def annotate(frame: np.ndarray, state: OverlayState) -> np.ndarray:
    """A copy of ``frame`` with the overlay drawn on it."""
    img = frame.copy()
    h, w = img.shape[:2]
    if state.face_box is not None:
        x1, y1, x2, y2 = (int(v) for v in state.face_box[:4])
        cv2.rectangle(img, (x1, y1), (x2, y2), (0, 255, 0), 2)
    draw_circumplex(img, state, max(80, min(h, w) // 3))
    fs = max(0.4, min(h, w) / 720)
    song = state.song
    title = " - ".join(x for x in (song.get("artist"), song.get("title")) if x) or f"song {song.get('song_id', '?')}"
    station = f"station {song['station']}" if "station" in song else ""
    line2 = "  |  ".join(x for x in (state.step or state.mode, station, "holding (uncertain)" * state.held) if x)
    _text(img, f"Now playing: {title}"[:70], (10, h - int(40 * fs) - 8), fs, thick=1)
    _text(img, line2[:80], (10, h - 10), fs * 0.8, color=(200, 230, 255))
    return img


def overlay_states(rows: Sequence[Any], catalog: Any, trail_s: float = 20.0) -> list[OverlayState]:
    """One :class:`OverlayState` per timeline row (the trail covers the last ``trail_s`` seconds)."""
    t = np.array([r.t_s for r in rows])
    stab = np.array([r.stabilized for r in rows]).reshape(-1, 2)
    meta_cache: dict[int, dict] = {}
    out = []
    for i, r in enumerate(rows):
        if r.play.row not in meta_cache:
            meta_cache[r.play.row] = {**catalog.song_meta(r.play.row), "station": r.play.station}
        start = np.searchsorted(t, r.t_s - trail_s)
        out.append(
            OverlayState(
                stab[i],
                r.perception.face_box,
                stab[start : i + 1],
                meta_cache[r.play.row],
                r.play.why.get("mode", ""),
                r.play.why.get("step", ""),
                r.held,
            )
        )
    return out


def display_available() -> bool:
    """A screen to draw on (X11 / Wayland on Linux; assumed elsewhere)."""
    if os.name != "posix" or "darwin" in os.uname().sysname.lower():
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


# The live window's feedback keys (docs/listener.md): the song playing is skipped, liked or disliked.
FEEDBACK_KEYS = {ord("s"): "skip", ord("n"): "skip", ord("l"): "like", ord("d"): "dislike"}


class LiveWindow:
    """The webcam view with the overlay; ``q`` or Esc ends the session (the playlist is still written); ``s`` (or
    ``n``) skips the song playing, ``l`` likes it, ``d`` dislikes it (:data:`FEEDBACK_KEYS`)."""

    title = "emotune (q stop, s skip, l like, d dislike)"

    def __init__(self) -> None:
        self.open, self.stop_requested = True, False
        self._rows: list[Any] = []
        self.feedback: list[str] = []  # keys pressed since the caller last took them (:meth:`take_feedback`)

    def show(self, img: np.ndarray) -> None:
        """Show one image; a GUI-less OpenCV is reported once and the window closes."""
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
        elif key in FEEDBACK_KEYS:
            self.feedback.append(FEEDBACK_KEYS[key])

    def take_feedback(self) -> list[str]:
        """The feedback events pressed since the last call (``skip``, ``like``, ``dislike``), oldest first."""
        events, self.feedback = self.feedback, []
        return events

    def show_rows(self, frames: Sequence[tuple[float, np.ndarray]], rows: Sequence[Any], catalog: Any) -> None:
        """Show analysed frames with their overlay."""
        self._rows.extend(rows)
        states = overlay_states(self._rows[-200:], catalog)[-len(rows) :]
        for (_, frame), state in zip(frames, states):
            self.show(annotate(frame, state))

    def close(self) -> None:
        """Close the window."""
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
