"""A real ``cv2.VideoCapture`` that misbehaves on purpose (for ``infer(cfg, capture_factory=...)``)."""

from __future__ import annotations

import cv2


class WrappedCapture:
    """A real ``cv2.VideoCapture`` with a lying fps, frame transforms, or a failure part-way."""

    def __init__(self, path, fps: float | None = None, fail_after: int | None = None, transform=None) -> None:
        self.cap, self.fps, self.fail_after, self.transform, self.grabs = (
            cv2.VideoCapture(path),
            fps,
            fail_after,
            transform,
            0,
        )

    def isOpened(self) -> bool:  # noqa: N802 (OpenCV's API)
        return self.cap.isOpened()

    def get(self, prop: int) -> float:
        if prop == cv2.CAP_PROP_FPS and self.fps is not None:
            return self.fps
        return self.cap.get(prop)

    def grab(self) -> bool:
        self.grabs += 1
        if self.fail_after is not None and self.grabs > self.fail_after:
            raise OSError("Input/output error (the disk went away)")
        return self.cap.grab()

    def retrieve(self):
        ok, frame = self.cap.retrieve()
        return ok, (self.transform(frame) if ok and self.transform else frame)

    def release(self) -> None:
        self.cap.release()
