"""Your music library as a catalogue: ``make library MUSIC=DIR OUT=songs.csv [CKPT=...] [WRITE_TAGS=1]``.

``python -m emotune.runtime.library music=DIR [out=songs.csv] [ckpt=FILE] [write_tags=true] [key=value ...]``
(settings: ``conf/library.yaml``).

Scans ``music`` recursively for audio files (:data:`emotune.audio.io.AUDIO_SUFFIXES`), reads title, artist, album,
genre and duration from the tags (the file name when there are none), predicts each song's V-A and σ from a
30-second excerpt around its middle, and writes a plain CSV catalogue (header first, its scale in a ``scale``
column) that ``python infer.py catalog=csv catalog.path=songs.csv`` reads with no other flag. The default model is
the packaged labeller (:mod:`emotune.models.music_weights`); ``ckpt`` takes any music-phase checkpoint. Decoding
and the model's input run in ``workers`` loader processes. Reruns skip unchanged files; unreadable files are counted
and listed, never fatal; other files are ignored. Labels are reproducible: a file gets the same values on every run,
whatever else is in the folder. ``write_tags=true`` also writes valence, arousal and a mood word into each file's
tags (:mod:`emotune.audio.tags`: atomic, the audio stream untouched; a file that cannot be tagged is listed).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig

from emotune.audio.io import AUDIO_SUFFIXES
from emotune.audio.tags import mood_word, write_mood_tags
from emotune.data.catalog import Catalog, write_csv_catalog
from emotune.runtime.song_jobs import prepared
from emotune.utils.command import command
from emotune.utils.errors import DataError, MissingResourceError
from emotune.utils.io import file_stamp, write_json_atomic
from emotune.utils.process import start_up
from emotune.utils.scales import REFERENCE

log = logging.getLogger("emotune.library")
BATCH = 16  # songs predicted together (the musicnn network runs their patches in one pass)
Progress = Callable[[int, int, str], None]  # (done, total, what) -> None


def scan(folder: Path) -> list[Path]:
    """Audio files under ``folder`` (recursive, sorted)."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)


def _model_key(ckpt: Path) -> str:
    from emotune.models.music_weights import checkpoint_digest

    return f"{ckpt.resolve()}|{checkpoint_digest(ckpt)}"


def _row(rel: str, music: Path, tags: dict[str, Any], mean: np.ndarray, var: np.ndarray) -> dict[str, Any]:
    v, a = float(np.clip(mean[0], -1, 1)), float(np.clip(mean[1], -1, 1))
    return {
        "song_id": hashlib.sha1(rel.encode()).hexdigest()[:12],
        "valence": round(v, 4),
        "arousal": round(a, 4),
        "valence_sd": round(float(np.sqrt(var[0])), 4),
        "arousal_sd": round(float(np.sqrt(var[1])), 4),
        "mood": mood_word(v, a),
        **tags,
        "path": str((music / rel).resolve()),
    }


