"""Detector weight files: used from ``paths.weights_dir``; fetched once (hash-checked) when missing and online;
offline, one line says where to get the file and where to put it."""

from __future__ import annotations

import hashlib
import logging
import socket
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from emotune.utils.errors import DataError, MissingResourceError
from emotune.utils.io import atomic_path, file_lock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WeightFile:
    """A published weight file with its pinned SHA-256."""

    what: str
    filename: str
    url: str
    sha256: str | None  # None: no pinned hash known, so it is never downloaded automatically
    size: int | None = None


KNOWN_WEIGHTS = {
    "yunet": WeightFile(
        "YuNet face detector (OpenCV zoo, MIT)",
        "face_detection_yunet_2023mar.onnx",
        "https://huggingface.co/opencv/face_detection_yunet/resolve/main/face_detection_yunet_2023mar.onnx",
        "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
        232_589,
    ),
    "retinaface_mobile0.25": WeightFile(
        "RetinaFace mobile0.25 (Pytorch_Retinaface, MIT)",
        "mobilenet0.25_Final.pth",
        "https://huggingface.co/py-feat/retinaface/resolve/main/mobilenet0.25_Final.pth",
        "2979b33ffafda5d74b6948cd7a5b9a7a62f62b949cef24e95fd15d2883a65220",
        1_789_735,
    ),
    "retinaface_resnet50": WeightFile(
        "RetinaFace resnet50 (Pytorch_Retinaface, MIT)",
        "Resnet50_Final.pth",
        "https://github.com/xinntao/facexlib/releases/download/v0.1.0/detection_Resnet50_Final.pth",
        None,
    ),
}


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def online(url: str, timeout: float = 3.0) -> bool:
    """Whether the URL's host answers on its port."""
    u = urlparse(url)
    try:
        socket.create_connection((u.hostname, u.port or 443), timeout=timeout).close()
    except OSError:
        return False
    return True


def ensure_weights(path: str | Path, spec: WeightFile, key: str) -> Path:
    """``path`` when it exists; else download ``spec`` there once (checking its hash) or explain how to get it.

    Args:
        path: where the file should be (``paths.weights_dir/<file>`` by default).
        spec: what the file is and where it is published.
        key: the config key that sets the path (named in the message).
    """
    path = Path(path)
    if path.is_file():
        return path
    how = f"download {spec.url}" + (f" (sha256 {spec.sha256[:12]}...)" if spec.sha256 else "")
    if spec.sha256 is None or not online(spec.url):
        raise MissingResourceError(
            f"{spec.what} weights not found at {path}. On a machine with internet, {how} and put it at {path} "
            f"(or set {key}=/path/to/{spec.filename})."
        )
    with file_lock(path):
        if path.is_file():  # another process fetched it meanwhile
            return path
        log.warning("Downloading %s to %s", spec.what, path)
        with atomic_path(path) as tmp:
            try:
                urllib.request.urlretrieve(spec.url, tmp)
            except OSError as exc:
                raise MissingResourceError(f"Could not download {spec.url} ({exc}); {how} by hand to {path}.") from None
            got = sha256_of(tmp)
            if got != spec.sha256:
                raise DataError(f"{spec.url} has sha256 {got[:12]}..., expected {spec.sha256[:12]}...; not using it.")
    return path
