"""The fusion's measurement model: a scene slot with a face in view and one alone, and old checkpoints."""

from __future__ import annotations

import torch

from emotune.models.components.fusion import (
    FACE,
    SCENE_ALONE,
    SCENE_WITH_FACE,
    MeasurementModel,
    PathEstimates,
    VarianceModel,
    conflict_aware,
    disagreement,
    fit_conflict_model,
    inverse_variance,
)


def test_scene_that_says_nothing_about_a_face_loses_its_say_only_where_a_face_is() -> None:
    """Rows with a face: the scene is noise about the person, the face a good reading. Rows without: the scene
    reads the label. Fitted per slot, the fusion follows the face where there is one and the scene elsewhere."""
    g = torch.Generator().manual_seed(0)
    n = 2000
    y = torch.rand(n, 2, generator=g) * 2 - 1
    hf = torch.arange(n) % 2 == 0
    m_f = 0.8 * y + 0.1 * torch.randn(n, 2, generator=g)
    m_s = torch.where(hf[:, None], 0.3 * torch.randn(n, 2, generator=g), 0.8 * y + 0.1 * torch.randn(n, 2, generator=g))
    v = torch.full((n, 2), 0.02)
    mm = MeasurementModel()
    mm.fit(PathEstimates(m_s, v, m_f, v, hf), y)
    assert (mm.noise[SCENE_WITH_FACE] >= 1e6).all() and (mm.slope[SCENE_ALONE] > 0.7).all()  # no say / its own
    assert (mm.slope[FACE] > 0.7).all()
    fused, _ = inverse_variance(mm, PathEstimates(m_s, v, m_f, v, hf))
    err_face_rows = (fused - y)[hf].abs().mean()
    assert err_face_rows < 1.2 * (m_f / 0.8 - y)[hf].abs().mean()  # about the face's own error
    assert (fused - y)[~hf].abs().mean() < 0.2  # the scene alone still reads the label


def test_a_useless_path_gets_no_say_even_out_of_its_fitting_data() -> None:
    """A scene that was noise about the label when fitted must not blow a reading outside that range up into a
    confident estimate (inverting a tiny slope would)."""
    g = torch.Generator().manual_seed(1)
    n = 500
    y = torch.rand(n, 2, generator=g) * 2 - 1
    hf = torch.ones(n, dtype=torch.bool)
    m_s, m_f = 0.05 * torch.randn(n, 2, generator=g), 0.6 * y
    v = torch.full((n, 2), 0.05)
    mm = MeasurementModel()
    mm.fit(PathEstimates(m_s, v, m_f, v, hf), y, flat_prior=True)
    far_scene = torch.full((3, 2), 0.9)  # far outside what the scene read when fitted
    face = torch.tensor([[-0.3, 0.0], [0.0, 0.0], [0.3, 0.0]])
    fused, _ = inverse_variance(mm, PathEstimates(far_scene, v[:3], face, v[:3], hf[:3]))
    assert torch.allclose(fused[:, 0], face[:, 0] / 0.6, atol=0.02)  # the face alone, de-shrunk


def test_fitting_chosen_slots_leaves_the_others() -> None:
    mm = MeasurementModel()
    y = torch.rand(100, 2) * 2 - 1
    v = torch.full((100, 2), 0.01)
    mm.fit(PathEstimates(0.5 * y, v, y, v, torch.ones(100, dtype=torch.bool)), y, slots=(SCENE_WITH_FACE, FACE))
    assert torch.equal(mm.slope[SCENE_ALONE], torch.ones(2)) and torch.allclose(mm.slope[0], torch.full((2,), 0.5))


def test_old_two_slot_checkpoints_load() -> None:
    old = {"offset": torch.zeros(2, 2), "slope": torch.tensor([[0.4, 0.5], [0.9, 0.8]]), "noise": torch.ones(2, 2),
           "prior": torch.tensor([[0.0, 0.0], [1.0, 1.0]])}  # fmt: skip
    mm = MeasurementModel()
    mm.load_state_dict(old)
    assert torch.equal(mm.slope[SCENE_ALONE], mm.slope[SCENE_WITH_FACE]) and mm.slope[FACE, 0] == 0.9


def test_measurement_model_conflicts_and_variance() -> None:
    """Two shrunk paths (each reads 0.6 * label + noise). Calibrated on held-out rows where they agree (as val
    does), inverse-variance fusion undoes the shrinkage and beats either path; on rows where the scene reads
    another image's context (as test_shifted does), the conflict-aware fusion follows the face, and its
    variance grows back to the face path's own."""
    g = torch.Generator().manual_seed(0)
    n = 4000
    y = torch.rand(n, 2, generator=g) * 2 - 1
    m_f = 0.6 * y + 0.15 * torch.randn(n, 2, generator=g)
    m_s = 0.6 * y + 0.15 * torch.randn(n, 2, generator=g)
    lie = (torch.rand(n, generator=g) < 0.3) & (torch.arange(n) >= n // 2)  # held-out rows agree; later ones not
    m_s[lie] = 0.6 * (torch.rand(int(lie.sum()), 2, generator=g) * 2 - 1)  # the scene says something else
    v = torch.full((n, 2), 0.02)
    hf = torch.ones(n, dtype=torch.bool)
    fit, ev = slice(0, 2000), slice(2000, n)
    e = PathEstimates(m_s, v, m_f, v, hf)
    mm = MeasurementModel()
    mm.fit(e.rows(fit), y[fit])
    assert torch.allclose(mm.slope[1], torch.full((2,), 0.6), atol=0.05)  # the face path's shrinkage found
    prior, extra = fit_conflict_model(mm, e.rows(fit), y[fit], conflict_share=0.2)
    ivw_m, _ = inverse_variance(mm, e)
    rob_m, rob_v = conflict_aware(mm, e, prior, extra)
    honest = ev.start + torch.nonzero(~lie[ev]).squeeze(1)
    liars = ev.start + torch.nonzero(lie[ev]).squeeze(1)
    err_face = (m_f / 0.6 - y).abs()  # the face path alone, de-shrunk
    assert (ivw_m - y)[honest].abs().mean() < err_face[honest].mean()  # two agreeing paths beat one
    assert (rob_m - y)[liars].abs().mean() < 0.6 * (ivw_m - y)[liars].abs().mean()  # the misleading scene lost its say
    vm = VarianceModel(1)
    conflict = disagreement(mm, e)
    vm.fit(0, rob_m[fit], rob_v[fit], hf[fit], conflict[fit], y[fit])
    fitted = vm(0, rob_v, hf, conflict)
    assert rob_v[liars].mean() > 1.2 * rob_v[honest].mean()  # one path left: less certain than two that agree
    ratio = ((rob_m - y)[fit] ** 2 / fitted[fit]).mean()
    assert 0.8 < ratio < 1.25  # calibrated where it was fitted
    assert (ivw_m - y)[honest].abs().mean() < 0.9 * err_face[honest].mean()
