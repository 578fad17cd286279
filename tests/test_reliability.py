"""Reliability: bad inputs through the real entry points, and nothing lost.

``run_infer``/``run_train`` are exactly what ``infer.py``/``train.py`` call after Hydra has composed the
config: a user error must exit 2 with one ``error:`` line naming the value, and leave no output that
looks complete. A few cases also go through the scripts as subprocesses (Hydra's own CLI errors).
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from emotune.runtime.entry import run_infer, run_train
from emotune.runtime.writers import OUTPUTS

from .conftest import ROOT, TINY, FakeWebcam, infer_overrides
from .helpers.configs import build


def expect_user_error(capsys, fn, cfg, *needles: str) -> str:
    """Run an entry point; it must exit 2 with one ``error:`` line containing every needle."""
    with pytest.raises(SystemExit) as exc:
        fn(cfg)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, err[-2000:]
    for n in needles:
        assert n in lines[0], (n, lines[0])
    assert "Traceback" not in err
    return lines[0]


def no_outputs(out: Path) -> bool:
    return not any((out / f).exists() for f in OUTPUTS) and not list(out.glob(".*.tmp*"))


class WrappedCapture:
    """A real ``cv2.VideoCapture`` with a lying fps, frame transforms, or a failure part-way."""

    def __init__(self, path, fps: float | None = None, fail_after: int | None = None, transform=None) -> None:
        self.cap, self.fps, self.fail_after, self.transform, self.grabs = (
            cv2.VideoCapture(path),
            fps,
            fail_after,
            transform,
            0,
        )

    def isOpened(self) -> bool:  # noqa: N802 (OpenCV's API)
        return self.cap.isOpened()

    def get(self, prop: int) -> float:
        if prop == cv2.CAP_PROP_FPS and self.fps is not None:
            return self.fps
        return self.cap.get(prop)

    def grab(self) -> bool:
        self.grabs += 1
        if self.fail_after is not None and self.grabs > self.fail_after:
            raise OSError("Input/output error (the disk went away)")
        return self.cap.grab()

    def retrieve(self):
        ok, frame = self.cap.retrieve()
        return ok, (self.transform(frame) if ok and self.transform else frame)

    def release(self) -> None:
        self.cap.release()


# ------------------------------------------------------------------------------------------ video
@pytest.mark.parametrize(
    "case, needle",
    [
        ("missing", "Video not found"),
        ("folder", "no video files"),
        ("text", "could not be opened"),
        ("empty", "empty file"),
        ("zero_frames", "video="),
    ],
)
def test_bad_video_files(make_cfg, trained, tmp_path: Path, capsys, case: str, needle: str) -> None:
    d = tmp_path / "in"
    d.mkdir()
    video = {
        "missing": d / "missing.mp4",
        "folder": d,
        "text": d / "notes.mp4",
        "empty": d / "empty.mp4",
        "zero_frames": d / "zero.mp4",
    }[case]
    if case == "text":
        video.write_text("this is not a video")
    elif case == "empty":
        video.write_bytes(b"")
    elif case == "zero_frames":
        w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 64))
        w.release()
    cfg = make_cfg(*infer_overrides(trained, video), config_name="infer")
    expect_user_error(capsys, run_infer, cfg, needle, str(video.name) if case != "folder" else str(video))
    assert no_outputs(Path(cfg.paths.output_dir))


def test_truncated_file_keeps_what_was_read(make_cfg, trained, synth_root: Path, tmp_path: Path) -> None:
    """A download cut in half: an AVI keeps its header at the start, so the first half still decodes; the run
    analyses it, warns, and says ``truncated``."""
    from emotune.runtime.infer import infer

    src = cv2.VideoCapture(str(synth_root / "videos" / "clip.mp4"))
    full = tmp_path / "full.avi"
    writer = cv2.VideoWriter(str(full), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 180))
    while True:
        ok, frame = src.read()
        if not ok:
            break
        writer.write(frame)
    writer.release()
    data = full.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    cfg = make_cfg(*infer_overrides(trained, cut), config_name="infer")
    summary = infer(cfg)
    assert summary["truncated"] is True and 8 <= summary["frames_analysed"] <= 16  # about half of 24
    assert all((Path(cfg.paths.output_dir) / f).is_file() for f in OUTPUTS)


def test_max_frames_is_not_truncation(make_cfg, trained, synth_root: Path) -> None:
    """Stopping at the user's max_frames is not a truncated file (it used to be reported as one)."""
    from emotune.runtime.infer import infer

    cfg = make_cfg(*infer_overrides(trained, synth_root / "videos" / "clip.mp4", "max_frames=10"), config_name="infer")
    summary = infer(cfg)
    assert summary["frames_analysed"] == 10 and summary["truncated"] is False


