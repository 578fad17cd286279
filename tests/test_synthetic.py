"""The embedded benchmark: real formats, FindingEmo-like labels, determinism, faces real detectors find,
songs with audio, video ground truth."""

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from emotune.data.findingemo import read_annotations
from emotune.detect.cache import build_face_cache, detection_rate
from emotune.synthetic.benchmark import js_divergence, label_histogram
from emotune.synthetic.findingemo_like import SyntheticSpec, generate, real_label_rows, sample_labels

from .helpers.configs import build


def test_findingemo_format_and_splits(synth_root: Path) -> None:
    root = synth_root / "findingemo"
    df = read_annotations(root / "annotations_single.ann")
    assert len(df) == 144 and df["valence"].between(-3, 3).all() and df["arousal"].between(0, 6).all()
    assert df["image_path"].str.startswith("/Run_").all() and df["image_path"].str.contains(" ").all()
    assert df["ambiguity"].between(0, 6).all()
    split = pd.read_csv(root / "splits.csv")
    assert set(split["split"]) == {"train", "val", "test", "test_shifted"}
    assert (split["split"] == "test_shifted").sum() == 24


def test_labels_follow_the_real_joint_distribution_with_noise_growing_with_ambiguity() -> None:
    real = real_label_rows()
    spec = SyntheticSpec()
    labels, latent = sample_labels(np.random.default_rng(0), real, 20_000, spec)
    df = pd.DataFrame(labels, columns=["valence", "arousal", "ambiguity"])
    assert js_divergence(label_histogram(df), label_histogram(real)) < 0.01
    # a skewed histogram is far: the measure can fail
    assert js_divergence(label_histogram(df[df["valence"] > 0]), label_histogram(real)) > 0.1
    err = labels[:, :2] - latent
    sd = [np.sqrt((err[labels[:, 2] == a] ** 2).mean()) for a in range(7)]
    assert np.all(np.diff(sd) > 0) and sd[0] < 0.4 and sd[6] > 1.0, sd


def test_generation_is_deterministic(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", SyntheticSpec(n_images=10, n_shifted=2, seed=7), progress=False)
    b = generate(tmp_path / "b", SyntheticSpec(n_images=10, n_shifted=2, seed=7), progress=False)
    assert a.equals(b)
    assert (tmp_path / "a/annotations_single.ann").read_bytes() == (tmp_path / "b/annotations_single.ann").read_bytes()
    assert (tmp_path / "a/images").rglob("*.jpg")


def _faces(rng: np.random.Generator, look, n: int = 24, height: float = 48.0) -> tuple[list, list]:
    from emotune.synthetic.drawing import FaceStyle, add_noise, draw_context, draw_face

    imgs, boxes = [], []
    for _ in range(n):
        img = draw_context(160, 160, rng.uniform(-1, 1), rng.uniform(-1, 1), rng)
        boxes.append(
            draw_face(
                img,
                80 + rng.uniform(-10, 10),
                80,
                height,
                rng.uniform(-1, 1),
                rng.uniform(-1, 1),
                FaceStyle.random(rng),
                rng.uniform(-6, 6),
                look,
            )
        )
        imgs.append(add_noise(img, rng, 4))
    return imgs, boxes


def _hit_rate(detector, imgs: list, boxes: list) -> float:
    hits = 0
    for img, (x, y, w, h) in zip(imgs, boxes):
        d = detector.detect(img)
        hits += any(
            abs((b[0] + b[2]) / 2 - (x + w / 2)) < w / 2 and abs((b[1] + b[3]) / 2 - (y + h / 2)) < h / 2 for b in d
        )
    return hits / len(imgs)


def test_real_face_detectors_find_clear_drawn_faces_and_miss_hidden_ones() -> None:
    from emotune.synthetic.drawing import FaceLook

    rng = np.random.default_rng(0)
    mtcnn = build("detector", "mtcnn")
    clear = _faces(rng, FaceLook())
    assert _hit_rate(mtcnn, *clear) >= 0.9
    assert _hit_rate(build("detector", "haar"), *clear) >= 0.5
    hidden = _faces(rng, FaceLook(occlusion=1.0, blur=6.0))  # covered to the brows and blurred
    assert _hit_rate(mtcnn, *hidden) <= 0.5


def test_detection_rate_counts_visible_main_faces(synth_root: Path, tmp_path: Path) -> None:
    root = synth_root / "findingemo"
    df = read_annotations(root / "annotations_single.ann")
    boxes = build_face_cache(
        df["image_path"].tolist(), root / "images", build("detector", "haar"), tmp_path, progress=False
    )
    rate = detection_rate(boxes, root / "faces_truth.csv")
    truth = pd.read_csv(root / "faces_truth.csv")
    assert rate["images_with_face"] == int((truth["main"] & truth["visible"]).sum())
    assert 0 < rate["found"] <= rate["images_with_face"]


def test_face_cache_rebuilds_when_settings_change(synth_root: Path, tmp_path: Path) -> None:
    root = synth_root / "findingemo"
    paths = read_annotations(root / "annotations_single.ann")["image_path"].tolist()[:5]
    build_face_cache(paths, root / "images", build("detector", "haar"), tmp_path, progress=False)
    build_face_cache(paths, root / "images", build("detector", "haar", min_neighbors=6), tmp_path, progress=False)
    assert len(list(tmp_path.glob("faces_haar_*.json"))) == 2


def test_video_and_ground_truth(synth_root: Path) -> None:
    video = synth_root / "videos" / "clip.mp4"
    cap = cv2.VideoCapture(str(video))
    assert cap.get(cv2.CAP_PROP_FPS) == 10 and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 60
    gt = pd.read_csv(video.with_suffix(".va.csv"))
    assert list(gt.columns)[:4] == ["t_s", "valence", "arousal", "face"] and len(gt) == 60
    assert {"occlusion", "blur", "yaw"} <= set(gt.columns)
    assert gt["valence"].iloc[0] == 2 and gt["valence"].iloc[-1] == -2 and gt["face"].iloc[-1] == 0


def test_synthetic_songs_have_audio_that_carries_their_mood(synth_root: Path) -> None:
    from emotune.audio.io import decode_audio
    from emotune.data.deam import load_deam
    from emotune.synthetic.music import synth_song

    cat = load_deam(synth_root / "deam")
    assert cat.songs["path"].astype(bool).all() and cat.songs["path"].str.endswith(".flac").all()
    audio = decode_audio(cat.songs["path"].iloc[0], 16000)
    assert 1.0 < len(audio) / 16000 < 8.0 and np.abs(audio).max() > 0.05
    calm, excited = synth_song(0.5, -0.9, seed=1), synth_song(0.5, 0.9, seed=1)
    assert len(excited) < len(calm)  # faster tempo: a shorter bar
    assert np.sqrt((excited**2).mean()) > 1.5 * np.sqrt((calm**2).mean())  # louder


@pytest.mark.parametrize("bad, match", [(["n_images=0"], "n_images=0"), (["n_songs=3"], "n_songs=3")])
def test_synthetic_cli_rejects_bad_sizes(tmp_path: Path, bad: list[str], match: str, capsys) -> None:
    from emotune.runtime.synthetic_data import main

    with pytest.raises(SystemExit) as exc:
        main([f"root={tmp_path}", *bad])
    assert exc.value.code == 2 and match in capsys.readouterr().err
