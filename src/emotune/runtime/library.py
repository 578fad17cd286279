"""Your music library as a catalogue: ``make library MUSIC=DIR OUT=songs.csv``.

``python -m emotune.runtime.library DIR --out songs.csv [--ckpt music.ckpt] [--workers N]``

Scans ``DIR`` recursively for mp3/ogg/flac/wav/m4a, reads title, artist, album, genre and duration from the tags
(the file name when there are none), predicts each song's V-A and σ from a 30-second excerpt around its middle,
and writes a plain CSV catalogue (header first, its scale in a ``scale`` column) that ``python infer.py
catalog=csv catalog.path=songs.csv`` reads with no other flag. The default model is the packaged labeller
trained on real recordings (:mod:`emotune.models.music_weights`); ``--ckpt`` takes any music-phase checkpoint.
Decoding and descriptors run in ``--workers`` loader processes. Reruns skip unchanged files; unreadable files are
counted and listed, never fatal; other files are ignored.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from emotune.audio.descriptors import one_thread
from emotune.audio.io import AUDIO_SUFFIXES, audio_duration, decode_excerpt
from emotune.data.catalog import Catalog, write_csv_catalog
from emotune.utils.cli import exit_on_user_error
from emotune.utils.errors import DataError, MissingResourceError
from emotune.utils.io import file_stamp, write_json_atomic
from emotune.utils.scales import REFERENCE

log = logging.getLogger("emotune.library")
EXCERPT_S = 30.0
MIN_AUDIO_S = 1.0  # a file that decodes to less than this is listed as unreadable (truncated, not music)


def read_tags(path: Path) -> dict[str, Any]:
    """Title, artist, album, genre (strings, maybe empty) and duration from the file's tags (mutagen)."""
    import mutagen

    tags: dict[str, Any] = {"title": "", "artist": "", "album": "", "genre": "", "duration_s": np.nan}
    try:
        f = mutagen.File(path, easy=True)
    except Exception:  # mutagen raises its own error types on damaged headers
        f = None
    if f is not None:
        for key in ("title", "artist", "album", "genre"):
            values = f.get(key) if hasattr(f, "get") else None
            if values:
                tags[key] = str(values[0]).strip()
        info: Any = getattr(f, "info", None)  # mutagen declares FileType.info as None (set by each format)
        if info is not None and getattr(info, "length", None):
            tags["duration_s"] = float(info.length)
    if not tags["title"]:
        tags["title"] = path.stem.replace("_", " ")
    if not np.isfinite(tags["duration_s"]):
        tags["duration_s"] = audio_duration(path) or np.nan
    return tags


def scan(folder: Path) -> list[Path]:
    """Audio files under ``folder`` (recursive, sorted)."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)


def _prepare(job: tuple[str, dict]) -> tuple[dict[str, Any] | None, np.ndarray | None, str | None]:
    """In a worker: tags and the model's input (descriptors, or the excerpt itself) of one file, or an error."""
    from emotune.audio.descriptors import describe

    path, cfg = Path(job[0]), job[1]
    try:
        tags = read_tags(path)
        sr = int(cfg["sample_rate"])
        audio = decode_excerpt(path, sr, EXCERPT_S, tags["duration_s"])
        if len(audio) < MIN_AUDIO_S * sr:
            raise DataError(f"{path} holds only {len(audio) / sr:.2f} s of audio (truncated?).")
        x = describe(audio, cfg) if cfg.get("kind") == "descriptors" else audio
        return tags, x, None
    except DataError as exc:
        return None, None, str(exc).splitlines()[0]


class _Songs(Dataset):
    """The files to label, prepared by :func:`_prepare` in the loader's worker processes."""

    def __init__(self, jobs: list[tuple[str, dict]]) -> None:
        self.jobs = jobs

    def __len__(self) -> int:
        return len(self.jobs)

    def __getitem__(self, i: int) -> tuple:
        return _prepare(self.jobs[i])


def _as_is(item: Any) -> Any:  # batch_size=None: the loader hands it single items, not lists
    return item


def _prepared(jobs: list[tuple[str, dict]], workers: int, progress: bool) -> Iterator[tuple]:
    """:func:`_prepare` over ``jobs`` in order, in ``workers`` processes (torch's DataLoader: one thread each)."""
    workers = workers if len(jobs) >= 2 * workers else 0  # a handful of files is not worth starting processes
    loader = DataLoader(_Songs(jobs), batch_size=None, num_workers=workers, collate_fn=_as_is)
    yield from tqdm(loader, total=len(jobs), desc="label songs", unit="song", disable=not progress)


def _model_key(ckpt: Path) -> str:
    from emotune.models.music_weights import checkpoint_digest

    return f"{ckpt.resolve()}|{checkpoint_digest(ckpt)}"