def test_outputs_follow_the_umask(make_cfg, trained, synth_root: Path) -> None:
    """Outputs are written through a temporary file; they must still get the permissions any file gets."""
    import os

    from emotune.runtime.infer import infer

    old = os.umask(0o022)
    try:
        cfg = make_cfg(*infer_overrides(trained, synth_root / "videos" / "clip.mp4"), config_name="infer")
        infer(cfg)
    finally:
        os.umask(old)
    for f in OUTPUTS:
        assert (Path(cfg.paths.output_dir) / f).stat().st_mode & 0o777 == 0o644, f


def test_unreadable_part_way_finishes_and_marks_truncated(make_cfg, trained, synth_root: Path) -> None:
    from emotune.runtime.infer import infer

    cfg = make_cfg(*infer_overrides(trained, synth_root / "videos" / "clip.mp4"), config_name="infer")
    summary = infer(cfg, capture_factory=lambda p: WrappedCapture(p, fail_after=25))  # 2.5 s of a 6 s clip at 10 fps
    assert summary["truncated"] is True and 8 <= summary["frames_analysed"] <= 11
    s = json.loads((Path(cfg.paths.output_dir) / "summary.json").read_text())
    assert s["truncated"] is True and s["songs"] and s["songs"][-1]["end_s"] <= 3.0


@pytest.mark.parametrize("fps", [0.0, 1e6])
def test_nonsense_fps_falls_back_to_timestamps(make_cfg, trained, synth_root: Path, fps: float) -> None:
    from emotune.runtime.infer import infer

    cfg = make_cfg(*infer_overrides(trained, synth_root / "videos" / "clip.mp4"), config_name="infer")
    summary = infer(cfg, capture_factory=lambda p: WrappedCapture(p, fps=fps))
    assert any("unusable" in n for n in summary["video_notes"])
    assert 5.0 <= summary["video_seconds"] <= 7.0 and 20 <= summary["frames_analysed"] <= 26  # 6 s at 4 fps


@pytest.mark.parametrize(
    "transform, name",
    [
        (lambda f: cv2.cvtColor(f, cv2.COLOR_BGR2GRAY), "grayscale"),
        (lambda f: cv2.resize(f, (4800, 2700), interpolation=cv2.INTER_NEAREST), "huge"),
    ],
)
def test_grayscale_and_huge_frames(make_cfg, trained, synth_root: Path, transform, name: str) -> None:
    from emotune.runtime.infer import infer

    cfg = make_cfg(*infer_overrides(trained, synth_root / "videos" / "clip.mp4", "max_frames=6"), config_name="infer")
    seen = []
    summary = infer(cfg, capture_factory=lambda p: WrappedCapture(p, transform=transform))
    assert summary["frames_analysed"] == 6, name
    tl = pd.read_csv(Path(cfg.paths.output_dir) / "timeline.csv")
    assert tl[["stab_valence", "stab_arousal"]].notna().all().all()
    if name == "huge":  # the models saw a downscaled frame: the scene path ran at normal cost
        assert summary["stage_seconds"]["downscale"] > 0
    del seen


def test_clip_shorter_than_the_dwell(make_cfg, trained, synth_root: Path) -> None:
    from emotune.runtime.infer import infer

    cfg = make_cfg(
        *infer_overrides(trained, synth_root / "videos" / "clip.mp4"),
        "matcher.min_dwell_s=25",
        config_name="infer",
    )
    summary = infer(cfg)
    assert len(summary["songs"]) == 1 and summary["dwell_violations"] == 0
    assert summary["songs"][0]["end_s"] == pytest.approx(summary["video_seconds"], abs=0.01)


