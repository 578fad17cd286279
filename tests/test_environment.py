"""The install traps from ENVIRONMENT.md fail loudly here."""

import cv2
import torch


def test_torchvision_compiled_ops_work() -> None:
    import torchvision.ops

    keep = torchvision.ops.nms(torch.tensor([[0, 0, 10, 10], [1, 1, 10, 10.0]]), torch.tensor([0.9, 0.8]), 0.5)
    assert keep.tolist() == [0]


def test_timm_and_open_clip_import() -> None:
    import open_clip
    import timm

    assert "ViT-B-32" in open_clip.list_models()
    assert "test_convnext" in timm.list_models()


def test_opencv_4_with_haar_cascades() -> None:
    from pathlib import Path

    assert int(cv2.__version__.split(".")[0]) == 4, f"OpenCV {cv2.__version__}: 5.x ships no Haar cascades"
    assert (Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml").is_file()


def test_facenet_mtcnn_and_pyav_work_on_this_stack() -> None:
    """facenet-pytorch is installed without its dependencies (it pins an old torch): its MTCNN must still run,
    and PyAV must bundle the codecs the soundtrack needs (H.264, AAC, FLAC)."""
    import av
    import numpy as np
    from facenet_pytorch import MTCNN

    boxes, _ = MTCNN(keep_all=True, device="cpu").detect(np.zeros((64, 64, 3), np.uint8))
    assert boxes is None
    for codec in ("libx264", "aac", "flac", "mp3"):
        av.codec.Codec(codec, "w")
