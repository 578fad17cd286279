"""The fusion's measurement model: a scene slot with a face in view and one alone, and old checkpoints."""

from __future__ import annotations

import torch

from emotune.models.components.fusion import FACE, SCENE_ALONE, SCENE_WITH_FACE, MeasurementModel, inverse_variance


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
    mm.fit(m_s, v, m_f, v, hf, y)
    assert (mm.noise[SCENE_WITH_FACE] >= 1e6).all() and (mm.slope[SCENE_ALONE] > 0.7).all()  # no say / its own
    assert (mm.slope[FACE] > 0.7).all()
    fused, _ = inverse_variance(mm, m_s, v, m_f, v, hf)
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
    mm.fit(m_s, v, m_f, v, hf, y, flat_prior=True)
    far_scene = torch.full((3, 2), 0.9)  # far outside what the scene read when fitted
    face = torch.tensor([[-0.3, 0.0], [0.0, 0.0], [0.3, 0.0]])
    fused, _ = inverse_variance(mm, far_scene, v[:3], face, v[:3], hf[:3])
    assert torch.allclose(fused[:, 0], face[:, 0] / 0.6, atol=0.02)  # the face alone, de-shrunk


def test_fitting_chosen_slots_leaves_the_others() -> None:
    mm = MeasurementModel()
    y = torch.rand(100, 2) * 2 - 1
    mm.fit(0.5 * y, torch.full((100, 2), 0.01), y, torch.full((100, 2), 0.01), torch.ones(100, dtype=torch.bool), y,
           slots=(SCENE_WITH_FACE, FACE))  # fmt: skip
    assert torch.equal(mm.slope[SCENE_ALONE], torch.ones(2)) and torch.allclose(mm.slope[0], torch.full((2,), 0.5))


def test_old_two_slot_checkpoints_load() -> None:
    old = {"offset": torch.zeros(2, 2), "slope": torch.tensor([[0.4, 0.5], [0.9, 0.8]]), "noise": torch.ones(2, 2),
           "prior": torch.tensor([[0.0, 0.0], [1.0, 1.0]])}  # fmt: skip
    mm = MeasurementModel()
    mm.load_state_dict(old)
    assert torch.equal(mm.slope[SCENE_ALONE], mm.slope[SCENE_WITH_FACE]) and mm.slope[FACE, 0] == 0.9