def test_webcam_frames_stay_in_memory(make_cfg, trained, tmp_path: Path) -> None:
    from emotune.runtime.infer import infer

    cfg = make_cfg(*infer_overrides(trained, 0), config_name="infer")
    infer(cfg, capture_factory=FakeWebcam.make(16))
    written = {p.name for p in Path(cfg.paths.output_dir).iterdir()}
    assert written == set(OUTPUTS), written  # no frame, image or video from the camera


# ------------------------------------------------------------------------------------------ faces
def test_face_choice_several_tiny_and_partly_outside() -> None:
    from emotune.detect.detectors import choose_face, crop_face
    from emotune.synthetic.drawing import FaceStyle, draw_face

    several = np.array([[0, 0, 10, 10, 0.99], [50, 50, 90, 100, 0.5], [5, 5, 30, 30, 0.7]], np.float32)
    assert choose_face(several, "largest")[0] == 50 and choose_face(several, "confident")[0] == 0
    assert choose_face(np.zeros((0, 5), np.float32)) is None
    img = np.zeros((100, 160, 3), np.uint8)
    crop = crop_face(img, np.array([140, -20, 170, 30, 1.0]), margin=0.25)  # off the right and top edges
    assert crop.shape[0] == crop.shape[1] and abs(crop.shape[0] - 50 * 1.5) <= 1  # square, padded at the edges
    big = np.full((720, 1280, 3), 128, np.uint8)
    draw_face(big, 640, 360, 12, 0.5, 0.5, FaceStyle.random(np.random.default_rng(0)), 0.0)  # a 12 px face
    assert len(build("detector", "haar").detect(big)) == 0  # below min_size_frac: the scene path takes over


def test_no_face_at_all_runs_on_the_scene_path(make_cfg, trained, tmp_path: Path) -> None:
    from emotune.runtime.infer import infer
    from emotune.synthetic.video import VideoSpec, render_video

    kf = pd.DataFrame({"t_s": [0, 3], "valence": [1, -1], "arousal": [3, 4], "face": [0, 0]})
    clip, _ = render_video(kf, tmp_path / "noface.mp4", VideoSpec(fps=8, width=192, height=108), progress=False)
    cfg = make_cfg(*infer_overrides(trained, clip), config_name="infer")
    summary = infer(cfg)
    tl = pd.read_csv(Path(cfg.paths.output_dir) / "timeline.csv")
    assert summary["face_found_fraction"] == 0.0 and tl["face_valence"].isna().all()
    # the fused value is the fusion of the scene path alone (with the labels' prior): the face path plays no part
    from emotune.models.components.fusion import PathEstimates
    from emotune.models.loading import load_phase_module

    fusion = load_phase_module(trained["fusion"], "fusion")
    m_s = torch.tensor(tl[["scene_valence", "scene_arousal"]].to_numpy(), dtype=torch.float32)
    v_s = torch.tensor(tl[["scene_valence_sd", "scene_arousal_sd"]].to_numpy() ** 2, dtype=torch.float32)
    no_face = torch.zeros(len(tl), dtype=torch.bool)
    for face_guess in (torch.zeros_like(m_s), torch.ones_like(m_s)):  # whatever the face path would have said
        mean, _ = fusion(PathEstimates(m_s, v_s, face_guess, torch.ones_like(v_s), no_face))
        np.testing.assert_allclose(tl["fused_valence"], mean[:, 0].numpy(), atol=2e-3)


# ------------------------------------------------------------------------------------------ checkpoints
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


def _foreign_files(tmp_path: Path, trained) -> dict[str, Path]:
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
    face = torch.load(trained["face"], weights_only=True)
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


def test_every_kind_of_non_checkpoint_file_gives_the_checkpoint_error(trained, tmp_path: Path) -> None:
    from emotune.models.loading import load_phase_module
    from emotune.utils.errors import EmotuneError

    for name, path in _foreign_files(tmp_path, trained).items():
        with pytest.raises(EmotuneError) as exc:
            load_phase_module(path, "face")
        msg = str(exc.value)
        assert "\n" not in msg and path.name in msg, (name, msg)


