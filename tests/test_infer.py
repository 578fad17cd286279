"""infer.py end to end on a rendered clip, and bad inputs through the real entry point."""

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from emotune.runtime.infer import infer
from emotune.utils.errors import ConfigError, DataError, MissingResourceError

from .conftest import ROOT, FakeWebcam, infer_overrides
from .helpers.real_data import SHARED_DEAM, needs


def infer_cfg(make_cfg, models, video, *extra: str):
    return make_cfg(*infer_overrides(models, video, *extra), config_name="infer")


def test_infer_writes_every_output(make_cfg, trained, synth_root: Path) -> None:
    cfg = infer_cfg(make_cfg, trained, synth_root / "videos" / "clip.mp4", "render=true")
    summary = infer(cfg)
    out = Path(cfg.paths.output_dir)
    for name in (
        "timeline.csv",
        "playlist.json",
        "playlist.m3u",
        "summary.json",
        "timeline.png",
        "annotated.mp4",
    ):
        assert (out / name).is_file(), name
    tl = pd.read_csv(out / "timeline.csv")
    assert len(tl) == summary["frames_analysed"] == 24  # 6 s at 4 fps
    for col in (
        "t_s",
        "scene_valence",
        "face_valence_sd",
        "fused_arousal",
        "stab_valence",
        "stab_arousal",
        "face_found",
        "station",
        "song_id",
    ):
        assert col in tl.columns, col
    assert tl[["stab_valence", "stab_arousal"]].notna().all().all()
    assert tl.loc[tl["t_s"] >= 4.6, "face_found"].sum() == 0  # the clip has no face after 4.5 s
    # the fusion's weight on the face: a share where a face is found, none where none is
    w = tl[["face_weight_valence", "face_weight_arousal"]]
    assert ((w >= 0) & (w <= 1)).all().all() and (w[tl["face_found"] == 0] == 0).all().all()
    assert (tl[["fused_valence", "fused_arousal", "scene_valence", "scene_arousal"]].abs() <= 1).all().all()
    s = json.loads((out / "summary.json").read_text())
    for key in (
        "video_seconds",
        "frames_analysed",
        "analysis_fps",
        "processing_seconds",
        "realtime_factor",
        "face_found_fraction",
        "switches",
        "dwell_violations",
        "mode",
        "songs",
    ):
        assert key in s, key
    assert s["dwell_violations"] == 0 and s["songs"][0].keys() >= {
        "song_id",
        "start_s",
        "end_s",
        "valence",
        "arousal",
        "station",
    }
    assert (out / "playlist.m3u").read_text().startswith("#EXTM3U")


def test_webcam_path_with_fake_capture(make_cfg, trained, synth_root: Path) -> None:
    cfg = infer_cfg(make_cfg, trained, 0)
    assert infer(cfg, capture_factory=FakeWebcam.make(6, fps=4.0, shape=(120, 160, 3)))["frames_analysed"] == 6
    with pytest.raises(MissingResourceError, match="Webcam video=0 did not open"):
        infer(cfg, capture_factory=FakeWebcam.make(6, opens=False))


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "make_video, err, match",
    [
        (lambda d: d / "missing.mp4", MissingResourceError, "Video not found"),
        (lambda d: d, DataError, "folder with no video files"),
        (lambda d: _write(d / "empty.mp4", b""), DataError, "empty file"),
        (lambda d: _write(d / "text.mp4", b"hello, not a video"), DataError, "could not be opened"),
    ],
)
def test_bad_videos_fail_cleanly(make_cfg, scene_only_set: Path, tmp_path: Path, make_video, err, match) -> None:
    video = make_video(tmp_path)
    cfg = infer_cfg(make_cfg, scene_only_set, video)
    with pytest.raises(err, match=match):
        infer(cfg)
    assert not (Path(cfg.paths.output_dir) / "summary.json").exists()


