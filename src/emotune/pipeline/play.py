"""What MATCH hands out: one song of the playlist (:class:`Play`) and a search's answer (:data:`Found`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

Found = tuple[int, float, list[int]]  # row, distance, stations searched


@dataclass
class Play:
    """One song in the playlist, and why it was chosen."""

    song_id: str
    start_s: float
    end_s: float | None
    station: int
    target: np.ndarray  # catalogue reference V-A the song was chosen for
    distance: float  # song to target
    row: int = field(repr=False, default=-1)
    why: dict[str, Any] = field(default_factory=dict)
    ended: str | None = None  # dwell_over | skipped | song_over | session_ended
    mood_start: np.ndarray | None = field(repr=False, default=None)  # the aligned mood when it started and ended
    mood_end: np.ndarray | None = field(repr=False, default=None)
    goal: np.ndarray | None = field(repr=False, default=None)  # guide mode: the plan's goal when it started
