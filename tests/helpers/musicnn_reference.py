"""The synthesised signal the musicnn reference outputs (``tests/assets/musicnn/``) were computed on: pure numpy,
so the TensorFlow script that made them and the tests regenerate the same samples."""

from __future__ import annotations

import numpy as np

SR = 16000
SECONDS = 6.0  # two 3-second patches
REAL_CLIPS = ("Q1", "Q2", "Q3", "Q4")  # one clip per quadrant: the first mp3 of each folder (sorted)


def reference_signal() -> np.ndarray:
    """6 s of float32 audio at 16 kHz: a gliding harmonic tone, a drum-like pulse and soft noise, then a loud
    second half (its mel power passes musicnn's float16 overflow, so both branches of the log are exercised)."""
    t = np.arange(int(SR * SECONDS)) / SR
    f0 = 220.0 * 2 ** (t / SECONDS)  # one octave up over the signal
    phase = 2 * np.pi * np.cumsum(f0) / SR
    tone = sum(np.sin(k * phase) / k for k in range(1, 6))
    pulse = np.exp(-30 * (t % 0.5)) * np.sin(2 * np.pi * 60 * t)
    noise = np.random.default_rng(0).standard_normal(len(t))
    x = 0.05 * tone + 0.1 * pulse + 0.005 * noise
    x[len(t) // 2 :] *= 8.0  # loud: mel power above 6.55 in places
    return np.clip(x, -1, 1).astype(np.float32)
