"""One short training of every phase and backbone option through the real train() entry."""

import json
from pathlib import Path

import pytest
import torch

from emotune.models.loading import load_phase_module, read_checkpoint
from emotune.runtime.train import train
from emotune.utils.errors import DataError


@pytest.mark.parametrize("backbone", ["test_convnext", "test_vit"])
@pytest.mark.parametrize("phase", ["scene", "face"])
def test_phase_trains_and_writes_outputs(make_cfg, phase: str, backbone: str) -> None:
    overrides = [f"phase={phase}", f"model/backbone={backbone}"]
    if backbone == "test_vit":
        overrides.append("model.freeze_backbone=true")  # frozen mode + feature cache
    cfg = make_cfg(*overrides)
    _metrics, objs = train(cfg)
    out = Path(cfg.paths.output_dir)
    assert (out / "checkpoints" / "best.ckpt").is_file() and (out / "checkpoints" / "last.ckpt").is_file()
    saved = json.loads((out / "metrics.json").read_text())
    for key in (
        "val/valence_ccc",
        "test/arousal_mae",
        "test_shifted/valence_ccc",
        "test/valence_sigma_err_spearman",
    ):
        assert key in saved, key
    assert all(v == v for k, v in saved.items() if k.endswith("_mae")), "NaN MAE"
    module = load_phase_module(out / "checkpoints" / "best.ckpt", phase)
    assert module.data_config["input_size"] == objs["model"].data_config["input_size"]


@pytest.mark.parametrize("backbone", ["openclip_vitb32", "openclip_vitb16", "resnet18", "test_convnext_face"])
def test_every_other_backbone_one_step(make_cfg, backbone: str) -> None:
    """The remaining backbone configs, random init, one training step each (frozen: quick on 2 cores)."""
    cfg = make_cfg(
        "phase=scene",
        f"model/backbone={backbone}",
        "model.backbone.pretrained=null",
        "model.freeze_backbone=true",
        "data.batch_size=2",
        "data.limit_per_split=4",
        "trainer.limit_train_batches=1",
    )
    _metrics, objs = train(cfg)
    assert objs["trainer"].global_step == 1
    mean = objs["model"].data_config["mean"]
    if backbone.startswith("openclip"):
        assert mean[0] == pytest.approx(0.48145466)  # CLIP's preprocessing, not ImageNet's
    else:
        import timm

        body = timm.create_model(cfg.model.backbone.name, pretrained=False)
        assert mean == pytest.approx(list(timm.data.resolve_model_data_config(body)["mean"]))  # timm's own


def test_fusion_reports_every_method(trained) -> None:
    ckpt = read_checkpoint(trained["fusion"])
    assert ckpt["emotune_phase"] == "fusion"
    metrics = json.loads((trained["fusion"].parents[1] / "metrics.json").read_text())
    for split in ("test", "test_face", "test_shifted", "test_shifted_face"):
        for prefix in ("scene/", "face/", "ivw/", "robust/", "learned/", "fixed/", "constant/", ""):
            for metric in ("ccc", "mae_ref", "spearman", "coverage90", "nll", "sigma_err_spearman"):
                assert f"{split}/{prefix}valence_{metric}" in metrics, (split, prefix, metric)
    assert metrics["test/constant/valence_ccc"] == pytest.approx(0.0, abs=1e-6)  # a constant has no concordance
    fusion = load_phase_module(trained["fusion"], "fusion")  # fusion checkpoint alone rebuilds both paths
    assert fusion.scene.data_config and fusion.face.data_config
    sd = ckpt["state_dict"]
    assert sd["fused_var_scale"].shape == (4, 2) and torch.isfinite(sd["fused_var_scale"]).all()
    prior, extra = sd["conflict"].tolist()  # fitted on val, on the grid
    assert 0 < prior < 1 and extra > 0
    for path in ("scene", "face"):  # each path calibrated its own variance on val
        scale = read_checkpoint(trained[path])["state_dict"]["var_scale"]
        assert scale.shape == (2,) and not torch.equal(scale, torch.ones(2))


