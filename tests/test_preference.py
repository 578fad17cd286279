"""The factorized Bayesian model behind personal ranking: what an observation teaches, and Thompson's draws."""

from __future__ import annotations

import numpy as np
import pytest

from emotune.pipeline.preference import FactorModel


def model() -> FactorModel:
    return FactorModel(lambda f: 0.25 if f.startswith("genre") else 0.16)


def test_observations_move_the_weights_and_shrink_their_variance() -> None:
    m = model()
    for _ in range(30):
        m.update(["song:a", "genre:rock"], 1.0, 0.5)
        m.update(["song:b", "genre:rock"], -1.0, 0.5)
    assert m.expected(["song:a", "genre:rock"]) == pytest.approx(1.0, abs=0.15)
    assert m.expected(["song:b", "genre:rock"]) == pytest.approx(-1.0, abs=0.15)
    assert abs(m.mean["genre:rock"]) < 0.2  # the genre is neither: the songs carry the difference
    assert m.var["song:a"] < 0.16 / 5 and m.n["song:a"] == 30
    assert m.touched == {"song:a", "song:b", "genre:rock"}


def test_without_evidence_a_draw_is_zero_and_with_scale_zero_the_mean() -> None:
    m = model()
    rng = np.random.default_rng(0)
    assert m.sample(["song:x", "genre:jazz"], rng, {}) == 0.0 and not m.has_evidence()
    m.update(["genre:jazz"], 1.0, 0.5)
    assert m.has_evidence(["song:x", "genre:jazz"]) and not m.has_evidence(["song:x"])
    assert m.sample(["song:x", "genre:jazz"], rng, {}, scale=0.0) == pytest.approx(m.mean["genre:jazz"])
    draws: dict[str, float] = {}
    a = m.sample(["song:x", "genre:jazz"], rng, draws)
    assert m.sample(["song:y", "genre:jazz"], rng, draws) == a  # one draw per feature per decision
    spread = np.std([m.sample(["genre:jazz"], rng, {}) for _ in range(2000)])
    assert spread == pytest.approx(np.sqrt(m.var["genre:jazz"]), rel=0.1)


def test_rows_round_trip() -> None:
    m = model()
    m.update(["song:a", "artist:x"], 0.7, 0.5)
    again = model().load(m.rows())
    assert again.rows() == m.rows() and not again.touched
