"""The context fusion: readings on the plane by construction, weights that follow what the frame shows, a variance
that grows with the error, and the frame evidence it reads."""

from __future__ import annotations

import numpy as np
import torch

from emotune.detect.context import CONTEXT_COLUMNS, face_context, sharpness
from emotune.detect.detectors import make_dets
from emotune.models.components.context_fusion import (
    ContextFitSettings,
    ContextFusion,
    correlation,
    fit_context_fusion,
)
from emotune.models.components.fusion import PathEstimates, with_swapped_scenes

SETTINGS = ContextFitSettings(ridge=1e-3, var_ridge=1e-3, max_iter=200, gate_loss="mse")
AREA = CONTEXT_COLUMNS.index("log_face_area")


def two_kinds_of_frames(n: int = 1200, seed: int = 0) -> tuple[PathEstimates, torch.Tensor, torch.Tensor]:
    """Half the rows: a face filling the frame, which reads the label, and a scene that says nothing about it. The
    other half: a small face that says nothing and a scene that reads the label, less well. Only the face's size
    tells them apart; both paths claim the same σ."""
    g = torch.Generator().manual_seed(seed)
    y = (torch.rand(n, 2, generator=g) * 1.6 - 0.8).clamp(-0.8, 0.8)
    big = torch.arange(n) % 2 == 0
    noise = torch.where(big[:, None], 0.08, 0.3) * torch.randn(n, 2, generator=g)
    junk = (0.5 * torch.randn(n, 2, generator=g)).clamp(-0.9, 0.9)
    face = torch.where(big[:, None], (0.9 * y + noise).clamp(-0.95, 0.95), junk)
    scene = torch.where(big[:, None], junk.flip(0), (0.9 * y + noise).clamp(-0.95, 0.95))
    ctx = torch.zeros(n, len(CONTEXT_COLUMNS))
    ctx[:, AREA] = torch.where(big, torch.tensor(-1.2), torch.tensor(-4.0)) + 0.2 * torch.randn(n, generator=g)
    v = torch.full((n, 2), 0.05)
    e = PathEstimates(scene, v, face, v, torch.ones(n, dtype=torch.bool), ctx)
    return e, y, big


def test_an_unfitted_fusion_is_plain_inverse_variance_weighting() -> None:
    e, _, _ = two_kinds_of_frames(50)
    e.face_var = torch.full_like(e.face_var, 0.01)  # the face four times as sure as the scene (0.05 / 0.01)...
    w = ContextFusion().face_weight(e)
    assert torch.allclose(w, torch.full_like(w, 0.05 / 0.06))
    e.has_face[:10] = False  # ...and no say at all where no face was found
    w = ContextFusion().face_weight(e)
    assert (w[:10] == 0).all() and (w[10:] > 0.8).all()


def test_readings_stay_on_the_plane_whatever_the_paths_say() -> None:
    fusion = ContextFusion()
    fusion.out_map.copy_(torch.tensor([[0.5, 1.5], [-0.5, 1.5]]))  # a map that widens a lot
    fusion.path_map.copy_(torch.tensor([[[0.5, 1.0], [0.5, 1.0]], [[-0.5, 1.0], [-0.5, 1.0]]]))
    n = 500
    g = torch.Generator().manual_seed(3)
    extreme = torch.sign(torch.randn(n, 2, generator=g)) * torch.rand(n, 2, generator=g).pow(0.1)  # |x| near 1
    e = PathEstimates(
        extreme,
        torch.rand(n, 2, generator=g),
        1.5 * extreme.flip(0),
        torch.rand(n, 2, generator=g),
        torch.rand(n, generator=g) > 0.3,
    )  # fmt: skip  (a legacy face path beyond the plane)
    mean, var, w = fusion(e)
    assert (mean.abs() <= 1).all() and (var > 0).all() and ((w >= 0) & (w <= 1)).all()