def test_foreign_checkpoint_through_the_entry_point(
    make_cfg, trained, synth_root: Path, tmp_path: Path, capsys
) -> None:
    bad = _foreign_files(tmp_path, trained)["arrays.npz"]
    cfg = make_cfg(
        *infer_overrides(trained, synth_root / "videos" / "clip.mp4", f"ckpt.face={bad}"), config_name="infer"
    )
    expect_user_error(capsys, run_infer, cfg, "not a readable PyTorch checkpoint", bad.name)
    assert no_outputs(Path(cfg.paths.output_dir))


def test_checkpoint_loads_without_its_pretrained_weights(trained, tmp_path: Path) -> None:
    """Trained from weights this machine lacks: the checkpoint carries them, so it must still load."""
    from emotune.models.loading import load_phase_module

    ckpt = torch.load(trained["scene"], weights_only=True)
    ckpt["hyper_parameters"]["backbone"]["pretrained"] = str(tmp_path / "weights_not_here.safetensors")
    path = tmp_path / "scene_from_pretrained.ckpt"
    torch.save(ckpt, path)
    module = load_phase_module(path, "scene")
    assert module.hparams.backbone["pretrained"].endswith("weights_not_here.safetensors")
    sd = torch.load(trained["scene"], weights_only=True)["state_dict"]
    k = next(iter(sd))
    assert torch.equal(module.state_dict()[k], sd[k])


