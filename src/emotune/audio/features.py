"""Log-mel spectrograms (torch STFT and a Slaney-style mel filterbank; no extra audio library)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

DEFAULT_FEATURES = {
    "sample_rate": 16000,
    "n_fft": 1024,
    "hop_length": 256,
    "n_mels": 64,
    "excerpt_s": 6.0,
    "fmin": 30.0,
    "fmax": 8000.0,
}


def _hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(f, float) / 700.0)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    return 700.0 * (10 ** (np.asarray(m, float) / 2595.0) - 1.0)


@lru_cache(maxsize=8)
def mel_filterbank(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> torch.Tensor:
    """``(n_mels, n_fft // 2 + 1)`` triangular filters, area-normalised."""
    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(min(fmax, sr / 2)), n_mels + 2))
    fb = np.zeros((n_mels, len(freqs)))
    for m in range(n_mels):
        lo, mid, hi = edges[m], edges[m + 1], edges[m + 2]
        fb[m] = np.clip(np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)), 0, None)
        fb[m] *= 2.0 / (hi - lo)
    return torch.tensor(fb, dtype=torch.float32)


def log_mel(audio: np.ndarray | torch.Tensor, cfg: dict) -> torch.Tensor:
    """``(1, n_mels, frames)`` log-mel of mono audio at ``cfg["sample_rate"]``, roughly in [-1, 1]."""
    x = torch.as_tensor(np.asarray(audio, np.float32))
    window = torch.hann_window(int(cfg["n_fft"]))
    spec = torch.stft(x, int(cfg["n_fft"]), int(cfg["hop_length"]), window=window, return_complex=True).abs() ** 2
    fb = mel_filterbank(
        int(cfg["sample_rate"]), int(cfg["n_fft"]), int(cfg["n_mels"]), float(cfg["fmin"]), float(cfg["fmax"])
    )
    mel = fb @ spec
    return ((torch.log10(mel + 1e-6) + 3.0) / 3.0).unsqueeze(0)  # log10 power: -6..+3 -> about -1..2


def excerpt_samples(cfg: dict) -> int:
    """Samples in one model input."""
    return int(float(cfg["excerpt_s"]) * int(cfg["sample_rate"]))


def windows(audio: np.ndarray, cfg: dict, max_windows: int | None = None) -> np.ndarray:
    """Non-overlapping model inputs ``(k, samples)`` covering ``audio`` (looped when it is shorter than one)."""
    n = excerpt_samples(cfg)
    if len(audio) < n:
        audio = np.tile(audio, int(np.ceil(n / max(1, len(audio)))))
    k = max(1, len(audio) // n)
    if max_windows:
        k = min(k, max_windows)
    starts = np.linspace(0, len(audio) - n, k).astype(int)
    return np.stack([audio[s : s + n] for s in starts])
