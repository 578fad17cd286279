"""The playlist as one audio track: each song from its file, cut to its play window (looped when the file is
shorter), equal-power crossfades at switches, silence where a song has no audio, the clip's own audio under it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emotune.audio.io import decode_audio
from emotune.utils.errors import DataError, check_range

log = logging.getLogger(__name__)


@dataclass(kw_only=True)
class SoundtrackSettings:
    """``soundtrack`` in ``conf/infer.yaml`` (its one home: every field is required).

    Args:
        sample_rate: of the written track.
        crossfade_s: overlap of two songs at a switch (equal-power fade).
        clip_gain: the video's own audio mixed under the music (0 mutes it).
        music_gain: the songs' level.
    """

    sample_rate: int
    crossfade_s: float
    clip_gain: float
    music_gain: float

    def __post_init__(self) -> None:
        check_range("soundtrack.sample_rate", self.sample_rate, 8000, 96000)
        check_range("soundtrack.crossfade_s", self.crossfade_s, 0.0, 10.0)
        check_range("soundtrack.clip_gain", self.clip_gain, 0.0, 4.0)
        check_range("soundtrack.music_gain", self.music_gain, 0.0, 4.0)


def _fit(audio: np.ndarray, n: int) -> np.ndarray:
    """``audio`` looped or cut to exactly ``n`` samples."""
    if len(audio) >= n:
        return audio[:n]
    return np.tile(audio, int(np.ceil(n / max(len(audio), 1))))[:n]


def build_soundtrack(
    songs: Sequence[dict[str, Any]], total_s: float, settings: SoundtrackSettings, clip_audio: np.ndarray | None = None
) -> tuple[np.ndarray, dict[str, Any]]:
    """``(samples (n,), report)``: ``total_s`` seconds at ``settings.sample_rate``.

    Each song plays from its file's start for ``end_s - start_s`` seconds, fading in over the previous song's
    last ``crossfade_s`` (so switches land on the playlist's times, centred on them).
    """
    sr = settings.sample_rate
    n = round(total_s * sr)
    track = np.zeros(n, np.float32)
    half = int(settings.crossfade_s * sr / 2)
    silent, used = [], []
    cache: dict[str, np.ndarray | None] = {}
    for i, s in enumerate(songs):
        a, b = round(s["start_s"] * sr), round(s["end_s"] * sr)
        a0 = max(0, a - (half if i > 0 else 0))  # fade in around the switch
        b1 = min(n, b + (half if i < len(songs) - 1 else 0))
        path = s.get("path") or ""
        if path not in cache:
            cache[path] = _load(path, sr) if path else None
        audio = cache[path]
        if audio is None or b1 <= a0:
            silent.append(s["song_id"])
            continue
        seg = _fit(audio, b1 - a0) * np.float32(settings.music_gain)
        env = np.ones(b1 - a0, np.float32)
        if i > 0 and half:
            k = min(2 * half, len(env))
            env[:k] = np.sin(np.linspace(0, np.pi / 2, k))  # equal power with the cosine fade-out below
        if i < len(songs) - 1 and half:
            k = min(2 * half, len(env))
            env[-k:] *= np.cos(np.linspace(0, np.pi / 2, k))
        track[a0:b1] += seg * env
        used.append(s["song_id"])
    if clip_audio is not None and settings.clip_gain > 0 and len(clip_audio):
        m = min(n, len(clip_audio))
        track[:m] += settings.clip_gain * clip_audio[:m]
    peak = float(np.abs(track).max()) if n else 0.0
    if peak > 0.99:
        track *= 0.99 / peak  # no clipping
    report = {
        "songs_with_audio": len(used),
        "songs_silent": silent,
        "sample_rate": sr,
        "seconds": round(n / sr, 3),
        "clip_audio": clip_audio is not None and settings.clip_gain > 0,
    }
    return track, report


def _load(path: str, sr: int) -> np.ndarray | None:
    if not Path(path).is_file():
        log.warning("No audio file %s: silence for that song.", path)
        return None
    try:
        return decode_audio(path, sr)
    except DataError as exc:
        log.warning("%s: silence for that song.", exc)
        return None
