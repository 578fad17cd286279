"""Frames from a video file or a webcam at a chosen analysis rate (OpenCV decode, in memory only)."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from emotune.utils.errors import DataError, MissingResourceError

log = logging.getLogger(__name__)

MAX_SANE_FPS = 1000.0


@dataclass
class VideoInfo:
    """What a source reports about itself (fps used for timing, frame count, size, live or file)."""

    source: str
    fps: float  # nominal fps used for timing (fallback 30 when the file reports nonsense)
    frames: int  # reported frame count (0 for webcams / unknown)
    width: int
    height: int
    live: bool
    fps_reported: float = 0.0
    notes: list[str] = field(default_factory=list)


def is_webcam(video: Any) -> bool:
    """``0``, ``1``... (or their strings) mean a webcam index."""
    return isinstance(video, int) or (isinstance(video, str) and video.strip().isdigit())


VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".y4m")  # what FFmpeg decodes


def batch_videos(video: Any) -> list[Path] | None:
    """The videos of a batch run: a folder (its video files, sorted) or a ``.txt`` list (one path per line,
    relative to the list's folder, ``#`` comments). ``None`` for a single video or a webcam."""
    if is_webcam(video):
        return None
    path = Path(str(video))
    if path.is_dir():
        vids = sorted(p for p in path.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())
        if not vids:
            raise DataError(
                f"video={path} is a folder with no video files ({', '.join(VIDEO_SUFFIXES)}); "
                "give a video file, a folder of videos, or a .txt list."
            )
        return vids
    if path.suffix.lower() == ".txt" and path.is_file():
        lines = [ln.strip() for ln in path.read_text().splitlines()]
        vids = [
            (path.parent / ln) if not Path(ln).is_absolute() else Path(ln)
            for ln in lines
            if ln and not ln.startswith("#")
        ]
        if not vids:
            raise DataError(f"video={path} lists no videos; put one video path per line.")
        return vids
    return None


def check_video_path(video: Any) -> None:
    """Cheap checks of a video file argument, run before anything is loaded."""
    if is_webcam(video):
        return
    path = Path(str(video))
    if not path.exists():
        raise MissingResourceError(f"Video not found: video={path}. Give a video file path or a webcam index.")
    if path.is_dir():
        raise DataError(f"video={path} is a folder; give one video file, or run it as a batch.")
    if path.stat().st_size == 0:
        raise DataError(f"video={path} is an empty file.")


DECODE_THREADS = 1  # FFmpeg threads for a file: the reader thread stays far ahead with one (make bench), and more
# compete with the models' threads for the cores (the scene backbone ran twice as slow beside a 2-thread decoder)


def open_video_file(path: str) -> cv2.VideoCapture:
    """A video file through FFmpeg with ``DECODE_THREADS`` decoding threads (OpenCV's own choice when its FFmpeg
    backend cannot open it)."""
    cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, DECODE_THREADS])
    return cap if cap.isOpened() else cv2.VideoCapture(path)


def open_capture(video: Any, capture_factory: Any = None) -> tuple[cv2.VideoCapture, VideoInfo]:
    """Open ``video`` (a path, or a webcam index like ``0``) with clear errors."""
    factory = capture_factory or cv2.VideoCapture
    live = is_webcam(video)
    if live:
        idx = int(video)
        cap = factory(idx)
        if cap is None or not cap.isOpened():
            raise MissingResourceError(
                f"Webcam video={idx} did not open; check the camera index (0, 1, ...) "
                "and that no other program holds it."
            )
        src = f"webcam:{idx}"
    else:
        path = Path(str(video))
        check_video_path(path)
        cap = factory(str(path)) if capture_factory else open_video_file(str(path))
        if cap is None or not cap.isOpened():
            raise DataError(f"video={path} could not be opened as a video (corrupt or not a video file).")
        src = str(path)
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    info = VideoInfo(
        src,
        fps,
        max(0, frames),
        int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0),
        int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0),
        live,
        fps_reported=fps,
    )
    if not (0 < fps <= MAX_SANE_FPS):
        info.notes.append(f"reported fps {fps} is unusable; timing falls back to frame timestamps / 30 fps")
        info.fps = 30.0
    return cap, info


