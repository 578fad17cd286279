"""One short training of every phase and backbone option through the real train() entry."""

import json
from pathlib import Path

import pytest
import torch

from emotune.models.checkpoints import read_checkpoint
from emotune.models.fusion_module import FusionLitModule
from emotune.models.loading import TrainedModels, best_checkpoint, last_checkpoint, load_phase_module
from emotune.runtime.train import train
from emotune.utils.errors import DataError

from .helpers.configs import build


@pytest.mark.parametrize("backbone", ["test_convnext", "test_vit"])
@pytest.mark.parametrize("phase", ["scene", "face"])
def test_phase_trains_and_writes_outputs(make_cfg, phase: str, backbone: str) -> None:
    overrides = [f"phase={phase}", f"model/backbone={backbone}"]
    if backbone == "test_vit":
        overrides.append("model.freeze_backbone=true")  # frozen mode + feature cache
    cfg = make_cfg(*overrides)
    _metrics, objs = train(cfg)
    out = Path(cfg.paths.output_dir)
    assert best_checkpoint(out).is_file() and last_checkpoint(out).is_file()
    saved = json.loads((out / "metrics.json").read_text())
    for key in (
        "val/valence_ccc",
        "test/arousal_mae",
        "test_shifted/valence_ccc",
        "test/valence_sigma_err_spearman",
    ):
        assert key in saved, key
    assert all(v == v for k, v in saved.items() if k.endswith("_mae")), "NaN MAE"
    module = load_phase_module(best_checkpoint(out), phase)
    assert module.data_config["input_size"] == objs["model"].data_config["input_size"]


@pytest.mark.parametrize(
    "backbone",
    ["openclip_vitb32", "openclip_vitb16", "resnet18", "test_convnext_face", "effnet_lite0", "fer_minixception"],
)
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
    elif cfg.model.backbone.source == "packaged":
        from emotune.models.components.packaged import get_packaged

        assert mean == pytest.approx(get_packaged(cfg.model.backbone.name).data_config["mean"])  # the weights' own
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
    assert sd["variance.coef"].shape == (4, 2, 4) and torch.isfinite(sd["variance.coef"]).all()
    assert sd["measurement.slope"].shape == (3, 2) and (sd["measurement.slope"] > 0).all()  # 2 scene slots + face
    prior, extra = sd["conflict"].tolist()  # fitted on val, on the grid
    assert 0 < prior < 1 and extra > 0
    assert torch.isfinite(sd["gate_sigma"]).all() and (sd["gate_sigma"] > 0).all()  # the EMA gate, fitted on val
    del sd["gate_sigma"]  # a checkpoint from before the gate loads, with no gate (the stabilizer's fallback)
    old = FusionLitModule(**ckpt["hyper_parameters"])
    old.on_load_checkpoint(ckpt)
    old.load_state_dict(ckpt["state_dict"])
    assert build("perceive", models=TrainedModels(old.scene, old.face, old)).gate_sigma is None
    assert all(g > 0 for g in build("perceive", models=TrainedModels(fusion.scene, fusion.face, fusion)).gate_sigma)
    for path in ("scene", "face"):  # each path calibrated its own variance on val
        coef = read_checkpoint(trained[path])["state_dict"]["var_coef"]
        assert coef.shape == (2, 3) and not torch.equal(coef, torch.tensor([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]]))


def test_checkpoint_loads_weights_only_and_phase_is_checked(trained_scene: Path) -> None:
    ckpt = torch.load(trained_scene, map_location="cpu", weights_only=True)
    assert ckpt["emotune_phase"] == "scene"
    with pytest.raises(DataError, match="given as the face checkpoint"):
        load_phase_module(trained_scene, "face")


def test_resume_from_last(make_cfg) -> None:
    cfg = make_cfg("phase=scene", "trainer.max_epochs=1", "test=false")
    _, first = train(cfg)
    last = last_checkpoint(cfg.paths.output_dir)
    steps_per_epoch = first["trainer"].global_step
    assert steps_per_epoch > 0 and torch.load(last, weights_only=True)["global_step"] == steps_per_epoch
    cfg2 = make_cfg("phase=scene", "trainer.max_epochs=2", "resume=true", "test=false")
    _, second = train(cfg2)
    # Continued from epoch 1, not from scratch: exactly one more epoch of steps.
    assert second["trainer"].current_epoch == 2 and second["trainer"].global_step == 2 * steps_per_epoch


def test_face_crop_margin_travels_with_the_checkpoint(trained, make_cfg) -> None:

    face = load_phase_module(trained["face"], "face")
    from tests.conftest import TINY_FACE_MARGIN

    assert read_checkpoint(trained["face"])["hyper_parameters"]["face_margin"] == pytest.approx(TINY_FACE_MARGIN)
    assert "face_margin" not in read_checkpoint(trained["scene"])["hyper_parameters"]
    fusion = load_phase_module(trained["fusion"], "fusion")
    assert fusion.face_margin == pytest.approx(TINY_FACE_MARGIN)
    assert fusion.data_configs["face"]["face_margin"] == pytest.approx(TINY_FACE_MARGIN)
    scene = load_phase_module(trained["scene"], "scene")
    perceiver = build("perceive", models=TrainedModels(scene, face), face_margin=None)
    assert perceiver.face_margin == pytest.approx(TINY_FACE_MARGIN)  # the checkpoint's
    assert build("perceive", models=TrainedModels(scene, face), face_margin=0.3).face_margin == pytest.approx(0.3)


def test_testing_a_given_checkpoint_tests_its_weights(trained_scene: Path, make_cfg) -> None:
    """`train=false ckpt_path=PATH` scores PATH's weights (it used to score the untrained ones)."""
    from emotune.utils.errors import ConfigError

    cfg = make_cfg("phase=scene", "train=false", f"ckpt_path={trained_scene}")
    metrics, objs = train(cfg)
    saved = read_checkpoint(trained_scene)["state_dict"]
    tested = objs["model"].state_dict()
    assert all(torch.equal(tested[k].cpu(), v) for k, v in saved.items()), "tested weights are not the checkpoint's"
    assert "test/valence_ccc" in metrics
    with pytest.raises(ConfigError, match="needs the checkpoint to test"):
        train(make_cfg("phase=scene", "train=false"))


def test_fusion_is_fitted_and_chosen_on_disjoint_halves_of_val(
    make_cfg, trained_scene: Path, trained_face: Path
) -> None:
    """The fusion fits on val_fit and picks its epoch on val_select: no row is in both, together they are val."""
    from emotune.utils.instantiators import instantiate

    def keys(cfg, *splits: str) -> list[set[str]]:
        dm = instantiate(cfg.data, _recursive_=False, detector=instantiate(cfg.detector))
        dm.configure_inputs({"image": {"input_size": 32, "mean": [0.5] * 3, "std": [0.5] * 3},
                             "face": {"input_size": 32, "mean": [0.5] * 3, "std": [0.5] * 3}})  # fmt: skip
        dm.setup()
        return [set(dm.datasets[s].rows["image_path"]) for s in splits]

    cfg = make_cfg("phase=fusion", f"model.scene_ckpt={trained_scene}", f"model.face_ckpt={trained_face}")
    assert (cfg.data.train_split, cfg.data.val_split) == ("val_fit", "val_select")
    fit, select = keys(cfg, "val_fit", "val_select")
    (val,) = keys(make_cfg("phase=scene"), "val")
    assert fit and select and not fit & select and fit | select == val
