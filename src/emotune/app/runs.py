"""Run folders (built in ``.staging/``, renamed when complete, removed on failure) and checks of an upload.

A run folder's name is a time stamp and a random suffix; an uploaded file's own name is never used as a path.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import av

from emotune.audio.io import AUDIO_SUFFIXES
from emotune.media.video import VIDEO_SUFFIXES
from emotune.utils.errors import DataError

log = logging.getLogger(__name__)


class Cancelled(Exception):  # noqa: N818 (not an error: the user stopped the run)
    """The user cancelled the run (raised from inside the decoder, so the chain stops at the next frame)."""


class StagedRun:
    """A run folder in ``<root>/.staging/<id>``: :meth:`commit` renames it to ``<root>/<id>``, :meth:`discard`
    removes it. Use it as a context manager: leaving the block with an exception discards it."""

    def __init__(self, root: Path) -> None:
        self.id = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
        self.root = Path(root)
        self.path = self.root / ".staging" / self.id
        self.path.mkdir(parents=True)
        self.final: Path | None = None

    def commit(self) -> Path:
        """Move the complete run to its final folder and return it."""
        final = self.root / self.id
        os.replace(self.path, final)
        self.final = final
        return final

    def discard(self) -> None:
        """Remove the half-built run."""
        shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self) -> StagedRun:
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is not None or self.final is None:
            self.discard()


def clean_staging(root: Path, older_than_s: float = 86400.0) -> int:
    """Remove staging folders a crashed server left (older than ``older_than_s``; others may be in use)."""
    staging, n = Path(root) / ".staging", 0
    if staging.is_dir():
        for d in staging.iterdir():
            if time.time() - d.stat().st_mtime > older_than_s:
                shutil.rmtree(d, ignore_errors=True)
                n += 1
    return n


def check_upload(path: str | os.PathLike | None, max_bytes: int) -> Path:
    """The uploaded file, or a :class:`DataError` that says what is wrong with it and what to do."""
    if path is None or not str(path).strip():
        raise DataError("no video file: choose one (mp4, mov, avi, mkv, webm) above, or use the Webcam tab.")
    p = Path(path)
    if not p.is_file():
        raise DataError("the upload did not arrive (no file on the server); choose the file again.")
    size = p.stat().st_size
    if size == 0:
        raise DataError("the uploaded file is empty (0 bytes); choose a video file.")
    if size > max_bytes:
        raise DataError(
            f"the uploaded file is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit "
            "(server.max_upload_mb in conf/app.yaml); cut the clip or raise the limit."
        )
    probe_video(p)
    return p


def probe_video(path: Path) -> None:
    """Refuse a file with no video stream (PyAV reads the container, whatever the file is called)."""
    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                raise DataError("the uploaded file has no video stream (audio only?); choose a video file.")
    except DataError:
        raise
    except Exception:  # FFmpeg raises many types on a foreign file
        raise DataError(
            "the uploaded file is not a video FFmpeg can read (corrupt, or another kind of file); "
            "choose an mp4, mov, avi, mkv or webm file."
        ) from None


def link_input(src: Path, run_dir: Path, original_name: str = "") -> Path:
    """The upload inside the run folder as ``input<ext>`` (hard link when possible, else a copy)."""
    ext = Path(original_name or src.name).suffix.lower()
    dst = run_dir / f"input{ext if ext in VIDEO_SUFFIXES else '.video'}"
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)
    return dst


def copy_song_audio(songs: list[dict[str, Any]], run_dir: Path, limit: int) -> list[Path | None]:
    """Copy each song's audio file (the first ``limit`` songs that have one) into ``run_dir/audio`` so the page
    serves only files of its own run folders; ``None`` for a song without audio."""
    out: list[Path | None] = []
    copied = 0
    for i, s in enumerate(songs, 1):
        src = Path(s.get("path") or "")
        if copied >= limit or not s.get("path") or not src.is_file() or src.suffix.lower() not in AUDIO_SUFFIXES:
            out.append(None)
            continue
        safe_id = re.sub(r"[^A-Za-z0-9_-]", "_", str(s["song_id"]))[:40]
        dst = run_dir / "audio" / f"{i:02d}_{safe_id}{src.suffix.lower()}"
        dst.parent.mkdir(exist_ok=True)
        shutil.copyfile(src, dst)
        out.append(dst)
        copied += 1
    return out
