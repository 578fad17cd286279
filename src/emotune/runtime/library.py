"""Your music library as a catalogue: ``make library MUSIC=DIR OUT=songs.csv``.

``python -m emotune.runtime.library DIR --out songs.csv [--ckpt outputs/demo/music/checkpoints/best.ckpt]``

Scans ``DIR`` recursively for mp3/ogg/flac/wav/m4a, reads title, artist, album, genre and duration from
the tags (file name when there are none), predicts each song's V-A with the music phase's checkpoint on
a 30-second excerpt from its middle, and writes a catalogue that ``python infer.py catalog=csv
catalog.path=songs.csv`` reads with no other flag (its scale is declared on the first line). Reruns skip
unchanged files; unreadable files are counted and listed, never fatal; other files are ignored.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from emotune.audio.io import AUDIO_SUFFIXES, audio_duration, decode_audio
from emotune.data.catalog import Catalog, write_csv_catalog
from emotune.data.scales import REFERENCE
from emotune.utils.cli import exit_on_user_error
from emotune.utils.errors import DataError, MissingResourceError
from emotune.utils.io import file_stamp, write_json_atomic

log = logging.getLogger("emotune.library")
EXCERPT_S = 30.0
DEFAULT_CKPT = "outputs/demo/music/checkpoints/best.ckpt"


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
        if getattr(f, "info", None) is not None and getattr(f.info, "length", 0):
            tags["duration_s"] = float(f.info.length)
    if not tags["title"]:
        tags["title"] = path.stem.replace("_", " ")
    if not np.isfinite(tags["duration_s"]):
        tags["duration_s"] = audio_duration(path) or np.nan
    return tags


def scan(folder: Path) -> list[Path]:
    """Audio files under ``folder`` (recursive, sorted)."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)


def label_song(path: Path, model: Any, duration: float) -> tuple[np.ndarray, np.ndarray]:
    """V-A (reference) and variance of one song from a 30-second excerpt around its middle."""
    sr = int(model.data_config["sample_rate"])
    offset = max(0.0, duration / 2 - EXCERPT_S / 2) if np.isfinite(duration) and duration > EXCERPT_S else 0.0
    audio = decode_audio(path, sr, offset_s=offset, duration_s=EXCERPT_S)
    return model.predict_audio(audio)


def label_folder(music: Path, out: Path, ckpt: Path, progress: bool = True) -> dict[str, Any]:
    """Label every audio file under ``music`` into the catalogue ``out``; returns the counts."""
    from emotune.models.loading import load_phase_module

    if not music.is_dir():
        raise MissingResourceError(f"MUSIC={music} is not a folder; give the folder that holds your audio files.")
    if not Path(ckpt).is_file():
        raise MissingResourceError(
            f"No music model at {ckpt}: train one with `make demo` (or `python train.py phase=music`) and pass --ckpt."
        )
    model = load_phase_module(ckpt, "music")
    state_path = out.with_name(out.name + ".state.json")
    state = json.loads(state_path.read_text()) if state_path.is_file() else {}
    if state.get("checkpoint") != str(Path(ckpt).resolve()):
        state = {"checkpoint": str(Path(ckpt).resolve()), "songs": {}}  # another model: label everything again
    files = scan(music)
    rows, errors, reused = [], {}, 0
    for path in tqdm(files, desc="label songs", unit="song", disable=not progress):
        rel, stamp = str(path.relative_to(music)), file_stamp(path)
        known = state["songs"].get(rel)
        if known is not None and known.get("stamp") == stamp:
            rows.append(known["row"])
            reused += 1
            continue
        try:
            tags = read_tags(path)
            mean, var = label_song(path, model, tags["duration_s"])
            mean = np.clip(mean, -1, 1)  # the catalogue declares the reference scale
        except DataError as exc:
            errors[rel] = str(exc).splitlines()[0]
            continue
        row = {
            "song_id": hashlib.sha1(rel.encode()).hexdigest()[:12],
            "valence": round(float(mean[0]), 4),
            "arousal": round(float(mean[1]), 4),
            "valence_sd": round(float(np.sqrt(var[0])), 4),
            "arousal_sd": round(float(np.sqrt(var[1])), 4),
            **tags,
            "path": str(path.resolve()),
        }
        rows.append(row)
        state["songs"][rel] = {"stamp": stamp, "row": row}
    if not rows:
        raise DataError(
            f"No readable audio file ({', '.join(AUDIO_SUFFIXES)}) under {music}"
            + (f"; {len(errors)} unreadable" if errors else "")
            + "."
        )
    songs = pd.DataFrame(rows)
    write_csv_catalog(Catalog(songs, REFERENCE, name=out.stem), out, extra_columns=("valence_sd", "arousal_sd"))
    state["songs"] = {k: v for k, v in state["songs"].items() if (music / k).is_file()}
    write_json_atomic(state_path, state)
    report = {
        "files": len(files),
        "labelled": len(rows) - reused,
        "unchanged": reused,
        "unreadable": len(errors),
        "errors": errors,
        "catalog": str(out),
    }
    return report


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    """CLI."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("music", type=Path, help="folder with your audio files (searched recursively)")
    ap.add_argument("--out", type=Path, default=Path("songs.csv"))
    ap.add_argument("--ckpt", type=Path, default=Path(DEFAULT_CKPT), help="music phase checkpoint")
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    rep = label_folder(args.music, args.out, args.ckpt)
    print(
        f"{rep['labelled']} songs labelled, {rep['unchanged']} unchanged, {rep['unreadable']} unreadable "
        f"-> {rep['catalog']}"
    )
    for rel, err in rep["errors"].items():
        print(f"  unreadable: {rel}: {err}", file=sys.stderr)
    print(f"Use it: python infer.py video=clip.mp4 ckpt.dir=outputs/demo catalog=csv catalog.path={rep['catalog']}")


if __name__ == "__main__":
    main()