class FrameReader:
    """``(t_s, frame_bgr)`` at about ``analysis_fps`` from an open capture; remembers why it stopped.

    Skipped frames are only ``grab()``-ed (not converted), and timing uses the container's timestamps
    when the reported fps is unusable, else the frame index over the nominal fps. ``stopped_by`` is
    ``eof`` (the source ended), ``max_frames`` (the user's limit) or ``error`` (unreadable part-way).
    """

    def __init__(
        self, cap: cv2.VideoCapture, info: VideoInfo, analysis_fps: float, max_frames: int | None = None
    ) -> None:
        self.cap, self.info, self.step_s, self.max_frames = cap, info, 1.0 / analysis_fps, max_frames
        self.stopped_by: str | None = None
        self.error: str | None = None
        self.last_t = 0.0

    def __iter__(self) -> Iterator[tuple[float, np.ndarray]]:
        cap, info = self.cap, self.info
        next_t, idx, yielded = 0.0, -1, 0
        while True:
            try:
                if not cap.grab():
                    self.stopped_by = "eof"
                    return
                idx += 1
                t = idx / info.fps
                t_ms = cap.get(cv2.CAP_PROP_POS_MSEC) if not info.live else 0.0
                if not info.live and t_ms and t_ms > 0 and not (0 < info.fps_reported <= MAX_SANE_FPS):
                    t = t_ms / 1000.0
                if t + 1e-6 < next_t:
                    continue
                ok, frame = cap.retrieve()
            except (OSError, RuntimeError, cv2.error) as exc:  # the file became unreadable part-way
                self.stopped_by, self.error = "error", str(exc).splitlines()[0][:160]
                return
            if not ok or frame is None:
                self.stopped_by = "eof"
                return
            yield t, as_bgr(frame)
            self.last_t = t
            yielded += 1
            next_t += self.step_s * (np.floor((t - next_t) / self.step_s) + 1)  # stay on the analysis grid
            if self.max_frames and yielded >= self.max_frames:
                self.stopped_by = "max_frames"
                return

    def truncated(self) -> bool:
        """Whether the file ended (or failed) well before its reported length; never for a user's limit."""
        if self.stopped_by == "error":
            return True
        if self.stopped_by != "eof" or not self.info.frames or self.info.live:
            return False
        expected = self.info.frames / self.info.fps
        return self.last_t + 2 * self.step_s + 1.0 / self.info.fps < expected - 1.0


def as_bgr(frame: np.ndarray) -> np.ndarray:
    """Gray or BGRA frames as 3-channel BGR."""
    if frame.ndim == 2 or frame.shape[2] == 1:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    return frame


DECODE_NICENESS = 10  # the decoding thread yields the cores to the models and decodes in their idle moments


def lower_thread_priority(niceness: int = DECODE_NICENESS) -> None:
    """Lower the calling thread's scheduling priority (Linux: each thread has its own nice value; elsewhere, or
    when not permitted, nothing changes)."""
    import threading

    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)


class Prefetcher:
    """Decodes ahead in a background thread so decoding overlaps the models (OpenCV releases the GIL while it
    decodes). Items and their order are the wrapped iterable's; an exception there is re-raised here.

    Use as a context manager, so the thread is stopped and joined before the capture is released::

        with Prefetcher(reader, depth=16) as frames:
            for t, frame in frames: ...
    """

    _END = object()

    def __init__(self, iterable: Iterator | Any, depth: int = 16) -> None:
        import queue
        import threading

        self._it = iterable
        self._q: queue.Queue[Any] = queue.Queue(maxsize=max(1, int(depth)))
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="emotune-decode", daemon=True)

    def _run(self) -> None:
        import queue

        lower_thread_priority()
        try:
            for item in self._it:
                while not self._stop.is_set():
                    try:
                        self._q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    return
        except BaseException as exc:  # handed to the consumer
            self._error = exc
        finally:
            while not self._stop.is_set():
                try:
                    self._q.put(self._END, timeout=0.1)
                    break
                except queue.Full:
                    continue

    def __enter__(self) -> Iterator:
        self._thread.start()
        return self._items()

    def _items(self) -> Iterator:
        while True:
            item = self._q.get()
            if item is self._END:
                if self._error is not None:
                    raise self._error
                return
            yield item

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
