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
    for prefix in ("scene/", "face/", "ivw/", "learned/", "fixed/", ""):
        assert f"test/{prefix}valence_ccc" in metrics, prefix
    fusion = load_phase_module(trained["fusion"], "fusion")  # fusion checkpoint alone rebuilds both paths
    assert fusion.scene.data_config and fusion.face.data_config
    scale = ckpt["state_dict"]["var_scale"]  # MC variances calibrated on val, per path and dimension
    assert scale.shape == (2, 2) and torch.isfinite(scale).all() and not torch.equal(scale, torch.ones(2, 2))
    assert torch.equal(fusion.var_scale, scale)


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


def test_face_crop_margin_travels_with_the_checkpoint(trained) -> None:
    from omegaconf import OmegaConf

    from emotune.runtime.infer import face_margin

    for phase in ("face", "fusion"):
        assert read_checkpoint(trained[phase])["emotune_face_margin"] == pytest.approx(0.1)
    assert "emotune_face_margin" not in read_checkpoint(trained["scene"])
    face = load_phase_module(trained["face"], "face")
    assert face_margin(OmegaConf.create({"face_margin": None}), face, None) == pytest.approx(0.1)
    assert face_margin(OmegaConf.create({"face_margin": 0.3}), face, None) == pytest.approx(
        0.3
    )  # explicit wins


def test_variance_calibration_lets_the_accurate_path_lead(trained) -> None:
    """Both paths claim the same tiny MC variance; only the face path is right. Calibrated on held-out data,
    inverse-variance fusion follows the face path instead of averaging the two."""
    fusion = load_phase_module(trained["fusion"], "fusion")
    g = torch.Generator().manual_seed(0)
    y = torch.rand(400, 2, generator=g) * 2 - 1
    m_s, m_f = y + 0.3 * torch.randn(400, 2, generator=g), y + 0.05 * torch.randn(400, 2, generator=g)
    v, hf = torch.full((400, 2), 1e-3), torch.ones(400, dtype=torch.bool)
    fusion.var_scale.fill_(1.0)
    naive = (fusion.fuse_all(m_s, v, m_f, v, hf)["ivw"][0] - y).abs().mean()
    fusion._accumulate_calibration(m_s, v, m_f, v, hf, y)
    fusion.on_train_epoch_end()
    mean, var = fusion.fuse_all(m_s, v, m_f, v, hf)["ivw"]
    assert (mean - y).abs().mean() < 0.05 < naive
    assert var.sqrt().mean() == pytest.approx(0.05, rel=0.3)  # the fused sigma now matches the real error
