"""musicnn's input: the log-compressed 96-band mel spectrogram of 16 kHz audio, cut into 3-second patches.

musicnn (``musicnn/extractor.py``) computes ``librosa.feature.melspectrogram(y, sr=16000, n_fft=512,
hop_length=256, n_mels=96)`` (power 2, Hann window, centred frames with zero padding, Slaney mel scale and
normalisation), stores it as float16 and feeds ``log10(10000 * x + 1)``. This module reproduces that in numpy (no
librosa at run time; ``tests/test_musicnn.py`` checks the filterbank and the spectrogram against librosa's numbers
stored in ``tests/assets/``), with one deliberate difference: musicnn's float16 product overflows to ``inf`` where
the mel power exceeds about 6.55 (loud passages: about 5 % of the cells of a real 4Q clip), which turns parts of
its network's activations into NaN. Those cells are computed in float32 here (``log10`` of the same value); every
other cell is musicnn's own float16 arithmetic, bit for bit.

Patches are 187 frames (3 s). musicnn tags consecutive patches from the start; a song's labeller takes
``patches`` of them spread evenly over its excerpt (:func:`patch_starts`).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

MUSICNN_INPUT: dict[str, Any] = {
    "kind": "musicnn",
    "sample_rate": 16000,
    "n_fft": 512,
    "hop_length": 256,
    "n_mels": 96,
    "patch_frames": 187,
}


def _hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    """Slaney's mel scale (librosa's default, ``htk=False``): linear below 1 kHz, logarithmic above."""
    f = np.asarray(f, np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, f / f_sp)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


@lru_cache(maxsize=4)
def slaney_mel_filterbank(sr: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """``(n_mels, n_fft // 2 + 1)`` float32: ``librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin,
    fmax=fmax, htk=False, norm="slaney")``, step for step (float64 ramps stored as float32, then area-normalised)."""
    fmax = sr / 2.0 if fmax is None else float(fmax)
    fftfreqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sr)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(float(fmin)), _hz_to_mel(fmax), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    weights = np.zeros((n_mels, len(fftfreqs)), np.float32)
    for i in range(n_mels):
        weights[i] = np.maximum(0, np.minimum(-ramps[i] / fdiff[i], ramps[i + 2] / fdiff[i + 1]))
    weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, None]
    weights.setflags(write=False)
    return weights


@lru_cache(maxsize=4)
def _hann(n: int) -> np.ndarray:
    """The periodic Hann window (``scipy.signal.get_window("hann", n, fftbins=True)``), float64."""
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)


def mel_power(audio: np.ndarray, cfg: dict = MUSICNN_INPUT) -> np.ndarray:
    """``(frames, n_mels)`` float32 mel power of mono audio at ``cfg["sample_rate"]``, as librosa computes it:
    frames centred (``n_fft // 2`` zeros each side), a float64 FFT stored as complex64, ``|X|**2`` in float32."""
    return _mel_power_uncentred(np.pad(np.asarray(audio, np.float32), int(cfg["n_fft"]) // 2), cfg)


def log_compress(mel: np.ndarray) -> np.ndarray:
    """musicnn's ``log10(10000 * x + 1)`` of float16-rounded mel power, in its float16 arithmetic; cells whose
    float16 product would overflow (musicnn: ``inf``) in float32. Returns float32."""
    m16 = np.asarray(mel).astype(np.float16)
    with np.errstate(over="ignore"):
        out = np.log10(10000 * m16 + 1)  # float16 throughout, as musicnn's extractor under numpy's casting rules
    over = ~np.isfinite(out)
    if over.any():
        out[over] = np.log10(10000 * m16[over].astype(np.float32) + 1).astype(np.float16)
    return out.astype(np.float32)


def musicnn_logmel(audio: np.ndarray, cfg: dict = MUSICNN_INPUT) -> np.ndarray:
    """``(frames, n_mels)`` float32: what musicnn's network reads, for the whole of ``audio``."""
    return log_compress(mel_power(audio, cfg))


def patch_starts(n_frames: int, patches: int | None, patch_frames: int = 187) -> list[int]:
    """First frames of the patches: ``None`` gives musicnn's own (consecutive from the start, as many as fit); a
    number gives that many spread evenly (each centred in its share of the excerpt), overlapping when they must."""
    last = max(0, n_frames - patch_frames)
    if patches is None:
        return list(range(0, last + 1, patch_frames))
    centres = (np.arange(patches) + 0.5) * n_frames / patches
    return [int(min(max(round(c - patch_frames / 2), 0), last)) for c in centres]


def musicnn_patches(audio: np.ndarray, cfg: dict = MUSICNN_INPUT, patches: int | None = None) -> np.ndarray:
    """``(P, patch_frames, n_mels)`` float32 patches of ``audio`` (repeated to one patch when it is shorter, as
    musicnn's training did), at :func:`patch_starts`. Only the frames the patches cover are transformed."""
    frames, hop = int(cfg["patch_frames"]), int(cfg["hop_length"])
    audio = np.asarray(audio, np.float32)
    min_samples = (frames - 1) * hop  # centred frames: this many samples give `frames` frames
    if len(audio) < min_samples:
        audio = np.tile(audio, int(np.ceil(min_samples / max(1, len(audio)))))
    n_frames = 1 + len(audio) // hop
    out = []
    for s in patch_starts(n_frames, patches, frames):
        # frame t covers samples [t*hop - n_fft/2, t*hop + n_fft/2): transform just the patch's span, exactly
        n_fft = int(cfg["n_fft"])
        lo, hi = s * hop - n_fft // 2, (s + frames - 1) * hop + n_fft // 2
        seg = np.zeros(hi - lo, np.float32)
        a, b = max(lo, 0), min(hi, len(audio))
        seg[a - lo : b - lo] = audio[a:b]
        mel = _mel_power_uncentred(seg, cfg)
        out.append(log_compress(mel))
    return np.stack(out)


def _mel_power_uncentred(y: np.ndarray, cfg: dict) -> np.ndarray:
    """:func:`mel_power` of frames that start at sample 0 of ``y`` (already padded by the caller)."""
    n_fft, hop = int(cfg["n_fft"]), int(cfg["hop_length"])
    n_frames = 1 + (len(y) - n_fft) // hop
    frames = np.lib.stride_tricks.as_strided(y, (n_frames, n_fft), (hop * y.strides[0], y.strides[0]))
    spec = np.fft.rfft(frames * _hann(n_fft), axis=1).astype(np.complex64)
    fb = slaney_mel_filterbank(int(cfg["sample_rate"]), n_fft, int(cfg["n_mels"]))
    return (np.abs(spec) ** 2) @ fb.T
