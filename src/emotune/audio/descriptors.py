"""Hand-crafted music descriptors known to carry arousal and valence, from ONE short-time Fourier transform.

What they measure (music-emotion research, e.g. Panda et al. 2018; Eerola & Vuoskoski 2013):

* loudness and its dynamics (frame RMS in dB: level, spread, range, low-energy share, change rate): arousal;
* tempo, pulse clarity and onset density (from a spectral-flux onset envelope): arousal;
* spectral shape (centroid, bandwidth, roll-off, flatness, flux, octave-band contrast and valleys), brightness
  and noisiness: arousal, some valence;
* harmonic/percussive balance: a cheap stand-in for HPSS (median filters along time and frequency of a
  mel-binned power spectrogram, not of the full-resolution one): arousal;
* chroma from spectral peaks, mode and key clarity (Krumhansl-Kessler profiles) over the excerpt and over
  2-second windows, key changes, harmonic change: valence (weakly, in real music);
* MFCC means, spreads and the spread of their frame-to-frame change (timbre).

Everything is summarised over the excerpt (means, spreads, percentiles), so one song is one vector. Numpy and
torch only; about 20-40 ms for 30 s at 22.05 kHz on one core.
"""

from __future__ import annotations

import itertools
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from emotune.audio.features import mel_filterbank
from emotune.utils.errors import ConfigError

VERSION = 2  # bump when a descriptor's definition changes: caches and heads of another version are not reused
DEFAULT_DESCRIPTORS = {
    "kind": "descriptors",
    "version": VERSION,
    "sample_rate": 22050,
    "n_fft": 2048,
    "hop_length": 512,
    "n_mels": 64,
    "n_mfcc": 20,
    "excerpt_s": 30.0,
    "fmin": 30.0,
    "fmax": 11025.0,
}
CONTRAST_EDGES_HZ = (0.0, 200.0, 400.0, 800.0, 1600.0, 3200.0, 6400.0)  # librosa's octave bands
CHROMA_RANGE_HZ = (65.0, 4000.0)
# Krumhansl & Kessler (1982) key profiles, tonic first.
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
EPS = 1e-10


def descriptor_names(cfg: dict) -> list[str]:
    """Names of the vector :func:`describe` returns, in order."""
    names = [f"rms_db_{s}" for s in ("mean", "std", "p10", "p50", "p90", "range", "low_energy", "change")]
    for f in ("centroid", "bandwidth", "rolloff", "flatness", "flux"):
        names += [f"{f}_mean", f"{f}_std"]
    n_bands = len(_contrast_bands(int(cfg["sample_rate"])))
    names += [f"contrast_{i}_mean" for i in range(n_bands)] + [f"contrast_{i}_std" for i in range(n_bands)]
    names += [f"valley_{i}_mean" for i in range(n_bands)]
    names += ["onset_mean", "onset_std", "onset_density", "tempo_log2", "pulse_clarity", "tempo_strength"]
    names += ["percussive_ratio", "harmonic_flux"]
    names += list(TONAL_NAMES)
    n = int(cfg["n_mfcc"])
    names += [f"mfcc_{i}_{s}" for s in ("mean", "std", "delta_std") for i in range(n)]
    return names


def descriptor_dim(cfg: dict) -> int:
    """Length of the descriptor vector for these settings."""
    return len(descriptor_names(cfg))


def _contrast_bands(sr: int) -> list[tuple[float, float]]:
    edges = [e for e in CONTRAST_EDGES_HZ if e < sr / 2] + [sr / 2]
    return list(itertools.pairwise(edges))


@lru_cache(maxsize=8)
def _chroma_map(sr: int, n_fft: int) -> torch.Tensor:
    """``(12, n_fft // 2 + 1)``: each bin's weight per pitch class, Gaussian in semitones (sd 0.15) around the
    nearest equal-tempered note, so bins between two notes count for neither."""
    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    ok = (freqs >= CHROMA_RANGE_HZ[0]) & (freqs <= CHROMA_RANGE_HZ[1])
    midi = 69 + 12 * np.log2(np.maximum(freqs, 1e-3) / 440.0)
    nearest = np.round(midi)
    weight = np.exp(-0.5 * ((midi - nearest) / 0.15) ** 2)
    out = np.zeros((12, len(freqs)))
    out[(nearest.astype(int) % 12)[ok], np.nonzero(ok)[0]] = weight[ok]
    return torch.tensor(out, dtype=torch.float32)