def test_fitted_weights_follow_the_face_where_it_fills_the_frame_and_the_scene_elsewhere() -> None:
    e, y, _big = two_kinds_of_frames()
    fusion = ContextFusion()
    fit_context_fusion(fusion, e, y, torch.zeros(len(y), dtype=torch.long), SETTINGS)
    test, y_test, big_test = two_kinds_of_frames(600, seed=1)  # new rows
    mean, var, w = fusion(test)
    assert w[big_test].mean() > 0.85 and w[~big_test].mean() < 0.15, (w[big_test].mean(), w[~big_test].mean())
    plain, _, _ = ContextFusion()(test)
    assert (mean - y_test).abs().mean() < 0.7 * (plain - y_test).abs().mean()  # far better than plain IVW
    assert (correlation(mean, y_test) > 0.85).all()
    err = (mean - y_test).abs()
    assert all(float(np.corrcoef(var[:, d].sqrt(), err[:, d])[0, 1]) > 0 for d in range(2))  # σ grows with error


def test_a_context_that_contradicts_a_clear_face_loses_its_say() -> None:
    """Fitted with swapped scenes (another image's context), the weight moves to the face as the paths disagree."""
    g = torch.Generator().manual_seed(5)
    n = 1500
    y = torch.rand(n, 2, generator=g) * 1.4 - 0.7
    face = (0.9 * y + 0.2 * torch.randn(n, 2, generator=g)).clamp(-0.95, 0.95)
    scene = (0.9 * y + 0.2 * torch.randn(n, 2, generator=g)).clamp(-0.95, 0.95)
    v = torch.full((n, 2), 0.05)
    e = PathEstimates(scene, v, face, v, torch.ones(n, dtype=torch.bool), torch.zeros(n, len(CONTEXT_COLUMNS)))
    rows, labels, domain = with_swapped_scenes(e, y, 0.3)
    fusion = ContextFusion()
    fit_context_fusion(fusion, rows, labels, domain, SETTINGS, {0: 0.7, 1: 0.3})
    agree = PathEstimates(face[:200], v[:200], face[:200], v[:200], e.has_face[:200], e.context[:200])
    clash = PathEstimates(-face[:200], v[:200], face[:200], v[:200], e.has_face[:200], e.context[:200])
    assert fusion.face_weight(clash).mean() > fusion.face_weight(agree).mean() + 0.05


def test_swapped_scenes_come_from_other_images_with_a_face() -> None:
    n = 40
    e = PathEstimates(torch.arange(n * 2.0).view(n, 2), torch.ones(n, 2), torch.zeros(n, 2), torch.ones(n, 2),
                      torch.arange(n) % 4 != 0)  # fmt: skip
    y = torch.zeros(n, 2)
    rows, labels, domain = with_swapped_scenes(e, y, 0.5)
    swapped = domain == 1
    assert swapped.sum() == n and len(labels) == 2 * n and rows.has_face[swapped].all()
    src = rows.scene_mean[swapped][:, 0].long() // 2  # which image each swapped scene came from
    assert (src % 4 != 0).all()  # only from images with a face


def test_frame_evidence_of_a_face() -> None:
    rng = np.random.default_rng(0)
    sharp = rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)
    blurred = np.full_like(sharp, 128)
    assert sharpness(sharp) > sharpness(blurred) + 3
    box = make_dets([[100, 100, 300, 300]], [0.9], np.array([[[160, 180], [240, 180], [200, 220], [200, 260],
                                                                [np.nan, np.nan], [np.nan, np.nan]]]))[0]  # fmt: skip
    ctx = face_context((480, 640), box, 3, sharp)
    assert np.isclose(np.exp(ctx[0]), 200 * 200 / (480 * 640), rtol=1e-4)
    assert np.isclose(ctx[1], np.log(3)) and ctx[2] < 0.05 and ctx[3] < 0.05 and ctx[5] == np.float32(0.9)
    assert (face_context((480, 640), None, 0, None) == 0).all()