def label_folder(
    music: Path,
    out: Path,
    ckpt: Path | None = None,
    progress: bool = True,
    workers: int | None = None,
    write_tags: bool = False,
    on_progress: Progress | None = None,
) -> dict[str, Any]:
    """Label every audio file under ``music`` into the catalogue ``out``; returns the counts.

    Args:
        ckpt: a music-phase checkpoint; ``None``: the packaged default labeller.
        workers: processes that decode (``None``: the machine's cores, at most 8).
        write_tags: also write the mood into each file's tags.
        on_progress: called with ``(done, total, what)`` as files are labelled (and tagged).
    """
    from emotune.models.loading import load_phase_module
    from emotune.models.music_weights import default_music_checkpoint

    music, out = Path(music), Path(out)
    if not music.is_dir():
        raise MissingResourceError(f"music={music} is not a folder; give the folder that holds your audio files.")
    ckpt = Path(ckpt) if ckpt else default_music_checkpoint()
    if not ckpt.is_file():
        raise MissingResourceError(f"No music model at {ckpt}: give ckpt=a music-phase checkpoint.")
    model = load_phase_module(ckpt, "music")
    state_path = out.with_name(out.name + ".state.json")
    state = json.loads(state_path.read_text()) if state_path.is_file() else {}
    if state.get("model") != _model_key(ckpt):
        state = {"model": _model_key(ckpt), "songs": {}}  # another model: label everything again
    files = scan(music)
    rows: dict[str, dict[str, Any]] = {}
    todo: list[tuple[Path, str, str]] = []
    for path in files:
        rel, stamp = str(path.relative_to(music)), file_stamp(path)
        known = state["songs"].get(rel)
        if known is not None and known.get("stamp") == stamp:
            rows[rel] = known["row"]
        else:
            todo.append((path, rel, stamp))
    reused = len(rows)
    report = (lambda i, what: on_progress(i, len(files), what)) if on_progress else (lambda i, what: None)
    report(reused, "unchanged files kept")
    workers = min(os.cpu_count() or 1, 8) if workers is None else max(0, workers)
    errors: dict[str, str] = {}
    pending: list[tuple[str, str, dict, np.ndarray]] = []

    def flush() -> None:
        if pending:
            if model.kind == "log_mel":  # windows of each song's excerpt
                preds = [model.predict_audio(p[3]) for p in pending]
                mean, var = np.stack([m for m, _ in preds]), np.stack([v for _, v in preds])
            elif model.kind == "musicnn":  # the workers computed the song vectors
                mean, var = model.predict_vectors(torch.from_numpy(np.stack([p[3] for p in pending])))
            else:
                mean, var = model.predict_inputs(torch.from_numpy(np.stack([p[3] for p in pending])))
            for (rel, stamp, tags, _), m, v in zip(pending, mean, var):
                rows[rel] = _row(rel, music, tags, m, v)
                state["songs"][rel] = {"stamp": stamp, "row": rows[rel]}
            pending.clear()

    cfg = model.data_config
    for i, ((_, rel, stamp), item) in enumerate(zip(todo, prepared([str(p) for p, _, _ in todo], cfg, workers,
                                                                   progress=progress))):  # fmt: skip
        if item.error is not None or item.x is None or item.tags is None:
            errors[rel] = item.error or "not readable"
        else:
            pending.append((rel, stamp, item.tags, item.x))
            if len(pending) >= BATCH:
                flush()
        report(reused + i + 1, "labelling")
    flush()
    if not rows:
        raise DataError(
            f"No readable audio file ({', '.join(AUDIO_SUFFIXES)}) under {music}"
            + (f"; {len(errors)} unreadable" if errors else "")
            + "."
        )
    tagged, tag_errors = _write_tags(music, rows, state, report) if write_tags else (0, {})
    songs = pd.DataFrame(list(rows.values())).sort_values("path", kind="stable").reset_index(drop=True)
    write_csv_catalog(Catalog(songs, REFERENCE, name=out.stem), out, extra_columns=("valence_sd", "arousal_sd", "mood"))
    state["songs"] = {k: v for k, v in state["songs"].items() if (music / k).is_file()}
    write_json_atomic(state_path, state)
    return {
        "files": len(files),
        "labelled": len(rows) - reused,
        "unchanged": reused,
        "unreadable": len(errors),
        "errors": errors,
        "tagged": tagged,
        "untaggable": tag_errors,
        "catalog": str(out),
        "model": str(ckpt),
    }


def _write_tags(
    music: Path, rows: dict[str, dict[str, Any]], state: dict, report: Callable[[int, str], None]
) -> tuple[int, dict[str, str]]:
    """Write each labelled file's mood into its tags and remember its new stamp (a tagged file is unchanged for the
    next run). Returns how many files were written and the ones that could not be tagged, with why."""
    written, errors = 0, {}
    for i, (rel, row) in enumerate(sorted(rows.items())):
        try:
            written += write_mood_tags(music / rel, float(row["valence"]), float(row["arousal"]))
            state["songs"][rel] = {"stamp": file_stamp(music / rel), "row": row}
        except DataError as exc:
            errors[rel] = str(exc).splitlines()[0]
        report(i + 1, "writing tags")
    return written, errors


@command("library")
def main(cfg: DictConfig) -> None:
    """CLI: ``python -m emotune.runtime.library music=DIR [out=FILE] [ckpt=FILE] [write_tags=true] ...``."""
    start_up(cfg.threads, "threads")  # once, at start-up: the decoding workers use the other cores
    rep = label_folder(
        Path(str(cfg.music)),
        Path(str(cfg.out)),
        Path(str(cfg.ckpt)) if cfg.ckpt else None,
        progress=bool(cfg.progress),
        workers=cfg.workers,
        write_tags=bool(cfg.write_tags),
    )
    print(
        f"{rep['labelled']} songs labelled, {rep['unchanged']} unchanged, {rep['unreadable']} unreadable "
        f"-> {rep['catalog']} (model: {rep['model']})"
    )
    for rel, err in rep["errors"].items():
        print(f"  unreadable: {rel}: {err}", file=sys.stderr)
    if cfg.write_tags:
        print(f"{rep['tagged']} files tagged, {len(rep['untaggable'])} could not be tagged (left unchanged)")
        for rel, err in rep["untaggable"].items():
            print(f"  not tagged: {rel}: {err}", file=sys.stderr)
    print(f"Use it: python infer.py video=clip.mp4 ckpt.dir=outputs/demo catalog=csv catalog.path={rep['catalog']}")


if __name__ == "__main__":
    main()