def label_folder(
    music: Path, out: Path, ckpt: Path | None = None, progress: bool = True, workers: int | None = None
) -> dict[str, Any]:
    """Label every audio file under ``music`` into the catalogue ``out``; returns the counts.

    Args:
        ckpt: a music-phase checkpoint; ``None``: the packaged default labeller.
        workers: processes that decode and describe (``None``: the machine's cores, at most 8).
    """
    from emotune.models.loading import load_phase_module
    from emotune.models.music_weights import default_music_checkpoint

    if not music.is_dir():
        raise MissingResourceError(f"MUSIC={music} is not a folder; give the folder that holds your audio files.")
    ckpt = Path(ckpt) if ckpt else default_music_checkpoint()
    if not ckpt.is_file():
        raise MissingResourceError(
            f"No music model at {ckpt}: pass --ckpt a music-phase checkpoint (`python train.py phase=music`)."
        )
    model = load_phase_module(ckpt, "music")
    cfg = model.data_config
    state_path = out.with_name(out.name + ".state.json")
    state = json.loads(state_path.read_text()) if state_path.is_file() else {}
    if state.get("model") != _model_key(ckpt):
        state = {"model": _model_key(ckpt), "songs": {}}  # another model: label everything again
    files = scan(music)
    rows: list[dict[str, Any]] = []
    errors: dict[str, str] = {}
    todo: list[tuple[Path, str, str]] = []
    for path in files:
        rel, stamp = str(path.relative_to(music)), file_stamp(path)
        known = state["songs"].get(rel)
        if known is not None and known.get("stamp") == stamp:
            rows.append(known["row"])
        else:
            todo.append((path, rel, stamp))
    reused = len(rows)
    workers = min(os.cpu_count() or 1, 8) if workers is None else max(0, workers)
    pending: list[tuple[str, str, dict, np.ndarray]] = []

    def flush() -> None:
        if not pending:
            return
        if model.kind == "descriptors":
            mean, var = model.predict_inputs(torch.from_numpy(np.stack([p[3] for p in pending])))
        else:
            preds = [model.predict_audio(p[3]) for p in pending]
            mean, var = np.stack([m for m, _ in preds]), np.stack([v for _, v in preds])
        for (rel, stamp, tags, _), m, v in zip(pending, np.clip(mean, -1, 1), var):
            row = {
                "song_id": hashlib.sha1(rel.encode()).hexdigest()[:12],
                "valence": round(float(m[0]), 4),
                "arousal": round(float(m[1]), 4),
                "valence_sd": round(float(np.sqrt(v[0])), 4),
                "arousal_sd": round(float(np.sqrt(v[1])), 4),
                **tags,
                "path": str((music / rel).resolve()),
            }
            rows.append(row)
            state["songs"][rel] = {"stamp": stamp, "row": row}
        pending.clear()

    jobs = [(str(p), cfg) for p, _, _ in todo]
    # Descriptors are many small ops: one thread each (the loader's workers too); a log-mel network keeps torch's pool.
    with one_thread() if model.kind == "descriptors" else contextlib.nullcontext():
        for (_, rel, stamp), (tags, x, err) in zip(todo, _prepared(jobs, workers, progress)):
            if err is not None:
                errors[rel] = err
                continue
            pending.append((rel, stamp, tags, x))
            if len(pending) >= 64:
                flush()
        flush()
    if not rows:
        raise DataError(
            f"No readable audio file ({', '.join(AUDIO_SUFFIXES)}) under {music}"
            + (f"; {len(errors)} unreadable" if errors else "")
            + "."
        )
    songs = pd.DataFrame(rows).sort_values("path", kind="stable").reset_index(drop=True)
    write_csv_catalog(Catalog(songs, REFERENCE, name=out.stem), out, extra_columns=("valence_sd", "arousal_sd"))
    state["songs"] = {k: v for k, v in state["songs"].items() if (music / k).is_file()}
    write_json_atomic(state_path, state)
    return {
        "files": len(files),
        "labelled": len(rows) - reused,
        "unchanged": reused,
        "unreadable": len(errors),
        "errors": errors,
        "catalog": str(out),
        "model": str(ckpt),
    }


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    """CLI."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("music", type=Path, help="folder with your audio files (searched recursively)")
    ap.add_argument("--out", type=Path, default=Path("songs.csv"))
    ap.add_argument("--ckpt", type=Path, default=None, help="music-phase checkpoint (default: the packaged labeller)")
    ap.add_argument("--workers", type=int, default=None, help="decoding processes (default: cores, at most 8)")
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    rep = label_folder(args.music, args.out, args.ckpt, workers=args.workers)
    print(
        f"{rep['labelled']} songs labelled, {rep['unchanged']} unchanged, {rep['unreadable']} unreadable "
        f"-> {rep['catalog']} (model: {rep['model']})"
    )
    for rel, err in rep["errors"].items():
        print(f"  unreadable: {rel}: {err}", file=sys.stderr)
    print(f"Use it: python infer.py video=clip.mp4 ckpt.dir=outputs/demo catalog=csv catalog.path={rep['catalog']}")


if __name__ == "__main__":
    main()
