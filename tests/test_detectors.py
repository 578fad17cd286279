"""Face detectors: MTCNN on our torch, on real photographs (when present) and on synthetic frames; tracking;
the download-or-explain path for missing weights; the photo benchmark's scoring; the (N, 17) detection rows
(box, score, six keypoints) every detector returns, their helpers, and the face cache's format version."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from emotune.detect.detectors import (
    N_COLS,
    box_iou,
    choose_face,
    empty_dets,
    face_pose,
    five_point_keypoints,
    keypoints,
    make_dets,
    scale_dets,
    shift_dets,
)
from emotune.detect.haar import HaarFaceDetector
from emotune.detect.mtcnn import MTCNNDetector
from emotune.detect.tracking import TrackingDetector
from emotune.detect.weights import WeightFile, ensure_weights
from emotune.eval.photos import load_photos, read_manifest, score, score_detector
from emotune.utils.errors import ConfigError, DataError, MissingResourceError
from tests.helpers.configs import build
from tests.helpers.real_data import PHOTO_DIR, PHOTO_MANIFEST

photos = load_photos(PHOTO_MANIFEST, PHOTO_DIR)


def mtcnn_detector(**kw) -> MTCNNDetector:
    """conf/detector/mtcnn.yaml with ``kw`` replaced."""
    return build("detector", "mtcnn", **kw)


def haar_detector(**kw) -> HaarFaceDetector:
    """conf/detector/haar.yaml with ``kw`` replaced."""
    return build("detector", "haar", **kw)


def test_mtcnn_runs_on_this_torch_and_batches_like_single_calls(synth_root: Path) -> None:
    import cv2

    cap = cv2.VideoCapture(str(synth_root / "videos" / "clip.mp4"))
    frames = [cap.read()[1] for _ in range(8)]
    det = mtcnn_detector()
    single = [det.detect(f) for f in frames]
    batch = det.detect_batch(frames)
    assert all(len(s) == 1 for s in single)  # the clip's first second shows one clear face
    for s, b in zip(single, batch):
        np.testing.assert_allclose(s, b, atol=1e-3)
    assert det.detect(np.zeros((120, 160, 3), np.uint8)).shape == (0, N_COLS)


def test_mtcnn_leaves_torch_threads_alone(synth_root: Path) -> None:
    """torch's thread count is the process's, set at start-up (``extras.torch_threads``): a detector never changes it,
    not even for a moment (a fresh thread reads the process's count)."""
    import threading

    import cv2
    import torch

    cap = cv2.VideoCapture(str(synth_root / "videos" / "clip.mp4"))
    frame = cap.read()[1]
    before = torch.get_num_threads()
    seen: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            t = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
            t.start()
            t.join()

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        det = mtcnn_detector()
        for _ in range(3):
            det.detect(frame)
            det.detect_batch([frame, frame])
    finally:
        stop.set()
        watcher.join()
    assert torch.get_num_threads() == before and seen and set(seen) == {before}, (before, sorted(set(seen)))


@pytest.mark.skipif(not photos, reason="real photographs not fetched (make photos)")
def test_mtcnn_finds_real_people() -> None:
    """The issue's target: >= 95 % of the faces a person would mark, <= 1 false positive per 10 images."""
    mtcnn = score_detector(mtcnn_detector(), photos)
    assert mtcnn["recall"] >= 0.95, mtcnn
    assert mtcnn["false_positives_per_10_images"] <= 1.0, mtcnn
    haar = score_detector(haar_detector(), photos)
    assert haar["recall"] < mtcnn["recall"]  # why MTCNN is the default (the cascade misses turned faces)


@pytest.mark.skipif(not photos, reason="real photographs not fetched (make photos)")
def test_the_group_photograph() -> None:
    """Six people, frontal to three-quarter, 100-150 px: MTCNN finds all six."""
    group = next(img for p, img in photos if p.name == "t1.jpg")
    t1 = next(p for p in read_manifest(PHOTO_MANIFEST) if p.name == "t1.jpg")
    dets = mtcnn_detector().detect(group)
    assert score([dets], [t1]) == pytest.approx({**score([dets], [t1]), "found": 6, "false_positives": 0})


def test_photo_scoring_counts_hits_and_false_positives() -> None:
    p = read_manifest(PHOTO_MANIFEST)[0]  # six marked faces
    marked = np.array(p.faces, float)
    dets = make_dets(np.vstack([marked[:4], [0, 0, 10, 10]]), np.ones(5))  # four found, one on the background
    s = score([dets], [p])
    assert (s["found"], s["faces"], s["false_positives"]) == (4, 6, 1)


def test_tracking_with_mtcnn_looks_near_the_last_face(synth_root: Path) -> None:
    import cv2

    class Counting:
        """The wrapped detector, remembering the area of every image it was given."""

        def __init__(self, detector) -> None:
            self.detector, self.areas = detector, []
            self.name, self.max_side = detector.name, detector.max_side

        def detect(self, image):
            self.areas.append(image.shape[0] * image.shape[1])
            return self.detector.detect(image)

        def settings(self) -> dict:
            return self.detector.settings()

    cap = cv2.VideoCapture(str(synth_root / "videos" / "clip.mp4"))
    frames = [cap.read()[1] for _ in range(20)]
    full, inner = mtcnn_detector(), Counting(mtcnn_detector())
    tracked = TrackingDetector(inner)
    a = [full.detect(f) for f in frames]
    b = [tracked.detect(f) for f in frames]
    for x, y in zip(a, b):
        assert box_iou(choose_face(x)[None], choose_face(y)[None])[0, 0] > 0.6  # the same face
    frame_area = frames[0].shape[0] * frames[0].shape[1]
    full_scans = sum(area == frame_area for area in inner.areas)
    # the first frame, every full_every-th and a lost face scan it whole; the others only a window around the last
    # face (what that saves is make bench's to measure)
    assert full_scans <= len(frames) // 4, inner.areas


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
    from emotune.runtime.compose import build_detector

    monkeypatch.setattr(w, "online", lambda url, timeout=3.0: False)
    for name in ("yunet", "retinaface"):
        why = build_detector(name, tmp_path, f"paths.weights_dir={tmp_path}")
        assert isinstance(why, str) and "weights not found" in why and str(tmp_path) in why, why


# --- the (N, 17) detection rows -------------------------------------------------------------------------------


def test_row_helpers_keep_the_layout() -> None:
    assert empty_dets().shape == (0, N_COLS) == (0, 17) and empty_dets().dtype == np.float32
    five = np.array([[[10, 20], [30, 20], [20, 30], [14, 40], [26, 42]]], np.float32)  # eyes, nose, mouth corners
    kp = five_point_keypoints(five)
    np.testing.assert_allclose(kp[0, :4], [[10, 20], [30, 20], [20, 30], [20, 41]])
    assert np.isnan(kp[0, 4:]).all()  # no ears
    dets = make_dets([[5, 10, 35, 50]], [0.9], kp)
    np.testing.assert_allclose(keypoints(dets), kp)
    moved = shift_dets(scale_dets(dets, 2.0), 100, 7)
    np.testing.assert_allclose(moved[0, :5], [110, 27, 170, 107, 0.9])  # the score is neither scaled nor shifted
    np.testing.assert_allclose(keypoints(moved)[0, :4], kp[0, :4] * 2 + [100, 7])
    assert np.isnan(keypoints(moved)[0, 4:]).all()
    assert np.isnan(keypoints(make_dets([[0, 0, 1, 1]], [1.0]))).all()  # no keypoints given: NaN


def test_face_pose_roll_yaw_and_size() -> None:
    kp = np.full((3, 6, 2), np.nan, np.float32)
    kp[0, :3] = [[10, 20], [30, 20], [20, 30]]  # upright, nose centred
    kp[1, :3] = [[20, 10], [20, 30], [10, 20]]  # rolled 90 degrees
    kp[2, :3] = [[10, 20], [30, 20], [28, 30]]  # nose near the left eye: turned
    dets = make_dets([[0, 0, 40, 50]] * 3, [1, 1, 1], kp)
    pose = face_pose(dets)
    np.testing.assert_allclose(pose[:2, 0], [0, 90], atol=1e-4)
    np.testing.assert_allclose(pose[:, 1], [0, 0, 0.4], atol=1e-5)
    np.testing.assert_allclose(pose[:, 2], 50)
    assert np.isnan(face_pose(make_dets([[0, 0, 4, 4]], [1.0]))[0, :2]).all()  # Haar: no keypoints, no pose


@pytest.mark.parametrize("name", ["haar", "mtcnn", "blazeface", "yuface"])
def test_every_detector_returns_17_columns(name: str, synth_root: Path, tmp_path: Path) -> None:
    """Real photographs when present (else the synthetic clip's face): rows of 17 float32 values, the keypoints a
    detector has are finite and lie in its box, the ones it lacks are NaN."""
    import cv2

    from emotune.runtime.compose import build_detector

    det = build_detector(name, tmp_path)
    if isinstance(det, str):
        pytest.skip(det)
    images = [img for p, img in photos if p.name in ("astronaut.png", "grace_hopper.jpg")]
    if not images:
        cap = cv2.VideoCapture(str(synth_root / "videos" / "clip.mp4"))
        images = [cap.read()[1]]
    assert det.detect(np.zeros((96, 128, 3), np.uint8)).shape == (0, N_COLS)
    has = {"haar": 0, "mtcnn": 4, "blazeface": 6, "yuface": 4}[name]  # eyes, nose, mouth centre (+ ears)
    for img in images:
        dets = det.detect(img)
        assert dets.ndim == 2 and dets.shape[1] == N_COLS and dets.dtype == np.float32 and len(dets), name
        kp = keypoints(dets)
        assert np.isfinite(kp[:, :has]).all() and np.isnan(kp[:, has:]).all(), name
        if has:
            f = choose_face(dets)
            eyes_mouth = keypoints(f[None])[0, [0, 1, 3]]
            assert (f[0] - 2 <= eyes_mouth[:, 0]).all() and (eyes_mouth[:, 0] <= f[2] + 2).all(), name
            assert max(eyes_mouth[0, 1], eyes_mouth[1, 1]) < eyes_mouth[2, 1], name  # eyes above the mouth
            assert eyes_mouth[0, 0] < eyes_mouth[1, 0], name  # the person's right eye on the image's left


def test_yunet_and_retinaface_map_their_five_landmarks() -> None:
    """Their raw outputs (YuNet: box xywh, 5 landmarks, score; RetinaFace: box, score, 5 landmarks) -> 17 columns."""
    from emotune.detect.retinaface import RetinaFaceDetector
    from emotune.detect.yunet import YuNetFaceDetector

    lm = [10, 20, 30, 20, 20, 30, 14, 40, 26, 42]
    yunet = YuNetFaceDetector.__new__(YuNetFaceDetector)
    yunet._net = type(
        "Net",
        (),
        {"setInputSize": lambda self, s: None, "detect": lambda self, img: (1, np.array([[5, 10, 30, 40, *lm, 0.9]]))},
    )()
    retina = RetinaFaceDetector.__new__(RetinaFaceDetector)
    retina.conf_threshold = 0.8
    retina.net = type("Net", (), {"detect_faces": lambda self, img, t: np.array([[5, 10, 35, 50, 0.9, *lm]])})()
    yunet.max_side = retina.max_side = 640  # larger than the image: searched as it is
    for det in (yunet, retina):
        dets = det.detect(np.zeros((64, 64, 3), np.uint8))
        assert dets.shape == (1, N_COLS)
        np.testing.assert_allclose(dets[0, :5], [5, 10, 35, 50, 0.9], atol=1e-6)
        np.testing.assert_allclose(keypoints(dets)[0, :4], [[10, 20], [30, 20], [20, 30], [20, 41]])
        assert np.isnan(keypoints(dets)[0, 4:]).all()


def test_tracking_shifts_keypoints_back_to_the_frame() -> None:
    """The look near the last face runs on a window of the frame; its boxes and keypoints come back shifted."""
    kp = np.tile(np.array([[40, 40], [60, 40], [50, 50], [50, 60], [35, 45], [65, 45]], np.float32), (1, 1, 1))

    class Fake:
        name = "fake"

        def detect(self, image: np.ndarray) -> np.ndarray:  # the face at (30..70, 30..70) of whatever it is given
            return make_dets([[30, 30, 70, 70]], [0.9], kp)

        def settings(self) -> dict:
            return {"name": "fake"}

    tracked = TrackingDetector(Fake(), roi_scale=2.0)
    frame = np.zeros((400, 400, 3), np.uint8)
    first = tracked.detect(frame)  # a full scan: as the detector reports it
    second = tracked.detect(frame)  # on the window x, y in [10, 90): shifted by (10, 10)
    np.testing.assert_allclose(first[0, :4], [30, 30, 70, 70])
    np.testing.assert_allclose(second[0, :4], [40, 40, 80, 80])
    np.testing.assert_allclose(keypoints(second)[0], kp[0] + 10)


def test_an_empty_room_gets_the_quick_pass_between_full_scans() -> None:
    """While no face is in view the tracker runs the detector's quick pass, with a full scan every
    ``lost_full_every`` frames; a face the quick pass finds is then looked for near where it was."""

    class Fake:
        name, calls = "fake", []

        def __init__(self) -> None:
            self.face_from = 99  # the frame index from which a face is in view

        def _answer(self, image: np.ndarray) -> np.ndarray:
            if int(image[0, 0, 0]) >= self.face_from:
                return make_dets([[10, 10, 60, 60]], [0.9])
            return make_dets(np.zeros((0, 4)), np.zeros(0))

        def detect(self, image: np.ndarray) -> np.ndarray:
            self.calls.append("full" if image.shape[0] == 200 else "near")
            return self._answer(image)

        def detect_quick(self, image: np.ndarray) -> np.ndarray:
            self.calls.append("quick")
            return self._answer(image)

        def settings(self) -> dict:
            return {"name": "fake"}

    fake = Fake()
    tracked = TrackingDetector(fake, lost_full_every=4)
    frames = [np.full((200, 200, 3), i, np.uint8) for i in range(12)]
    for f in frames[:9]:
        assert len(tracked.detect(f)) == 0
    assert fake.calls == ["full", "quick", "quick", "quick", "full", "quick", "quick", "quick", "full"]
    fake.face_from, fake.calls = 9, []
    assert len(tracked.detect(frames[9])) == 1 and fake.calls == ["quick"]  # a large face: found at once
    tracked.detect(frames[10])
    assert fake.calls == ["quick", "near"]  # then tracked
    tracked.reset()
    fake.calls = []
    tracked.detect(frames[0])
    assert fake.calls == ["full"]  # a new video starts with a full scan
    with pytest.raises(ConfigError, match=r"perceive\.track_lost_full_every"):
        TrackingDetector(fake, lost_full_every=0)


def test_face_cache_is_rebuilt_when_the_row_format_changes(tmp_path: Path, monkeypatch) -> None:
    """A cache written in the old 5-column format (or any other format version) is not read: it is rebuilt."""
    import json

    import cv2

    import emotune.detect.cache as cache
    from emotune.utils.io import file_stamp

    img = np.full((120, 160, 3), 90, np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), img)
    haar = haar_detector()
    path = tmp_path / "c" / f"faces_haar_{cache.detector_key(haar)}.json"
    path.parent.mkdir()
    stale = {"stamp": file_stamp(tmp_path / "a.png"), "boxes": [[1, 2, 3, 4, 0.5]]}
    path.write_text(json.dumps({"settings": haar.settings(), "images": {"a.png": stale}}))  # format 1: no version
    boxes = cache.build_face_cache(["a.png"], tmp_path, haar, tmp_path / "c", progress=False)
    assert boxes == {"a.png": []}  # detected again (a flat grey image has no face), not the stale 5-column row
    assert json.loads(path.read_text())["settings"]["dets_format"] == cache.DETS_FORMAT
    monkeypatch.setattr(cache, "DETS_FORMAT", cache.DETS_FORMAT + 1)
    assert cache.detector_key(haar) != path.stem.split("_")[-1]  # a new format: a new file name too


def test_yuface_missing_says_which_package(monkeypatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "yuface", None)
    with pytest.raises(MissingResourceError) as exc:
        build("detector", "yuface")
    assert "yuface" in str(exc.value) and "pip install" in str(exc.value) and "\n" not in str(exc.value)


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
