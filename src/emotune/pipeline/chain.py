"""PERCEIVE -> STABILIZE -> MATCH as one object (``conf/infer.yaml``'s ``pipeline`` node).

``step`` takes timestamped frames and returns one :class:`TimelineRow` per frame; ``finish`` closes the
playlist. Decoding and writing live outside (``runtime/infer.py``, ``runtime/writers.py``), so a file, a
webcam, a batch of videos, ``make eval`` and ``make bench`` all run this same chain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from emotune.detect.detectors import POSE_COLUMNS, face_pose
from emotune.pipeline.matcher import SongMatcher
from emotune.pipeline.perceive import FramePerception, Perceiver
from emotune.pipeline.play import Play
from emotune.pipeline.stabilizer import Stabilizer
from emotune.utils.timing import Stopwatch


@dataclass
class TimelineRow:
    """One analysed frame through the whole chain."""

    t_s: float
    perception: FramePerception
    stabilized: np.ndarray  # (2,) reference V-A after STABILIZE
    held: bool  # the stabilizer's uncertainty gate held the last value
    play: Play  # the song playing after MATCH

    @staticmethod
    def _pose(box: np.ndarray | None) -> dict[str, float]:
        """``face_roll_deg``, ``face_yaw``, ``face_size_px`` (:func:`~emotune.detect.detectors.face_pose`: NaN
        without a face, and roll and yaw NaN from a detector without keypoints)."""
        pose = face_pose(box)[0] if box is not None else np.full(len(POSE_COLUMNS), np.nan)
        return {f"face_{name}": round(float(v), 3) for name, v in zip(POSE_COLUMNS, pose)}

    def as_dict(self) -> dict[str, Any]:
        """The ``timeline.csv`` columns."""
        fp = self.perception

        def sd(v: np.ndarray | None, i: int) -> float:
            return float(np.sqrt(v[i])) if v is not None and np.isfinite(v[i]) else float("nan")

        nan = float("nan")
        face = fp.face_mean if fp.face_found else None
        w = fp.face_weight
        return {
            "t_s": round(float(self.t_s), 3),
            "scene_valence": fp.scene_mean[0],
            "scene_arousal": fp.scene_mean[1],
            "scene_valence_sd": sd(fp.scene_var, 0),
            "scene_arousal_sd": sd(fp.scene_var, 1),
            "scene_fresh": int(fp.scene_fresh),
            "face_found": int(fp.face_found),
            "face_valence": face[0] if face is not None else nan,
            "face_arousal": face[1] if face is not None else nan,
            "face_valence_sd": sd(fp.face_var, 0),
            "face_arousal_sd": sd(fp.face_var, 1),
            **self._pose(fp.face_box if fp.face_found else None),
            "face_weight_valence": w[0] if w is not None else nan,
            "face_weight_arousal": w[1] if w is not None else nan,
            "fused_valence": fp.fused_mean[0],
            "fused_arousal": fp.fused_mean[1],
            "fused_valence_sd": sd(fp.fused_var, 0),
            "fused_arousal_sd": sd(fp.fused_var, 1),
            "stab_valence": self.stabilized[0],
            "stab_arousal": self.stabilized[1],
            "held": int(self.held),
            "target_valence": self.play.target[0],
            "target_arousal": self.play.target[1],
            "station": self.play.station,
            "song_id": self.play.song_id,
        }


class Pipeline:
    """The runtime chain: a perceiver, a stabilizer and a matcher, with time per stage.

    Args:
        perceiver: PERCEIVE (models, detector, analysis rate).
        stabilizer: STABILIZE.
        matcher: MATCH.
    """

    def __init__(self, perceiver: Perceiver, stabilizer: Stabilizer, matcher: SongMatcher) -> None:
        self.perceiver, self.stabilizer, self.matcher = perceiver, stabilizer, matcher
        stabilizer.use_model_gate(perceiver.gate_sigma)  # a gated stabilizer takes the fusion's val-fitted τ
        self.stopwatch: Stopwatch = perceiver.stopwatch
        self.reset()

    @property
    def fps(self) -> float:
        """Analysed frames per second (``perceive.fps``)."""
        return self.perceiver.fps

    def reset(self) -> None:
        """A new video: forget the mood, the playlist, the last face and the stage times."""
        self.perceiver.reset()
        self.stabilizer.reset()
        self.matcher.reset()
        self.stopwatch.seconds.clear()
        self._last_t: float | None = None

    def step(self, frames: Sequence[tuple[float, np.ndarray]]) -> list[TimelineRow]:
        """Run timestamped BGR frames through PERCEIVE -> STABILIZE -> MATCH."""
        if not frames:
            return []
        sw, rows = self.stopwatch, []
        for (t, _), fp in zip(frames, self.perceiver([f for _, f in frames], [t for t, _ in frames])):
            dt = 1.0 / self.fps if self._last_t is None else t - self._last_t
            with sw("stabilize"):
                stab = self.stabilizer.update(fp.fused_mean, fp.fused_var, fp.face_found, dt)
            with sw("match"):
                play = self.matcher.update(t, stab)
            self._last_t = t
            rows.append(TimelineRow(float(t), fp, stab, self.stabilizer.held, play))
        return rows

    def finish(self, t_end: float) -> list[Play]:
        """Close the playlist at ``t_end`` (the end of the video)."""
        return self.matcher.finish(t_end)

    def describe(self) -> dict[str, Any]:
        """What ran, for ``summary.json``."""
        return {
            "analysis_fps": self.fps,
            "paths_run": self.perceiver.paths_run,
            "checkpoints_missing": self.perceiver.checkpoints_missing,
            "checkpoints": self.perceiver.checkpoints,
            "mode": self.matcher.mode,
            "stabilizer": type(self.stabilizer).__name__,
            "gate_sigma": list(self.stabilizer.gate) if self.stabilizer.gate else None,
            "stations": self.matcher.n_stations,
            "detector": getattr(self.perceiver.detector, "name", None),
            "scene_every_s": self.perceiver.schedule.every_s,
            "device": str(self.perceiver.device),
        }