def _key_profiles() -> np.ndarray:
    """``(24, 12)`` the 12 major then the 12 minor Krumhansl-Kessler profiles, centred and unit-norm."""
    prof = np.stack([np.roll(KK_MAJOR, k) for k in range(12)] + [np.roll(KK_MINOR, k) for k in range(12)])
    prof = prof - prof.mean(1, keepdims=True)
    return prof / np.linalg.norm(prof, axis=1, keepdims=True)


KEY_PROFILES = _key_profiles()
TONAL_NAMES = (
    "key_major_r",  # correlation of the excerpt's chroma with the best major key
    "key_minor_r",
    "mode",  # major minus minor
    "key_clarity",  # best key minus the runner-up
    "local_mode",  # the same per ~2 s window, averaged
    "major_share",  # windows whose best key is major
    "local_key_r",
    "local_clarity",
    "chroma_entropy",
    "chroma_flux",
    "key_changes",  # share of windows whose best key differs from the previous window's
)


def _key_correlations(chroma: np.ndarray) -> np.ndarray:
    """``(24, W)`` Pearson correlation of each ``(12, W)`` chroma column with every key profile."""
    c = chroma - chroma.mean(0, keepdims=True)
    return KEY_PROFILES @ (c / (np.linalg.norm(c, axis=0, keepdims=True) + EPS))


