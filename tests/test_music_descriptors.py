"""The hand-crafted music descriptors measure what their names say (loudness, tempo, mode, percussion)."""

from __future__ import annotations

import numpy as np
import pytest

from emotune.audio.descriptors import DEFAULT_DESCRIPTORS, describe, descriptor_names

SR = int(DEFAULT_DESCRIPTORS["sample_rate"])
CFG = DEFAULT_DESCRIPTORS


def named(x: np.ndarray) -> dict[str, float]:
    return dict(zip(descriptor_names(CFG), x.tolist()))


def tone(midi: float, seconds: float, harmonics: int = 6) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    f = 440.0 * 2 ** ((midi - 69) / 12)
    return sum(np.sin(2 * np.pi * k * f * t) / k for k in range(1, harmonics + 1))


def chords(intervals: tuple[int, ...], roots: tuple[int, ...], seconds: float = 2.0) -> np.ndarray:
    """A progression of triads (one per ``seconds``) with a decaying envelope, like a strummed instrument."""
    env = np.exp(-np.arange(int(seconds * SR)) / SR * 1.5)
    parts = [sum(tone(r + i, seconds) for i in intervals) * env for r in roots]
    x = np.concatenate(parts)
    return (0.2 * x / np.abs(x).max()).astype(np.float32)


def clicks(bpm: float, seconds: float = 20.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.zeros(int(seconds * SR), np.float32)
    burst = (rng.normal(0, 1, int(0.02 * SR)) * np.exp(-np.arange(int(0.02 * SR)) / (0.004 * SR))).astype(np.float32)
    for t in np.arange(0, seconds - 0.05, 60.0 / bpm):
        i = int(t * SR)
        x[i : i + len(burst)] += 0.5 * burst
    return x


def test_vector_matches_names_and_is_finite() -> None:
    x = describe(chords((0, 4, 7), (60, 65, 67, 60)), CFG)
    assert x.shape == (len(descriptor_names(CFG)),) and x.dtype == np.float32 and np.isfinite(x).all()
    assert len(set(descriptor_names(CFG))) == len(x)  # every name once
    short = describe(np.zeros(100, np.float32), CFG)  # shorter than one frame, silent: still a finite vector
    assert np.isfinite(short).all()


def test_loudness_moves_level_not_shape() -> None:
    quiet = chords((0, 4, 7), (60, 65, 67, 60))
    a, b = named(describe(quiet, CFG)), named(describe(4 * quiet, CFG))
    assert b["rms_db_mean"] - a["rms_db_mean"] == pytest.approx(20 * np.log10(4), abs=0.2)
    for k in (
        "centroid_mean",
        "flatness_mean",
        "contrast_3_mean",
        "percussive_ratio",
        "mode",
        "mfcc_1_mean",
        "tempo_log2",
    ):
        assert b[k] == pytest.approx(a[k], abs=1e-2), k


@pytest.mark.parametrize("bpm", [90.0, 120.0, 150.0])
def test_tempo_of_a_click_track(bpm: float) -> None:
    d = named(describe(clicks(bpm), CFG))
    assert 2 ** d["tempo_log2"] * 120 == pytest.approx(bpm, rel=0.06)
    assert d["onset_density"] == pytest.approx(bpm / 60, rel=0.25)  # one onset per click
    assert d["pulse_clarity"] > 0.3


def test_major_reads_more_major_than_minor() -> None:
    # I-IV-V-I in C major against i-iv-v-i in C minor, half a second a chord: every 2 s window holds a cadence.
    major = named(describe(chords((0, 4, 7), (60, 65, 67, 60) * 5, seconds=0.5), CFG))
    minor = named(describe(chords((0, 3, 7), (60, 65, 67, 60) * 5, seconds=0.5), CFG))
    assert major["mode"] > minor["mode"] and major["local_mode"] > minor["local_mode"]
    assert major["major_share"] > minor["major_share"]


def test_percussion_raises_the_percussive_share_and_onsets() -> None:
    tonal = chords((0, 4, 7), (60, 65, 67, 60, 57, 62, 60, 65, 67, 60))
    drums = tonal + clicks(120.0, seconds=len(tonal) / SR)
    a, b = named(describe(tonal, CFG)), named(describe(drums, CFG))
    assert b["percussive_ratio"] > a["percussive_ratio"] + 0.05
    assert b["onset_density"] > a["onset_density"]
