"""Atomic writes, locks and safe path joins: a killed run never leaves a half-written file."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from filelock import FileLock

from emotune.utils.errors import DataError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    The temporary file is created with mode ``0o666``, which the kernel masks with the process umask, so the output
    gets the permissions any new file gets (the umask is never read or changed here: it is process-wide state).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = _new_file(path)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _new_file(path: Path) -> Path:
    """A new empty file beside ``path`` (``O_EXCL``: never someone else's), the real suffix last: writers such as
    ``cv2.VideoWriter`` pick the container from it."""
    for _ in range(100):
        tmp = path.parent / f".{path.stem}.{secrets.token_hex(6)}.tmp{path.suffix}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"no free temporary name beside {path}")


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json_atomic(path: str | os.PathLike, obj: Any, indent: int = 2) -> Path:
    """Write ``obj`` as JSON atomically (NaN written as null)."""
    return write_text_atomic(path, json.dumps(_json_safe(obj), indent=indent) + "\n")


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 0) == 0:
        obj = obj.item()
    if isinstance(obj, float) and obj != obj:
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def file_lock(path: str | os.PathLike, timeout: float = -1) -> FileLock:
    """An inter-process lock next to ``path`` (``<path>.lock``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path) + ".lock", timeout=timeout)


def safe_join(root: str | os.PathLike, rel: str) -> Path:
    """Join a path read from a data file under ``root``; refuse any path that escapes it.

    A leading ``/`` (FindingEmo's ``image_path`` style) is treated as relative to ``root``.
    """
    root_p = Path(root).resolve()
    rel_clean = str(rel).replace("\\", "/").lstrip("/")
    candidate = (root_p / rel_clean).resolve()
    if candidate != root_p and root_p not in candidate.parents:
        raise DataError(f"Path {rel!r} leaves its root folder {root_p}; refusing it. Fix the data file.")
    return candidate


def file_stamp(path: str | os.PathLike) -> str:
    """A file's version for cache keys: ``size:mtime_ns`` (``missing`` when it does not exist)."""
    try:
        st = Path(path).stat()
    except OSError:
        return "missing"
    return f"{st.st_size}:{int(st.st_mtime_ns)}"