def _tonal(power: torch.Tensor, sr: int, n_fft: int, fps: float) -> list[float]:
    """The :data:`TONAL_NAMES` values: chroma from spectral peaks (local maxima along frequency, magnitudes)."""
    peaks = torch.zeros_like(power, dtype=torch.bool)
    peaks[1:-1] = (power[1:-1] > power[:-2]) & (power[1:-1] >= power[2:])
    bins = _chroma_map(sr, n_fft) @ (power.sqrt() * peaks)
    chroma = (bins / (bins.sum(0, keepdim=True) + EPS)).numpy().astype(np.float64)  # (12, T)
    whole = _key_correlations(chroma.mean(1, keepdims=True))[:, 0]
    w = max(1, round(2.0 * fps))
    n_win = max(1, chroma.shape[1] // w)
    local = _key_correlations(chroma[:, : n_win * w].reshape(12, n_win, w).mean(2) if chroma.shape[1] >= w else chroma)
    major, minor = local[:12].max(0), local[12:].max(0)
    ranked = np.sort(local, 0)
    best = local.argmax(0)
    mean_chroma = chroma.mean(1)
    return [
        float(whole[:12].max()),
        float(whole[12:].max()),
        float(whole[:12].max() - whole[12:].max()),
        float(np.diff(np.sort(whole)[-2:])[0]),
        float((major - minor).mean()),
        float((major > minor).mean()),
        float(ranked[-1].mean()),
        float((ranked[-1] - ranked[-2]).mean()),
        float(-(mean_chroma * np.log(mean_chroma + EPS)).sum() / np.log(12)),
        float(np.abs(np.diff(chroma, axis=1)).sum(0).mean()) if chroma.shape[1] > 1 else 0.0,
        float((best[1:] != best[:-1]).mean()) if len(best) > 1 else 0.0,
    ]


@lru_cache(maxsize=4)
def _dct(n_in: int, n_out: int) -> torch.Tensor:
    """Orthonormal DCT-II ``(n_out, n_in)`` (MFCC from log-mel)."""
    k, n = np.arange(n_out)[:, None], np.arange(n_in)[None]
    d = np.cos(np.pi * k * (2 * n + 1) / (2 * n_in)) * np.sqrt(2.0 / n_in)
    d[0] /= np.sqrt(2.0)
    return torch.tensor(d, dtype=torch.float32)


def _stats(x: torch.Tensor) -> list[float]:
    """Mean and standard deviation over frames of a ``(T,)`` series."""
    return [float(x.mean()), float(x.std(unbiased=False))]


def _opening(x: torch.Tensor, k: int, dim: int) -> torch.Tensor:
    """Grey-scale opening (a running minimum, then a running maximum, over ``k`` (odd) values along ``dim``) of
    a 2-D tensor: removes peaks narrower than ``k``. A fast stand-in for HPSS's median filters."""
    y = x if dim == 1 else x.T
    y = -F.max_pool1d(-y[None], k, 1, k // 2)  # erosion (the padding never wins a minimum)
    y = F.max_pool1d(y, k, 1, k // 2)[0]  # dilation
    return y if dim == 1 else y.T


def _tempo(onset: torch.Tensor, fps: float) -> tuple[float, float, float]:
    """``(log2(bpm / 120), pulse clarity, tempo strength)`` from the onset envelope's autocorrelation, weighted
    by a log-normal prior around 120 BPM (one octave wide), as in librosa's default tempo estimate."""
    o = onset - onset.mean()
    n = len(o)
    spec = torch.fft.rfft(o, 2 * n)
    ac = torch.fft.irfft(spec * spec.conj(), 2 * n)[:n]
    ac = ac / (ac[0] + EPS)
    lags = torch.arange(n, dtype=torch.float32)
    lo, hi = int(np.floor(fps * 60 / 240)), int(np.ceil(fps * 60 / 40))  # 40..240 BPM
    hi = min(hi, n - 1)
    if hi <= lo + 1:
        return 0.0, 0.0, 0.0
    seg, lag = ac[lo : hi + 1], lags[lo : hi + 1]
    bpm = 60.0 * fps / lag
    prior = torch.exp(-0.5 * torch.log2(bpm / 120.0) ** 2)
    i = int(torch.argmax(seg.clamp_min(0) * prior))
    return float(torch.log2(bpm[i] / 120.0)), float(seg.max()), float(seg[i])


def describe(audio: np.ndarray | torch.Tensor, cfg: dict) -> np.ndarray:
    """The descriptor vector (``float32 (D,)``, names from :func:`descriptor_names`) of mono audio at
    ``cfg["sample_rate"]``: one STFT, every summary over the whole excerpt."""
    if int(cfg.get("version", 1)) != VERSION:  # settings without a version predate versioning: 1
        raise ConfigError(
            f"These descriptor settings are version {cfg.get('version')}, this code computes version {VERSION}: "
            "retrain the music head (python train.py phase=music model=music_descriptors ...)."
        )
    sr, n_fft, hop = int(cfg["sample_rate"]), int(cfg["n_fft"]), int(cfg["hop_length"])
    x = torch.as_tensor(np.asarray(audio, np.float32))
    if len(x) < n_fft:
        x = torch.nn.functional.pad(x, (0, n_fft - len(x)))
    window = torch.hann_window(n_fft)
    power = torch.stft(x, n_fft, hop, window=window, return_complex=True).abs().square_()  # (F, T)
    power = power / (window.sum() ** 2 / 4)  # a full-scale sine reads about 0 dB
    freqs = torch.linspace(0, sr / 2, n_fft // 2 + 1)
    fps = sr / hop
    feats: list[float] = []

    # Loudness and dynamics.
    energy = power.sum(0) + EPS
    db = 10 * torch.log10(energy)
    q = torch.quantile(db, torch.tensor([0.1, 0.5, 0.9, 0.95]))
    feats += [*_stats(db), float(q[0]), float(q[1]), float(q[2]), float(q[3] - q[0])]
    feats += [float((energy < energy.mean()).float().mean()), float((db[1:] - db[:-1]).abs().mean())]

    # Spectral shape.
    p = power / energy
    centroid = (p * freqs[:, None]).sum(0)
    bandwidth = torch.sqrt((p * (freqs[:, None] - centroid) ** 2).sum(0))
    rolloff = freqs[
        torch.searchsorted(p.cumsum(0).T.contiguous(), torch.full((p.shape[1], 1), 0.85)).clamp(max=len(freqs) - 1)
    ][:, 0]
    floor = 1e-8 * float(power.mean()) + 1e-30  # -80 dB below the excerpt's mean: level-invariant log ratios
    flatness = 10 * (torch.log10(power + floor).mean(0) - torch.log10(power.mean(0) + floor))
    mag = power.sqrt()
    mag_n = mag / (mag.sum(0, keepdim=True) + EPS)
    flux = (mag_n[:, 1:] - mag_n[:, :-1]).clamp_min(0).sum(0)
    for series in (torch.log2(centroid + 1.0), torch.log2(bandwidth + 1.0), torch.log2(rolloff + 1.0), flatness, flux):
        feats += _stats(series)

    # Octave-band contrast: log peak (top 2 %) minus log valley (bottom 2 %) per band and frame.
    contrast, valleys = [], []
    frames = power[:, ::2].T.contiguous()  # every other frame is enough for a summary, at half the cost
    for lo, hi in _contrast_bands(sr):
        band = frames[:, (freqs >= lo) & (freqs <= hi)]
        k = max(1, round(0.02 * band.shape[1]))
        peak = torch.log10(band.topk(k, 1).values.mean(1) + floor)
        valley = torch.log10(-(-band).topk(k, 1).values.mean(1) + floor)
        contrast.append(peak - valley)
        valleys.append(float(10 * valley.mean()))
    feats += [float(c.mean()) for c in contrast] + [float(c.std(unbiased=False)) for c in contrast] + valleys

    # Onsets, tempo, pulse: positive log-mel flux summed over bands.
    fb = mel_filterbank(sr, n_fft, int(cfg["n_mels"]), float(cfg["fmin"]), float(cfg["fmax"]))
    mel = fb @ power
    logmel = 10 * torch.log10(torch.maximum(mel, 1e-8 * mel.max() + 1e-30))  # floored 80 dB below the peak
    onset = (logmel[:, 1:] - logmel[:, :-1]).clamp_min(0).mean(0)
    thresh = F.avg_pool1d(onset[None], 2 * int(fps) + 1, 1, int(fps), count_include_pad=False)[0] + 0.5 * onset.std()
    peaks = (onset[1:-1] > onset[:-2]) & (onset[1:-1] >= onset[2:]) & (onset[1:-1] > thresh[1:-1])
    feats += [*_stats(onset), float(peaks.sum()) / (len(onset) / fps), *_tempo(onset, fps)]

    # Harmonic/percussive balance on the mel-binned power (cheap HPSS: what survives an opening along time is
    # sustained, what survives one along frequency is broadband; soft masks as in Fitzgerald 2010).
    mel_n = mel / (mel.mean() + 1e-30)  # level-free, so the masks' small constant means the same at any level
    h, pc = _opening(mel_n, 9, 1), _opening(mel_n, 5, 0)
    mask_p = pc**2 / (h**2 + pc**2 + 1e-12)
    perc = float((mel_n * mask_p).sum() / (mel_n.sum() + EPS))
    harm = mel_n * (1 - mask_p)
    harm_n = harm / (harm.sum(0, keepdim=True) + EPS)
    feats += [perc, float((harm_n[:, 1:] - harm_n[:, :-1]).abs().sum(0).mean())]

    # Chroma, key and mode, over the whole excerpt and over ~2 s windows.
    feats += _tonal(power, sr, n_fft, fps)

    # Timbre: MFCC of the log-mel.
    mfcc = _dct(logmel.shape[0], int(cfg["n_mfcc"])) @ (logmel / 10.0)
    feats += [float(v) for v in mfcc.mean(1)] + [float(v) for v in mfcc.std(1, unbiased=False)]
    feats += [float(v) for v in (mfcc[:, 1:] - mfcc[:, :-1]).std(1, unbiased=False)]
    out = np.asarray(feats, np.float32)
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)
