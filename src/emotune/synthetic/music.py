"""Songs you can hear: a short loop synthesised from a V-A point (reference units), so the synthetic
catalogue has audio that carries its labels and the demo's soundtrack plays music that fits the mood.

What the labels drive (as in music-emotion research, roughly): arousal sets tempo, loudness, rhythmic
density, percussion and brightness; valence sets the mode (major / minor), the register and the
consonance of the chords (a semitone rub for negative valence).
"""

from __future__ import annotations

import numpy as np

MAJOR = np.array([0, 2, 4, 5, 7, 9, 11])
MINOR = np.array([0, 2, 3, 5, 7, 8, 10])
PROGRESSIONS = {"major": [0, 4, 5, 3], "minor": [0, 5, 2, 6]}  # scale degrees: I-V-vi-IV / i-VI-III-VII


TABLE_SIZE = 4096
_TABLES: dict[int, np.ndarray] = {}


def _table(harmonics: int) -> np.ndarray:
    """One period of a tone with ``harmonics`` partials at 1/k amplitudes (a wavetable: cheap to play)."""
    if harmonics not in _TABLES:
        x = np.arange(TABLE_SIZE) / TABLE_SIZE
        k = np.arange(1, harmonics + 1)[:, None]
        _TABLES[harmonics] = (np.sin(2 * np.pi * k * x) / k).sum(0)
    return _TABLES[harmonics]


def _note(freq: float, dur_s: float, sr: int, harmonics: int, decay: float, amp: float) -> np.ndarray:
    """A plucked/organ-like tone with an attack and an exponential decay."""
    t = np.arange(int(dur_s * sr)) / sr
    idx = ((freq * t) % 1.0 * TABLE_SIZE).astype(np.int64)
    return amp * _table(harmonics)[idx] * np.minimum(1.0, t / 0.01) * np.exp(-t * decay)


def synth_song(
    valence: float, arousal: float, seed: int = 0, sr: int = 16000, seconds: float | None = None, bars: int = 1
) -> np.ndarray:
    """Mono float32 audio in [-1, 1] for a V-A point: ``bars`` of 4 beats (a seamless loop), or ``seconds`` of it."""
    rng = np.random.default_rng(seed)
    a01, v01 = (np.clip(arousal, -1, 1) + 1) / 2, (np.clip(valence, -1, 1) + 1) / 2
    bpm = 66 + 74 * a01 + rng.normal(0, 4)
    beat = 60.0 / bpm
    mode = "major" if valence + rng.normal(0, 0.05) > 0 else "minor"
    scale = MAJOR if mode == "major" else MINOR
    root = 45 + round(12 * v01) + int(rng.integers(-1, 2))  # MIDI note: brighter register for positive valence
    harmonics = 2 + round(6 * (0.6 * a01 + 0.4 * v01))
    loop_s = 4 * bars * beat
    n = int(loop_s * sr)
    out = np.zeros(n + sr, np.float64)  # room for tails, folded back for a seamless loop

    def hz(midi: float) -> float:
        return 440.0 * 2 ** ((midi - 69) / 12)

    def put(start_s: float, sig: np.ndarray) -> None:
        i = int(start_s * sr)
        out[i : i + len(sig)] += sig[: len(out) - i]

    for bar in range(bars):  # chords: one per half bar
        for half in range(2):
            degree = PROGRESSIONS[mode][(2 * bar + half + 2 * int(rng.integers(0, 2))) % 4]
            for step in (0, 2, 4):
                idx = degree + step
                midi = root + scale[idx % 7] + 12 * (idx // 7)
                put((bar * 4 + half * 2) * beat, _note(hz(midi), 2 * beat, sr, harmonics, 1.2, 0.12))
            if valence < -0.2:  # dissonance: a semitone rub above the root, stronger the more negative
                put(
                    (bar * 4 + half * 2) * beat,
                    _note(hz(root + scale[degree % 7] + 1), 2 * beat, sr, harmonics, 1.2, 0.12 * min(1.0, -valence)),
                )
    per_beat = 1 if a01 < 0.35 else (2 if a01 < 0.7 else 4)  # rhythmic density
    for i in range(4 * bars * per_beat):  # melody from the scale, an octave up
        if rng.random() < 0.15:
            continue
        idx = int(rng.integers(0, 8))
        midi = root + 12 + scale[idx % 7] + 12 * (idx // 7)
        put(i * beat / per_beat, _note(hz(midi), beat / per_beat * 1.5, sr, harmonics, 3 + 6 * a01, 0.18))
    if a01 > 0.3:  # percussion: a kick on the beats, noise hats in between, louder with arousal
        kick = np.sin(2 * np.pi * np.cumsum(np.linspace(120, 45, int(0.15 * sr))) / sr) * np.exp(
            -np.arange(int(0.15 * sr)) / (0.04 * sr)
        )
        hat = rng.normal(0, 1, int(0.05 * sr)) * np.exp(-np.arange(int(0.05 * sr)) / (0.008 * sr))
        for b in range(4 * bars):
            put(b * beat, 0.5 * a01 * kick)
            if a01 > 0.55:
                put((b + 0.5) * beat, 0.15 * a01 * hat)
    loop = out[:n].copy()
    loop[: len(out) - n] += out[n:]  # fold the tails over the start
    loop *= (0.25 + 0.55 * a01) / max(np.abs(loop).max(), 1e-9)  # loudness follows arousal
    if seconds is not None:
        loop = np.tile(loop, int(np.ceil(seconds * sr / len(loop))))[: int(seconds * sr)]
    return loop.astype(np.float32)