def test_a_video_that_stops_decoding_at_the_start_is_an_error(
    make_cfg, scene_only_set: Path, synth_root: Path, tmp_path: Path
) -> None:
    """A file whose header reports its full length but whose frames end almost at once (a cut download) is one
    error, not a one-frame run."""
    data = (synth_root / "videos" / "clip.mp4").read_bytes()
    cut = _write(tmp_path / "cut.mp4", data[: len(data) // 50])
    cfg = infer_cfg(make_cfg, scene_only_set, cut)
    try:
        infer(cfg)
    except DataError as exc:
        assert "decode" in str(exc) or "opened" in str(exc), exc
    else:
        pytest.fail("a video cut to 2 % of its bytes ran")
    assert not (Path(cfg.paths.output_dir) / "summary.json").exists()


def test_a_scene_only_set_says_which_paths_ran(
    make_cfg, scene_only_set: Path, synth_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = infer_cfg(make_cfg, scene_only_set, synth_root / "videos" / "clip.mp4", "render=false")
    with caplog.at_level("WARNING", logger="emotune"):
        summary = infer(cfg)
    assert summary["paths_run"] == ["scene"] and summary["checkpoints_missing"] == ["face", "fusion"]
    assert summary["face_found_fraction"] is None  # no face was looked for, not "no face in view"
    assert set(summary["checkpoints"]) == {"scene"}
    assert any("No face or fusion checkpoint" in r.getMessage() for r in caplog.records), caplog.text


@pytest.mark.parametrize(
    "override, match",
    [
        ("perceive.fps=0", "perceive.fps"),
        ("matcher.min_dwell_s=-1", "matcher.min_dwell_s"),
        ("stabilizer.tau=-0.5", "stabilizer.tau"),
        ("perceive.mc_samples=0", "perceive.mc_samples"),
        ("matcher.stations.k=many", r"matcher\.stations\.k='many' is not a number"),
        ("matcher/policy=guide matcher.policy.step=x", r"matcher\.policy\.step='x' is not a number"),
        ("matcher.policy.settle_radius=0", r"matcher\.policy\.settle_radius"),
        ("matcher.stations.k_range=[9,3]", r"matcher\.stations\.k_range"),
        ("perceive.scene_every_s=-1", r"perceive\.scene_every_s"),
        ("perceive.seed=-1", r"perceive\.seed=-1 is out of range"),
        ("perceive.seed=0.5", r"perceive\.seed=0\.5 is not a whole number"),
    ],
)
def test_bad_config_named_before_work(
    make_cfg, scene_only_set: Path, synth_root: Path, override: str, match: str
) -> None:
    cfg = infer_cfg(make_cfg, scene_only_set, synth_root / "videos" / "clip.mp4", *override.split())
    with pytest.raises(ConfigError, match=match):
        infer(cfg)


def test_an_unknown_policy_is_named_when_composing(make_cfg, scene_only_set: Path, synth_root: Path) -> None:
    with pytest.raises(ConfigError, match="matcher/policy"):
        infer_cfg(make_cfg, scene_only_set, synth_root / "videos" / "clip.mp4", "matcher/policy=shuffle")


def test_cli_prints_one_line_and_exits_nonzero(tmp_path: Path, scene_only_set: Path, synth_root: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "infer.py"),
            f"video={tmp_path / 'nope.mp4'}",
            f"ckpt.dir={scene_only_set}",
            f"paths.synthetic_dir={synth_root}",
            f"hydra.run.dir={tmp_path / 'run'}",
            "extras.print_config=false",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    err_lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(err_lines) == 1 and "nope.mp4" in err_lines[0] and "Traceback" not in proc.stderr
    assert not (tmp_path / "run" / "summary.json").exists()


def test_missing_checkpoint_message(make_cfg, synth_root: Path, tmp_path: Path) -> None:
    cfg = make_cfg(
        f"video={synth_root / 'videos' / 'clip.mp4'}",
        f"ckpt.scene={tmp_path / 'x.ckpt'}",
        "progress=false",
        config_name="infer",
    )
    with pytest.raises(MissingResourceError, match="Checkpoint not found"):
        infer(cfg)


@pytest.mark.parametrize("stabilizer", ["none", "ema", "kalman"])
def test_every_stabilizer_and_mode_runs(make_cfg, trained, synth_root: Path, stabilizer: str) -> None:
    mode = "guide" if stabilizer == "kalman" else "validate"
    cfg = infer_cfg(
        make_cfg,
        trained,
        synth_root / "videos" / "clip.mp4",
        f"stabilizer={stabilizer}",
        f"matcher/policy={mode}",
    )
    summary = infer(cfg)
    assert summary["mode"] == mode and summary["dwell_violations"] == 0
    stages = summary["stage_seconds"]
    assert {
        "decode",
        "scene_backbone",
        "face_backbone",
        "heads",
        "detect",
        "stabilize",
        "match",
    } <= stages.keys()
    assert sum(stages.values()) <= summary["processing_seconds"] * 1.05 + 0.05


def test_batch_mode_over_a_folder_keeps_going_past_a_bad_video(
    make_cfg, trained, synth_root: Path, tmp_path: Path
) -> None:
    import shutil

    folder = tmp_path / "videos"
    folder.mkdir()
    for name in ("a.mp4", "b.mp4"):
        shutil.copy(synth_root / "videos" / "clip.mp4", folder / name)
    (folder / "c_broken.mp4").write_bytes(b"not a video")
    (folder / "notes.txt").write_text("ignored: not a video suffix")
    cfg = infer_cfg(make_cfg, trained, folder)
    with pytest.raises(DataError, match="1 of 3 videos failed"):
        infer(cfg)
    out = Path(cfg.paths.output_dir)
    table = pd.read_csv(out / "batch_summary.csv")
    assert list(table["status"]) == ["ok", "ok", "failed"] and "could not be opened" in table["error"].iloc[2]
    assert (table.loc[:1, "frames_analysed"] == 24).all()
    for run in table["run_dir"].iloc[:2]:
        assert (Path(run) / "playlist.json").is_file() and (Path(run) / "timeline.png").is_file()


def test_batch_list_file_and_collect_cli(make_cfg, trained, synth_root: Path, tmp_path: Path) -> None:
    lst = tmp_path / "videos.txt"
    lst.write_text(f"# my clips\n{synth_root / 'videos' / 'clip.mp4'}\n")
    cfg = infer_cfg(make_cfg, trained, lst)
    assert infer(cfg)["ok"] == 1
    out = Path(cfg.paths.output_dir)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "emotune.runtime.collect",
            f"dirs={out / 'videos'}",
            f"out={tmp_path / 't.csv'}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert len(pd.read_csv(tmp_path / "t.csv")) == 1


def test_genre_filter_and_quantile_alignment(make_cfg, trained, synth_root: Path) -> None:
    from emotune.data.deam import load_deam

    genres = load_deam(synth_root / "deam").songs["genre"]
    genre = genres.value_counts().index[0]
    cfg = infer_cfg(
        make_cfg,
        trained,
        synth_root / "videos" / "clip.mp4",
        f"filters.genre={genre}",
        "matcher.alignment=quantile",
    )
    summary = infer(cfg)
    pl = json.loads((Path(cfg.paths.output_dir) / "playlist.json").read_text())
    assert summary["catalog"]["songs"] == int((genres == genre).sum())
    assert all(s["genre"] == genre for s in pl["songs"])
    with pytest.raises(DataError, match="leaves no songs"):
        infer(infer_cfg(make_cfg, trained, synth_root / "videos" / "clip.mp4", "filters.genre=Polka-Metal"))


def test_quantile_alignment_maps_label_quantiles_onto_the_catalogue() -> None:
    from emotune.pipeline.alignment import QuantileAlignment

    rng = np.random.default_rng(0)
    source = rng.normal(0.3, 0.2, (5000, 2))  # e.g. FindingEmo labels lean positive
    target = rng.uniform(-0.8, 0.4, (3000, 2))  # a catalogue on another range
    align = QuantileAlignment(source, target)
    for q in (0.1, 0.5, 0.9):
        src_q = np.quantile(source, q, axis=0)
        np.testing.assert_allclose(align(src_q), np.quantile(target, q, axis=0), atol=0.03)
    x = np.linspace(-1, 1, 50)
    mapped = align(np.stack([x, x], 1))
    assert np.all(np.diff(mapped[:, 0]) >= 0)  # monotone: the order of moods is kept


@needs(SHARED_DEAM)
def test_infer_on_the_real_deam_catalogue(make_cfg, trained, synth_root: Path) -> None:
    deam = SHARED_DEAM
    cfg = infer_cfg(make_cfg, trained, synth_root / "videos" / "clip.mp4", "catalog=deam", f"catalog.root={deam}")
    summary = infer(cfg)
    assert summary["catalog"]["songs"] == 1802 and summary["catalog"]["scale"] == "deam_static"
    assert all(1 <= s["valence"] <= 9 and 1 <= s["arousal"] <= 9 for s in summary["songs"])


def test_live_window_shows_each_frame_and_q_stops(make_cfg, trained, monkeypatch: pytest.MonkeyPatch) -> None:
    shown, keys = [], iter([-1, -1, ord("q")])
    monkeypatch.setattr(cv2, "imshow", lambda title, img: shown.append(img.shape))
    monkeypatch.setattr(cv2, "waitKey", lambda ms: next(keys, -1))
    monkeypatch.setattr(cv2, "destroyWindow", lambda title: None)
    cfg = infer_cfg(make_cfg, trained, 0, "display=true")
    summary = infer(cfg, capture_factory=FakeWebcam.make(40))
    assert shown == [(96, 128, 3)] * 3 and summary["frames_analysed"] == 3  # stopped by q after 3 frames
    assert (Path(cfg.paths.output_dir) / "playlist.json").is_file()  # the session's playlist is kept


def test_live_window_without_gui_warns_and_goes_on(
    make_cfg, trained, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def no_gui(title, img):
        raise cv2.error("The function is not implemented. Rebuild the library with GTK+")

    monkeypatch.setattr(cv2, "imshow", no_gui)
    cfg = infer_cfg(make_cfg, trained, 0, "display=true")
    assert infer(cfg, capture_factory=FakeWebcam.make(40))["frames_analysed"] == 20  # 5 s at 4 fps, all analysed
    assert "no GUI" in caplog.text


def test_a_binary_file_as_the_catalogue_is_one_line(
    make_cfg, scene_only_set: Path, synth_root: Path, tmp_path: Path
) -> None:
    """`catalog=csv catalog.path=<an image>` used to end in Hydra's "Error in call to target ... UnicodeDecodeError"."""
    import cv2
    import numpy as np

    png = tmp_path / "cover.png"
    cv2.imwrite(str(png), np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8))
    cfg = infer_cfg(make_cfg, scene_only_set, synth_root / "videos" / "clip.mp4", "catalog=csv", f"catalog.path={png}")
    with pytest.raises(DataError, match=r"catalog\.path=.*cover\.png is not a CSV catalogue"):
        infer(cfg)
    assert not (Path(cfg.paths.output_dir) / "summary.json").exists()


def test_render_with_max_frames_covers_what_was_analysed(make_cfg, trained, synth_root: Path) -> None:
    """With `max_frames` the annotated video used to run to the source's end, its music silent after the analysed
    part; now picture and soundtrack end where the analysis ended."""
    cfg = infer_cfg(make_cfg, trained, synth_root / "videos" / "clip.mp4", "render=true", "max_frames=8")
    summary = infer(cfg)
    video_s = summary["video_seconds"]
    assert summary["frames_analysed"] == 8
    assert summary["annotated"]["seconds"] == pytest.approx(video_s, abs=0.11)  # the clip is 6 s at 10 fps
    assert summary["soundtrack"]["seconds"] == pytest.approx(video_s, abs=0.11)