# ------------------------------------------------------------------------------------------ catalogue
def _catalog_csv(path: Path, rows: list[tuple], header: str = "song_id,valence,arousal") -> Path:
    path.write_text(header + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    return path


@pytest.mark.parametrize(
    "case, needles",
    [
        ("missing_folder", ["catalog", "nope"]),
        ("missing_columns", ["lacks column", "arousal"]),
        ("all_bad", ["no songs left"]),
        ("memory", ["matcher.memory=2", "lower matcher.memory"]),
    ],
)
def test_bad_catalogues(
    make_cfg, trained, synth_root: Path, tmp_path: Path, capsys, case: str, needles: list[str]
) -> None:
    clip = synth_root / "videos" / "clip.mp4"
    if case == "missing_folder":
        extra = ["catalog=deam", f"catalog.root={tmp_path / 'nope'}"]
    else:
        rows = {
            "missing_columns": [(1, 5)],
            "all_bad": [(1, float("nan"), 5), (2, 12, 5), (3, 5, -4)],
            "memory": [(1, 5, 5), (2, 6, 6)],
        }[case]
        header = "song_id,valence" if case == "missing_columns" else "song_id,valence,arousal"
        extra = ["catalog=csv", f"catalog.path={_catalog_csv(tmp_path / 'songs.csv', rows, header)}"]
    cfg = make_cfg(*infer_overrides(trained, clip, *extra), config_name="infer")
    expect_user_error(capsys, run_infer, cfg, *needles)
    assert no_outputs(Path(cfg.paths.output_dir))


def test_catalogue_rows_dropped_and_counted_and_small_k(make_cfg, trained, synth_root: Path, tmp_path: Path) -> None:
    from emotune.runtime.infer import infer

    rows = [(i, 2 + i % 6, 3 + i % 5) for i in range(8)] + [(3, 5, 5), (90, "nan", 4), (91, 5, 11)]
    csv = _catalog_csv(tmp_path / "mine.csv", rows)
    cfg = make_cfg(
        *infer_overrides(
            trained,
            synth_root / "videos" / "clip.mp4",
            "catalog=csv",
            f"catalog.path={csv}",
            "matcher.stations.k=50",
            "matcher.memory=3",
        ),
        config_name="infer",
    )
    summary = infer(cfg)
    assert summary["catalog"]["songs"] == 8  # duplicate id, NaN and out-of-range rows dropped
    assert summary["repeats_within_memory"] == 0


# ------------------------------------------------------------------------------------------ training data
def _copy_synth(synth_root: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny synthetic set; returns what ``paths.synthetic_dir`` should be."""
    root = tmp_path / "synthetic"
    shutil.copytree(
        synth_root / "findingemo", root / "findingemo", ignore=shutil.ignore_patterns("cache", "splits.csv")
    )
    return root


def test_missing_corrupt_and_out_of_range_training_data_skipped_and_counted(
    make_cfg, synth_root: Path, tmp_path: Path
) -> None:
    root = _copy_synth(synth_root, tmp_path)
    fe = root / "findingemo"
    ann = pd.read_csv(fe / "annotations_single.ann", dtype=str, keep_default_na=False)
    paths = ann["image_path"].tolist()
    (fe / "images" / paths[0].lstrip("/")).unlink()  # missing
    (fe / "images" / paths[1].lstrip("/")).write_bytes(b"\xff\xd8 truncated jpeg")  # corrupt
    extra = ann.iloc[[2]].copy()
    extra["image_path"], extra["valence"] = "/extra/out_of_range.jpg", "9"  # a label outside -3..3
    pd.concat([ann, extra]).to_csv(fe / "annotations_single.ann", index=False)
    cfg = make_cfg("phase=face", f"paths.synthetic_dir={root}")
    run_train(cfg)
    stats = json.loads((Path(cfg.paths.output_dir) / "data_stats.json").read_text())
    assert stats["missing_images"] == 1 and stats["unreadable_images"] == 1, stats
    assert stats["labels"]["out_of_range"] == 1, stats
    assert (Path(cfg.paths.output_dir) / "metrics.json").is_file()


def test_empty_split_is_a_clear_error(make_cfg, synth_root: Path, tmp_path: Path, capsys) -> None:
    root = _copy_synth(synth_root, tmp_path)
    cfg0 = make_cfg("phase=scene", f"paths.synthetic_dir={root}")
    run_train(cfg0)  # writes splits.csv
    split_file = root / "findingemo" / "splits.csv"
    split = pd.read_csv(split_file, dtype=str)
    split.loc[split["split"] == "val", "split"] = "train"
    split.to_csv(split_file, index=False)
    cfg = make_cfg("phase=scene", f"paths.synthetic_dir={root}")
    (Path(cfg.paths.output_dir) / "metrics.json").unlink()  # the first run's
    expect_user_error(capsys, run_train, cfg, "Split 'val' is empty", "splits.csv")
    assert not (Path(cfg.paths.output_dir) / "metrics.json").exists()


# ------------------------------------------------------------------------------------------ config
@pytest.mark.parametrize(
    "override, needles",
    [
        ("stabilizer.alpha=0", ["stabilizer.alpha=0", "(0.0, 1.0]"]),
        ("stabilizer.alpha=1.5", ["stabilizer.alpha=1.5", "(0.0, 1.0]"]),
        ("matcher.min_dwell_s=-3", ["matcher.min_dwell_s=-3", "[0.0, inf]"]),
        ("perceive.fps=0", ["perceive.fps=0", "(0.0, 60.0]"]),
        ("stabilizer.tau=-1", ["stabilizer.tau=-1", "[0.0, inf]"]),
        ("perceive.mc_samples=0", ["perceive.mc_samples=0", "[1"]),
    ],
)
def test_bad_infer_config_stops_before_work(
    make_cfg, trained, synth_root: Path, capsys, override: str, needles: list[str]
) -> None:
    cfg = make_cfg(*infer_overrides(trained, synth_root / "videos" / "clip.mp4", override), config_name="infer")
    expect_user_error(capsys, run_infer, cfg, *needles)
    assert no_outputs(Path(cfg.paths.output_dir))


@pytest.mark.parametrize(
    "override, needles",
    [
        ("model.backbone.name=resnet_does_not_exist", ["resnet_does_not_exist"]),
        ("model.backbone.source=keras", ["keras", "timm"]),
        ("model.mc_samples=0", ["mc_samples"]),
    ],
)
def test_bad_train_config(make_cfg, capsys, override: str, needles: list[str]) -> None:
    cfg = make_cfg("phase=scene", override)
    expect_user_error(capsys, run_train, cfg, *needles)
    assert not (Path(cfg.paths.output_dir) / "metrics.json").exists()


def test_unknown_detector_through_the_cli(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "train.py"),
            "phase=face",
            "detector=dlib",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "detector/dlib" in proc.stderr and "mtcnn" in proc.stderr  # Hydra lists the valid choices
    assert "Traceback" not in proc.stderr and not (tmp_path / "run" / "metrics.json").exists()


# ------------------------------------------------------------------------------------------ nothing lost
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


def _build_cache(args: tuple) -> int:
    from emotune.detect.cache import build_face_cache

    paths, image_root, cache_dir, detector = args
    return len(build_face_cache(paths, Path(image_root), detector, Path(cache_dir), progress=False))


def test_two_processes_building_one_face_cache(synth_root: Path, tmp_path: Path) -> None:
    import multiprocessing as mp

    from emotune.data.findingemo import read_annotations

    root = synth_root / "findingemo"
    paths = read_annotations(root / "annotations_single.ann")["image_path"].tolist()[:60]
    with mp.get_context("spawn").Pool(2) as pool:
        counts = pool.map(_build_cache, [(paths, str(root / "images"), str(tmp_path), build("detector", "haar"))] * 2)
    assert counts == [60, 60]
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1 and len(json.loads(files[0].read_text())["images"]) == 60
    assert not list(tmp_path.glob(".*.tmp*"))


def test_face_cache_invalidated_when_an_image_changes(synth_root: Path, tmp_path: Path) -> None:
    from emotune.data.findingemo import read_annotations
    from emotune.detect.cache import build_face_cache

    fe = _copy_synth(synth_root, tmp_path) / "findingemo"
    paths = read_annotations(fe / "annotations_single.ann")["image_path"].tolist()[:10]
    boxes = build_face_cache(paths, fe / "images", build("detector", "haar"), tmp_path / "c", progress=False)
    first = next(p for p in paths if boxes[p])
    img = cv2.imread(str(fe / "images" / first.lstrip("/")))
    cv2.imwrite(str(fe / "images" / first.lstrip("/")), np.zeros_like(img))  # the face is gone
    again = build_face_cache(paths, fe / "images", build("detector", "haar"), tmp_path / "c", progress=False)
    assert again[first] == [] and all(again[p] == boxes[p] for p in paths if p != first)


def test_feature_cache_keys_follow_backbone_preprocessing_and_image(make_cfg, synth_root: Path, tmp_path: Path) -> None:
    import hydra

    files = set()
    for extra in (
        [],
        ["model.backbone.input_size=96"],
        ["model/backbone=resnet18", "model.backbone.pretrained=null"],
    ):
        cfg = make_cfg("phase=scene", "model.freeze_backbone=true", *extra)
        files.add(hydra.utils.instantiate(cfg.model, _recursive_=False).cache.path)
    assert len(files) == 3  # another backbone or preprocessing: another cache file

    from emotune.data.va_dataset import VADataset

    fe = _copy_synth(synth_root, tmp_path) / "findingemo"
    rows = pd.read_csv(fe / "annotations_single.ann", dtype=str).head(3)
    rows[["valence", "arousal"]] = rows[["valence", "arousal"]].astype(int)

    def keys() -> list[str]:
        ds = VADataset(rows, fe / "images", "scene", {}, lambda x: x, None, 0.25, "largest", False)
        return [ds[i]["key"] for i in range(len(ds))]

    before = keys()
    img = fe / "images" / rows["image_path"].iloc[0].lstrip("/")
    cv2.imwrite(str(img), np.zeros((40, 40, 3), np.uint8))  # the image changed: its features must be redone
    after = keys()
    assert after[0] != before[0] and after[1:] == before[1:]


def test_checkpoint_writes_are_atomic(tmp_path: Path) -> None:
    from emotune.utils.checkpoint_io import AtomicCheckpointIO

    io = AtomicCheckpointIO()
    target = tmp_path / "last.ckpt"
    io.save_checkpoint({"state_dict": {"w": torch.ones(2)}}, target)
    good = target.read_bytes()
    with pytest.raises(Exception):  # noqa: B017 (whatever the writer raises, the old file must survive)
        io.save_checkpoint({"state_dict": {"w": torch.ones(2)}, "bad": lambda: 0}, target)
    assert target.read_bytes() == good and not list(tmp_path.glob(".*tmp*"))
