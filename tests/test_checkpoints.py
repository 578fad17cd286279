"""Checkpoints (``emotune.models.checkpoints``, ``emotune.models.loading``, ``emotune.utils.checkpoint_io``): every
file that is not a checkpoint of the phase asked for is one line naming it, a checkpoint loads without the pretrained
weights it started from, writes are atomic, and a killed training resumes where it stopped."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from emotune.runtime.entry import run_infer

from .conftest import ROOT, TINY, infer_overrides
from .helpers.capture import WrappedCapture
from .helpers.entry import expect_user_error, no_outputs


def _pickled_checkpoint(src: Path, dst: Path) -> Path:
    ckpt = torch.load(src, weights_only=True)
    ckpt["hyper_parameters"]["callback"] = WrappedCapture  # a Python object: needs pickle to load
    torch.save(ckpt, dst)
    return dst


@pytest.mark.parametrize(
    "case, needle",
    [
        ("garbage", "not a readable PyTorch checkpoint"),
        ("other_phase", "given as the face checkpoint"),
        ("pickled", "refusing it"),
        ("missing", "Checkpoint not found"),
    ],
)
def test_bad_checkpoints(make_cfg, trained, synth_root: Path, tmp_path: Path, capsys, case: str, needle: str) -> None:
    bad = {
        "garbage": tmp_path / "garbage.ckpt",
        "other_phase": trained["scene"],
        "pickled": tmp_path / "pickled.ckpt",
        "missing": tmp_path / "missing.ckpt",
    }[case]
    if case == "garbage":
        bad.write_bytes(b"\x00not a checkpoint" * 64)
    elif case == "pickled":
        _pickled_checkpoint(trained["face"], bad)
    cfg = make_cfg(
        *infer_overrides(trained, synth_root / "videos" / "clip.mp4", f"ckpt.face={bad}"), config_name="infer"
    )
    expect_user_error(capsys, run_infer, cfg, needle, str(bad.name))
    assert no_outputs(Path(cfg.paths.output_dir))


def _foreign_files(tmp_path: Path, face_ckpt: Path) -> dict[str, Path]:
    """Files that are not a face checkpoint, of every kind a user might point ckpt.face at."""
    import gzip
    import tarfile
    import zipfile

    d = tmp_path / "foreign"
    d.mkdir()
    out = {}

    def put(name: str, data: bytes) -> None:
        out[name] = d / name
        out[name].write_bytes(data)

    put("empty.ckpt", b"")
    put("notes.ckpt", b"just some text\n")
    put("config.json", b'{"a": 1}')
    put("frame.png", cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))[1].tobytes())
    put("frame.jpg", cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1].tobytes())
    put("archive.gz", gzip.compress(b"payload"))
    with zipfile.ZipFile(d / "archive.zip", "w") as z:
        z.writestr("a.txt", "hello")
    out["archive.zip"] = d / "archive.zip"
    with tarfile.open(d / "archive.tar", "w") as t:
        t.add(out["notes.ckpt"], arcname="notes")
    out["archive.tar"] = d / "archive.tar"
    np.save(d / "array.npy", np.zeros(3))
    out["array.npy"] = d / "array.npy"
    np.savez(d / "arrays.npz", a=np.zeros(3))
    out["arrays.npz"] = d / "arrays.npz"
    torch.save(torch.zeros(3), d / "tensor.pt")
    out["tensor.pt"] = d / "tensor.pt"
    torch.save({"weights": torch.zeros(3)}, d / "dict.pt")
    out["dict.pt"] = d / "dict.pt"
    face = torch.load(face_ckpt, weights_only=True)
    torch.save(face["state_dict"], d / "state_dict_only.pt")
    out["state_dict_only.pt"] = d / "state_dict_only.pt"
    torch.save({**face, "emotune_phase": None}, d / "no_phase.ckpt")
    out["no_phase.ckpt"] = d / "no_phase.ckpt"
    torch.save({k: v for k, v in face.items() if k != "hyper_parameters"}, d / "no_hparams.ckpt")
    out["no_hparams.ckpt"] = d / "no_hparams.ckpt"
    torch.save({**face, "hyper_parameters": {**face["hyper_parameters"], "from_the_future": 1}}, d / "newer.ckpt")
    out["newer.ckpt"] = d / "newer.ckpt"
    sd = dict(face["state_dict"])
    sd.pop(next(k for k in sd if k.startswith("head.")))
    torch.save({**face, "state_dict": sd}, d / "wrong_weights.ckpt")
    out["wrong_weights.ckpt"] = d / "wrong_weights.ckpt"
    (d / "a_folder.ckpt").mkdir()
    out["a_folder.ckpt"] = d / "a_folder.ckpt"
    return out


def test_every_kind_of_non_checkpoint_file_gives_the_checkpoint_error(trained_face: Path, tmp_path: Path) -> None:
    from emotune.models.loading import load_phase_module
    from emotune.utils.errors import EmotuneError

    for name, path in _foreign_files(tmp_path, trained_face).items():
        with pytest.raises(EmotuneError) as exc:
            load_phase_module(path, "face")
        msg = str(exc.value)
        assert "\n" not in msg and path.name in msg, (name, msg)


def test_foreign_checkpoint_through_the_entry_point(
    make_cfg, trained, synth_root: Path, tmp_path: Path, capsys
) -> None:
    bad = _foreign_files(tmp_path, trained["face"])["arrays.npz"]
    cfg = make_cfg(
        *infer_overrides(trained, synth_root / "videos" / "clip.mp4", f"ckpt.face={bad}"), config_name="infer"
    )
    expect_user_error(capsys, run_infer, cfg, "not a readable PyTorch checkpoint", bad.name)
    assert no_outputs(Path(cfg.paths.output_dir))


def test_checkpoint_loads_without_its_pretrained_weights(trained_scene: Path, tmp_path: Path) -> None:
    """Trained from weights this machine lacks: the checkpoint carries them, so it must still load."""
    from emotune.models.loading import load_phase_module

    ckpt = torch.load(trained_scene, weights_only=True)
    ckpt["hyper_parameters"]["backbone"]["pretrained"] = str(tmp_path / "weights_not_here.safetensors")
    path = tmp_path / "scene_from_pretrained.ckpt"
    torch.save(ckpt, path)
    module = load_phase_module(path, "scene")
    assert module.hparams.backbone["pretrained"].endswith("weights_not_here.safetensors")
    sd = torch.load(trained_scene, weights_only=True)["state_dict"]
    k = next(iter(sd))
    assert torch.equal(module.state_dict()[k], sd[k])


def test_checkpoint_writes_are_atomic(tmp_path: Path) -> None:
    from emotune.utils.checkpoint_io import AtomicCheckpointIO

    io = AtomicCheckpointIO()
    target = tmp_path / "last.ckpt"
    io.save_checkpoint({"state_dict": {"w": torch.ones(2)}}, target)
    good = target.read_bytes()
    with pytest.raises(Exception):  # noqa: B017 (whatever the writer raises, the old file must survive)
        io.save_checkpoint({"state_dict": {"w": torch.ones(2)}, "bad": lambda: 0}, target)
    assert target.read_bytes() == good and not list(tmp_path.glob(".*tmp*"))


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_killed_training_resumes_to_the_same_epochs(synth_root: Path, tmp_path: Path) -> None:
    """SIGKILL at the start of epoch 3 (epochs 1-2 and their last.ckpt done); resume=true finishes 5 epochs, none
    repeated, nothing half-written left behind."""
    run = tmp_path / "run"
    cmd = [
        sys.executable,
        str(ROOT / "train.py"),
        "phase=scene",
        f"paths.synthetic_dir={synth_root}",
        f"paths.cache_dir={tmp_path / 'cache'}",
        f"hydra.run.dir={run}",
        "test=false",
        *[o for o in TINY if "max_epochs" not in o],
        "trainer.max_epochs=5",
        "~callbacks.early_stopping",
    ]
    kill = ["+callbacks.kill._target_=tests.helpers.kill.KillAtEpochStart", "+callbacks.kill.epoch=2"]
    killed = subprocess.run([*cmd, *kill], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    last = run / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["epoch"] == 1  # epochs 0 and 1 saved
    assert not list(run.rglob("*.tmp*")), "a half-written file was left under a temporary name"
    resumed = subprocess.run([*cmd, "resume=true"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    ck = torch.load(last, weights_only=True)
    steps_per_epoch = 2  # TINY: limit_train_batches=2
    assert ck["epoch"] == 4 and ck["global_step"] == 5 * steps_per_epoch  # 5 epochs in all, none repeated
