"""PMEmo (Zhang et al. 2018, ICMR): pop-song choruses with static valence and arousal on 0..1.

Two layouts are read:

* the published release (``PMEmo2019/``): ``annotations/static_annotations.csv`` (``musicId, Arousal(mean),
  Valence(mean)``; note arousal first), optional ``metadata.csv`` (``musicId, fileName, title, artist, album,
  duration, ...``) and ``chorus/<musicId>.mp3``; files are found by name anywhere under the root;
* the repository's samples: ``<id>.mp3`` beside ``<id>.json`` (``valence_mean``, ``arousal_mean``, ``title``,
  ``artist``, ``album``, ``duration``).

Static values map onto the [-1, 1] reference by ``2x - 1`` (:data:`PMEMO_STATIC`).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from emotune.audio.io import AUDIO_SUFFIXES
from emotune.data.catalog import Catalog, clean_catalog
from emotune.data.deam import find_file, read_padded_csv
from emotune.utils.errors import DataError, MissingResourceError
from emotune.utils.scales import VAScale

log = logging.getLogger(__name__)

PMEMO_STATIC = VAScale("pmemo_static", (0.0, 1.0), (0.0, 1.0))
STATIC_FILE = "static_annotations.csv"
METADATA_FILE = "metadata.csv"
LAYOUT = f"{STATIC_FILE} (musicId, Arousal(mean), Valence(mean)) with chorus/<musicId>.mp3, or <id>.mp3 + <id>.json"


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _audio_files(root: Path) -> dict[str, Path]:
    """Audio files under ``root`` by stem (sorted: the first of duplicates wins)."""
    out: dict[str, Path] = {}
    for f in sorted(root.rglob("*")):
        if f.is_file() and f.suffix.lower() in AUDIO_SUFFIXES:
            out.setdefault(f.stem, f)
    return out


def _from_csv(path: Path, root: Path) -> pd.DataFrame:
    df = read_padded_csv(path)
    cols = {_norm(c): c for c in df.columns}
    need = {"musicid": "song_id", "valencemean": "valence", "arousalmean": "arousal"}
    missing = [v for k, v in need.items() if k not in cols]
    if missing:
        raise DataError(f"{path}: not PMEmo's static annotations (no {', '.join(missing)} column); expected {LAYOUT}.")
    songs = pd.DataFrame({new: df[cols[old]] for old, new in need.items()})
    meta_path = find_file(root, METADATA_FILE)
    if meta_path is not None:
        meta = read_padded_csv(meta_path)
        mcols = {_norm(c): c for c in meta.columns}
        if "musicid" in mcols:
            keep = {k: v for k, v in (("title", "title"), ("artist", "artist"), ("album", "album")) if k in mcols}
            m = pd.DataFrame({"song_id": meta[mcols["musicid"]], **{v: meta[mcols[k]] for k, v in keep.items()}})
            songs = songs.merge(m.drop_duplicates("song_id"), on="song_id", how="left")
    return songs


def _from_json(files: list[Path]) -> pd.DataFrame:
    rows = []
    for f in files:
        try:
            d = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            log.warning("PMEmo: %s is not readable JSON; skipped.", f)
            continue
        if not isinstance(d, dict) or "valence_mean" not in d or "arousal_mean" not in d:
            continue  # index.json and other files
        rows.append(
            {
                "song_id": str(d.get("id", f.stem)),
                "valence": d["valence_mean"],
                "arousal": d["arousal_mean"],
                "title": str(d.get("title", "")),
                "artist": str(d.get("artist", "")),
                "album": str(d.get("album", "")),
            }
        )
    return pd.DataFrame(rows)


def load_pmemo(root: str | Path) -> Catalog:
    """PMEmo songs with static V-A on 0..1 and their audio (``path``; ``""`` and counted when missing).

    Raises:
        MissingResourceError: ``root`` is not a folder.
        DataError: neither layout is there (the message says what was expected).
    """
    root = Path(root)
    if not root.is_dir():
        raise MissingResourceError(f"PMEmo folder not found: {root}. Set data.root=DIR to a folder with {LAYOUT}.")
    static = find_file(root, STATIC_FILE)
    songs = _from_csv(static, root) if static is not None else _from_json(sorted(root.rglob("*.json")))
    if songs.empty:
        found = ", ".join(sorted(p.name for p in root.iterdir())[:6]) or "nothing"
        raise DataError(f"{root} is not a PMEmo folder: expected {LAYOUT} (found: {found}).")
    songs["song_id"] = songs["song_id"].astype(str).str.strip()
    audio = _audio_files(root)
    songs["path"] = [str(audio[s]) if s in audio else "" for s in songs["song_id"]]
    songs["duration_s"] = np.nan  # choruses of varying length; read from the file when needed
    songs, dropped = clean_catalog(songs, PMEMO_STATIC, str(static or root))
    dropped["missing_audio"] = int((songs["path"] == "").sum())
    if dropped["missing_audio"]:
        log.warning("PMEmo: %d song(s) without an audio file under %s", dropped["missing_audio"], root)
    log.info("PMEmo: %d songs from %s", len(songs), static or f"{root}/*.json")
    return Catalog(songs, PMEMO_STATIC, name="pmemo", dropped=dropped)
