"""The embedded synthetic data: real formats, determinism, detectability, video ground truth."""

from pathlib import Path

import cv2
import pandas as pd

from emotune.data.findingemo import read_annotations
from emotune.detect.cache import build_face_cache, detection_rate
from emotune.detect.detectors import HaarFaceDetector


def test_findingemo_format_and_splits(synth_root: Path) -> None:
    root = synth_root / "findingemo"
    df = read_annotations(root / "annotations_single.ann")
    assert len(df) == 144 and df["valence"].between(-3, 3).all() and df["arousal"].between(0, 6).all()
    assert df["image_path"].str.startswith("/Run_").all() and df["image_path"].str.contains(" ").all()
    split = pd.read_csv(root / "splits.csv")
    assert set(split["split"]) == {"train", "val", "test", "test_shifted"}
    assert (split["split"] == "test_shifted").sum() == 24
    assert (df["tags"].map(lambda t: "NoPeople" in t)).any()


def test_generation_is_deterministic(tmp_path: Path) -> None:
    from emotune.synthetic.findingemo_like import SyntheticSpec, generate

    a = generate(tmp_path / "a", SyntheticSpec(n_images=10, n_shifted=2, seed=7), progress=False)
    b = generate(tmp_path / "b", SyntheticSpec(n_images=10, n_shifted=2, seed=7), progress=False)
    assert a.drop(columns=[]).equals(b)
    assert (tmp_path / "a/annotations_single.ann").read_bytes() == (
        tmp_path / "b/annotations_single.ann"
    ).read_bytes()


def test_haar_finds_the_drawn_faces(synth_root: Path, tmp_path: Path) -> None:
    root = synth_root / "findingemo"
    df = read_annotations(root / "annotations_single.ann")
    boxes = build_face_cache(
        df["image_path"].tolist(), root / "images", HaarFaceDetector(), tmp_path, progress=False
    )
    rate = detection_rate(boxes, root / "faces_truth.csv")
    assert rate["recall"] >= 0.9, rate


def test_face_cache_rebuilds_when_settings_change(synth_root: Path, tmp_path: Path) -> None:
    root = synth_root / "findingemo"
    paths = read_annotations(root / "annotations_single.ann")["image_path"].tolist()[:5]
    build_face_cache(paths, root / "images", HaarFaceDetector(), tmp_path, progress=False)
    build_face_cache(paths, root / "images", HaarFaceDetector(min_neighbors=6), tmp_path, progress=False)
    assert len(list(tmp_path.glob("faces_haar_*.json"))) == 2


def test_video_and_ground_truth(synth_root: Path) -> None:
    video = synth_root / "videos" / "clip.mp4"
    cap = cv2.VideoCapture(str(video))
    assert cap.get(cv2.CAP_PROP_FPS) == 10 and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 60
    gt = pd.read_csv(video.with_suffix(".va.csv"))
    assert list(gt.columns) == ["t_s", "valence", "arousal", "face"] and len(gt) == 60
    assert gt["valence"].iloc[0] == 2 and gt["valence"].iloc[-1] == -2 and gt["face"].iloc[-1] == 0
