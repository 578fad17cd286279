"""musicnn from its wheel without TensorFlow: the checkpoint reader, librosa's mel front end, and the PyTorch port
against TensorFlow's own outputs (``tests/assets/musicnn/reference.npz``, made once by ``make_reference.py`` in a
throwaway TensorFlow virtualenv)."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from emotune.audio.io import decode_excerpt
from emotune.audio.musicnn_input import (
    MUSICNN_INPUT,
    musicnn_logmel,
    musicnn_patches,
    patch_starts,
    slaney_mel_filterbank,
)
from emotune.models.components import musicnn as mn
from emotune.models.components.backbones import build_backbone
from emotune.models.components.packaged import get_packaged
from emotune.models.components.tf_checkpoint import masked_crc32c, read_checkpoint, read_index
from emotune.utils.errors import DataError, MissingResourceError

from .helpers.musicnn_reference import REAL_CLIPS, reference_signal
from .helpers.real_data import REAL_MUSIC4Q, needs

REF = np.load(Path(__file__).parent / "assets" / "musicnn" / "reference.npz")
TOL = 1e-4
pytestmark = pytest.mark.skipif(importlib.util.find_spec("musicnn") is None, reason="the musicnn wheel is missing")


@pytest.fixture(scope="module")
def nets() -> dict[str, torch.nn.Module]:
    root = get_packaged("musicnn_msd").weights_path().parent.parent
    return {"musicnn": mn.load_net(root / "MSD_musicnn", "musicnn"), "vgg": mn.load_net(root / "MSD_vgg", "vgg")}


def run(nets: dict[str, torch.nn.Module], patches: np.ndarray) -> dict[str, np.ndarray]:
    with torch.no_grad():
        x = torch.from_numpy(patches)
        m, v = nets["musicnn"](x), nets["vgg"](x)
    return {"tags": torch.sigmoid(m["logits"]).numpy(), "penultimate": m["penultimate"].numpy(),
            "mean_pool": m["mean_pool"].numpy(), "max_pool": m["max_pool"].numpy(),
            "vgg_tags": torch.sigmoid(v["logits"]).numpy(), "vgg_pool5": v["pool5"].numpy()}  # fmt: skip


def test_checkpoint_index_is_read_without_tensorflow() -> None:
    folder = get_packaged("musicnn_msd").weights_path().parent
    entries = read_index(folder / ".index")
    assert len(entries) == 150  # 69 variables, two Adam slots each, two beta powers... as TensorFlow lists them
    assert entries["conv2d/kernel"].shape == (7, 38, 1, 204) and entries["dense_1/kernel"].shape == (200, 50)
    small = read_checkpoint(str(folder) + "/", ["batch_normalization_3/gamma", "conv2d_4/bias"])
    for name, value in small.items():
        assert masked_crc32c(value.tobytes()) == entries[name].crc32c  # the bytes TensorFlow wrote, checksummed


def test_a_damaged_index_is_one_error(tmp_path: Path) -> None:
    folder = get_packaged("musicnn_msd").weights_path().parent
    bad = tmp_path / ".index"
    bad.write_bytes(folder.joinpath(".index").read_bytes()[:-8] + b"\0" * 8)  # no table magic
    with pytest.raises(DataError, match="bad table magic"):
        read_index(bad)
    with pytest.raises(MissingResourceError):
        read_checkpoint(str(tmp_path / "nothing") + "/")


def test_filterbank_is_librosas() -> None:
    fb = np.zeros(tuple(REF["fb_shape"]), np.float32)
    fb[REF["fb_rows"], REF["fb_cols"]] = REF["fb_values"]
    assert np.array_equal(slaney_mel_filterbank(16000, 512, 96), fb)


def test_network_input_is_librosas_mel_with_musicnns_log() -> None:
    ours = musicnn_logmel(reference_signal())
    theirs = REF["synth_input"].astype(np.float32)
    assert ours.shape == theirs.shape == (376, 96)
    assert np.array_equal(ours, theirs)  # float16 values: the same to the bit
    # Consecutive patches (musicnn's own batching) are slices of the whole spectrogram.
    assert np.array_equal(musicnn_patches(reference_signal()), np.stack([ours[:187], ours[187:374]]))


def test_port_reproduces_tensorflow_on_a_synthesised_signal(nets: dict[str, torch.nn.Module]) -> None:
    ours = run(nets, REF["synth_input"].astype(np.float32).reshape(-1)[: 2 * 187 * 96].reshape(2, 187, 96))
    for key in ("tags", "penultimate", "vgg_tags"):
        assert np.abs(ours[key] - REF[f"synth_{key}"]).max() < TOL, key
    for key in ("mean_pool", "max_pool", "vgg_pool5"):  # activations in the tens: compare relative to their size
        ref = REF[f"synth_{key}"]
        assert np.abs(ours[key] - ref).max() < TOL * max(1.0, np.abs(ref).max()), key


def test_the_comparison_can_fail(nets: dict[str, torch.nn.Module]) -> None:
    """Padding the temporal convolutions' odd extra frame before the input (PyTorch's habit, not TensorFlow's)
    moves the outputs far beyond the tolerance: the test above would see a wrong port."""
    x = torch.from_numpy(REF["synth_input"].astype(np.float32)[:374].reshape(2, 187, 96))
    net = nets["musicnn"]
    net.pad_extra_at_end = False
    try:
        with torch.no_grad():
            wrong = net(x)["penultimate"].numpy()
    finally:
        del net.pad_extra_at_end
    assert np.abs(wrong - REF["synth_penultimate"]).max() > 100 * TOL


@needs(REAL_MUSIC4Q)
@pytest.mark.parametrize("quadrant", REAL_CLIPS)
def test_port_reproduces_tensorflow_on_real_clips(nets: dict[str, torch.nn.Module], quadrant: str) -> None:
    path = sorted((REAL_MUSIC4Q / quadrant).glob("*.mp3"))[0]
    sid = path.stem
    assert sid in REF["real_ids"]
    audio = decode_excerpt(path, 16000, 30.0)
    sha = hashlib.sha1(audio.astype("<f4").tobytes()).hexdigest()
    assert sha == str(REF[f"real_{sid}_audio_sha1"]), "PyAV decodes this clip differently now: regenerate the fixture"
    ours = run(nets, musicnn_patches(audio))
    for key in ("tags", "penultimate", "vgg_tags"):
        diff = np.abs(ours[key] - REF[f"real_{sid}_{key}"]).max()
        assert diff < TOL, (key, diff)


def test_patches_are_spread_over_the_excerpt() -> None:
    assert patch_starts(1876, None) == list(range(0, 1690, 187))  # musicnn's own: 10 consecutive patches
    assert patch_starts(1876, 2) == [376, 1314] and patch_starts(1876, 1) == [844]
    assert patch_starts(100, 3) == [0, 0, 0]  # shorter than a patch: the start (the audio is repeated)
    short = musicnn_patches(reference_signal()[:8000], MUSICNN_INPUT, patches=2)  # 0.5 s: repeated to 3 s
    assert short.shape == (2, 187, 96) and np.isfinite(short).all()
    x = reference_signal()
    two = musicnn_patches(x, MUSICNN_INPUT, patches=2)
    full = musicnn_logmel(x)
    assert np.array_equal(two[1], full[patch_starts(len(full), 2)[1] :][:187])


def test_backbone_from_the_factory_and_a_missing_wheel(monkeypatch: pytest.MonkeyPatch) -> None:
    b = build_backbone("packaged", "musicnn_msd", "wheel")
    assert b.num_features == 250 and b.data_config["kind"] == "musicnn" and b.data_config["sample_rate"] == 16000
    assert b(torch.zeros(3, 2, 187, 96)).shape == (3, 250)
    assert build_backbone("packaged", "vgg_msd", "wheel").num_features == 50 + 256
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "musicnn" else real(name, *a))
    with pytest.raises(MissingResourceError, match=r"pip install --no-deps musicnn"):
        build_backbone("packaged", "musicnn_msd", "wheel")


def test_the_reordered_front_end_gives_the_same_numbers(nets: dict[str, torch.nn.Module]) -> None:
    """Eval mode takes the max over frequency before ReLU and batch norm (negated weights for negative scales):
    bit-identical to the layer order of musicnn's graph, which the module runs in training mode."""
    net = nets["musicnn"]
    x = torch.from_numpy(REF["synth_input"].astype(np.float32)[:374].reshape(2, 187, 96))
    with torch.no_grad():
        fast = net(x)
        net.train()
        for m in net.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.eval()  # the moving statistics, as in inference
        plain = net(x)
        net.eval()
    assert all(torch.equal(fast[k], plain[k]) for k in fast)
