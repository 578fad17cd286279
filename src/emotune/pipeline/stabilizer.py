"""STABILIZE: temporal smoothing of per-frame V-A (Hydra-built; ``reset()`` per video).

All stabilizers take ``update(mean, var, face_found, dt_s)`` with V-A on [-1, 1] and return the
stabilized V-A; ``held`` tells whether the last update was rejected by the uncertainty gate.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from emotune.utils.errors import check_range


class Stabilizer(Protocol):
    """What the pipeline needs from a stabilizer (``held``: the last update was rejected)."""

    held: bool
    gate: tuple[float, float] | None  # the uncertainty gate's tau with a face, without (``None``: no gate)

    def use_model_gate(self, gate_sigma: tuple[float, float] | None) -> None:
        """The models' uncertainty gate (σ with a face, without; ``None``: they carry none); a stabilizer without a
        gate ignores it."""

    def reset(self) -> None:
        """Forget the past (a new video)."""

    def update(self, mean: np.ndarray, var: np.ndarray, face_found: bool, dt_s: float) -> np.ndarray:
        """Take one frame's mean and variance; return the stabilized V-A."""


def _finite(x: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return np.where(np.isfinite(x), x, fallback)


class NoStabilizer:
    """Pass-through (the raw per-frame estimate)."""

    gate = None

    def __init__(self) -> None:
        self.held = False
        self._last = np.zeros(2)

    def use_model_gate(self, gate_sigma: tuple[float, float] | None) -> None:
        """No gate: nothing is held."""

    def reset(self) -> None:
        """Forget the last value."""
        self._last = np.zeros(2)

    def update(self, mean: np.ndarray, var: np.ndarray, face_found: bool, dt_s: float) -> np.ndarray:
        """The frame's own (finite, clipped) V-A."""
        self._last = np.clip(_finite(mean, self._last), -1, 1)
        return self._last.copy()


class EMAStabilizer:
    """Exponential moving average over a window in seconds, holding when sigma > tau.

    ``alpha = 1 - exp(-dt / (window_s / 3))``: a step is 95 % through after ``window_s``. Without a
    face (scene only) the window is ``no_face_factor`` times longer. A fixed per-frame ``alpha`` in (0, 1]
    replaces the window (then divided by ``no_face_factor`` without a face).

    ``tau=None`` takes the fusion model's gate (:meth:`use_model_gate`: a quantile of its fused σ on val, one
    with a face and one without); ``fallback_tau`` is used when the models carry none (no fusion checkpoint).
    """

    def __init__(
        self,
        *,
        window_s: float,
        tau: float | None,
        fallback_tau: float,
        no_face_factor: float,
        max_hold_s: float,
        alpha: float | None,
    ) -> None:
        if alpha is not None:
            check_range("stabilizer.alpha", alpha, 0.0, 1.0, low_inclusive=False)
        self.fixed_alpha = alpha
        check_range("stabilizer.window_s", window_s, 0.0, None, low_inclusive=False)
        if tau is not None:
            check_range("stabilizer.tau", tau, 0.0)
        check_range("stabilizer.fallback_tau", fallback_tau, 0.0)
        check_range("stabilizer.no_face_factor", no_face_factor, 1.0)
        check_range("stabilizer.max_hold_s", max_hold_s, 0.0)
        self.window_s, self.tau, self.no_face_factor, self.max_hold_s = (
            window_s,
            tau,
            no_face_factor,
            max_hold_s,
        )
        self.gate: tuple[float, float] = (tau, tau) if tau is not None else (fallback_tau, fallback_tau)
        self.reset()

    def use_model_gate(self, gate_sigma: tuple[float, float] | None) -> None:
        """Take the models' gate (σ with a face, without) unless ``tau`` was set; ``None`` keeps the fallback."""
        if self.tau is None and gate_sigma is not None:
            self.gate = (float(gate_sigma[0]), float(gate_sigma[1]))

    def reset(self) -> None:
        """Forget the state and the hold timer."""
        self._state: np.ndarray | None = None
        self._held_for = 0.0
        self.held = False

    def alpha(self, dt_s: float, face_found: bool) -> float:
        """The EMA weight of a new frame ``dt_s`` after the last (always in (0, 1])."""
        if self.fixed_alpha is not None:
            return float(self.fixed_alpha / (1.0 if face_found else self.no_face_factor))
        window = self.window_s * (1.0 if face_found else self.no_face_factor)
        return float(1.0 - np.exp(-max(dt_s, 1e-6) / (window / 3.0)))

    def update(self, mean: np.ndarray, var: np.ndarray, face_found: bool, dt_s: float) -> np.ndarray:
        """One EMA step, or hold when sigma exceeds tau (at most ``max_hold_s`` in a row)."""
        mean = np.clip(_finite(mean, np.zeros(2) if self._state is None else self._state), -1, 1)
        sigma = float(np.sqrt(np.nanmean(np.clip(_finite(var, np.full(2, np.inf)), 0, None))))
        if self._state is None:
            self._state = mean.copy()
            self.held = False
            return self._state.copy()
        # Hold on uncertain frames, but never forever: after max_hold_s the gate opens again.
        tau = self.gate[0] if face_found else self.gate[1]
        self.held = (not np.isfinite(sigma) or sigma > tau) and self._held_for < self.max_hold_s
        if self.held:
            self._held_for += dt_s
            return self._state.copy()
        self._held_for = 0.0
        a = self.alpha(dt_s, face_found)
        self._state = (1 - a) * self._state + a * mean
        return self._state.copy()


class KalmanStabilizer:
    """Per-dimension random-walk Kalman filter: each frame's variance is its measurement noise.

    Smoothing follows confidence continuously instead of an on/off gate. ``process_std`` (per
    sqrt-second) sets how fast the true mood may drift; ``window_s`` derives it when not given.
    """

    gate = None

    def __init__(
        self,
        *,
        window_s: float,
        process_std: float | None,
        noise_floor: float,
        noise_scale: float,
        no_face_factor: float,
    ) -> None:
        check_range("stabilizer.window_s", window_s, 0.0, None, low_inclusive=False)
        check_range("stabilizer.noise_floor", noise_floor, 0.0, None, low_inclusive=False)
        check_range("stabilizer.noise_scale", noise_scale, 0.0, None, low_inclusive=False)
        self.window_s = window_s
        self.q = (process_std if process_std is not None else 0.5 / np.sqrt(window_s)) ** 2
        self.noise_floor, self.noise_scale, self.no_face_factor = noise_floor, noise_scale, no_face_factor
        self.reset()

    def use_model_gate(self, gate_sigma: tuple[float, float] | None) -> None:
        """No gate: each frame's variance weighs it instead."""

    def reset(self) -> None:
        """Forget the state."""
        self._x: np.ndarray | None = None
        self._p = np.ones(2)
        self.held = False

    def update(self, mean: np.ndarray, var: np.ndarray, face_found: bool, dt_s: float) -> np.ndarray:
        """One Kalman step with the frame's variance as measurement noise."""
        z = np.clip(_finite(mean, np.zeros(2) if self._x is None else self._x), -1, 1)
        r = self.noise_scale * np.clip(_finite(var, np.full(2, 1e6)), 0, 1e6) + self.noise_floor
        if not face_found:
            r = r * self.no_face_factor**2
        if self._x is None:
            self._x, self._p = z.copy(), r.copy()
            return self._x.copy()
        p_pred = self._p + self.q * max(dt_s, 1e-6)
        k = p_pred / (p_pred + r)
        self._x = self._x + k * (z - self._x)
        self._p = (1 - k) * p_pred
        self.held = bool(np.all(k < 0.02))
        return np.clip(self._x, -1, 1).copy()