def test_checkpoint_loads_weights_only_and_phase_is_checked(trained) -> None:
    ckpt = torch.load(trained["scene"], map_location="cpu", weights_only=True)
    assert ckpt["emotune_phase"] == "scene"
    with pytest.raises(DataError, match="given as the face checkpoint"):
        load_phase_module(trained["scene"], "face")


def test_resume_from_last(make_cfg) -> None:
    cfg = make_cfg("phase=scene", "trainer.max_epochs=1", "test=false")
    _, first = train(cfg)
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    steps_per_epoch = first["trainer"].global_step
    assert steps_per_epoch > 0 and torch.load(last, weights_only=True)["global_step"] == steps_per_epoch
    cfg2 = make_cfg("phase=scene", "trainer.max_epochs=2", "resume=true", "test=false")
    _, second = train(cfg2)
    # Continued from epoch 1, not from scratch: exactly one more epoch of steps.
    assert second["trainer"].current_epoch == 2 and second["trainer"].global_step == 2 * steps_per_epoch


def test_face_crop_margin_travels_with_the_checkpoint(trained, make_cfg) -> None:
    from emotune.models.loading import TrainedModels
    from emotune.pipeline.perceive import Perceiver

    face = load_phase_module(trained["face"], "face")
    assert read_checkpoint(trained["face"])["hyper_parameters"]["face_margin"] == pytest.approx(0.1)
    assert "face_margin" not in read_checkpoint(trained["scene"])["hyper_parameters"]
    fusion = load_phase_module(trained["fusion"], "fusion")
    assert fusion.face_margin == pytest.approx(0.1) and fusion.data_configs["face"]["face_margin"] == pytest.approx(0.1)
    scene = load_phase_module(trained["scene"], "scene")
    assert Perceiver(TrainedModels(scene, face)).face_margin == pytest.approx(0.1)  # the checkpoint's
    assert Perceiver(TrainedModels(scene, face), face_margin=0.3).face_margin == pytest.approx(0.3)  # override


def test_variance_calibration_and_conflict_model() -> None:
    """Both paths claim the same tiny variance; the scene path is often badly wrong (a misleading context).
    Calibrated, the conflict-aware fusion follows the face path where the two disagree and its sigma grows."""
    from emotune.models.components.fusion import conflict_aware, fit_conflict_model, inverse_variance

    g = torch.Generator().manual_seed(0)
    n = 2000
    y = torch.rand(n, 2, generator=g) * 2 - 1
    m_f = y + 0.1 * torch.randn(n, 2, generator=g)
    m_s = y + 0.1 * torch.randn(n, 2, generator=g)
    lie = torch.rand(n, generator=g) < 0.2
    m_s[lie] = torch.rand(int(lie.sum()), 2, generator=g) * 2 - 1  # the scene says something else
    v = torch.full((n, 2), 0.01)
    hf = torch.ones(n, dtype=torch.bool)
    prior, extra = fit_conflict_model(m_s[:1000], v[:1000], m_f[:1000], v[:1000], y[:1000], conflict_share=0.2)
    ivw_m, _ = inverse_variance(m_s, v, m_f, v, hf)
    rob_m, rob_v = conflict_aware(m_s, v, m_f, v, hf, prior, extra)
    err_ivw, err_rob = (ivw_m - y)[lie].abs().mean(), (rob_m - y)[lie].abs().mean()
    assert err_rob < 0.5 * err_ivw  # the misleading scene lost its say
    assert (rob_m - y)[~lie].abs().mean() < 1.2 * (ivw_m - y)[~lie].abs().mean()  # agreeing paths still average
    assert rob_v[lie].mean() > 1.5 * rob_v[~lie].mean()  # sigma grows back to the face path's own where they conflict
