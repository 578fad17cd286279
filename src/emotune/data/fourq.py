"""The 4-quadrant audio emotion data set (Panda, Malheiro & Paiva 2018, IEEE TAFFC) in its published layout.

``Q1/``..``Q4/<Song>.mp3`` (about 30 s clips), ``panda_dataset_taffc_annotations.csv`` (``Song,Quadrant``) and
``panda_dataset_taffc_metadata.csv`` (quoted; artist, title, moods, genres; Latin-1 in the original release).

**Target.** A clip's label is its quadrant of Russell's plane, i.e. only the *signs* of valence and arousal
(Q1 +V+A, Q2 -V+A, Q3 -V-A, Q4 +V-A). It becomes a coarse regression target: the quadrant's centre on the
[-1, 1] reference, ±``TARGET`` (0.5) per axis, so the same V-A head (with its σ) trains on 4Q, DEAM and PMEmo
alike. Only the sign is known, so the honest metrics are ranking ones (AUC positive vs negative per axis) and
the quadrant accuracy of the predicted signs (:mod:`emotune.eval.music`), never an error in V-A units.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

from emotune.data.catalog import Catalog, clean_catalog
from emotune.utils.errors import DataError, MissingResourceError
from emotune.utils.scales import REFERENCE

log = logging.getLogger(__name__)

ANNOTATIONS = "panda_dataset_taffc_annotations.csv"
METADATA = "panda_dataset_taffc_metadata.csv"
QUADRANT_SIGNS = {"Q1": (1, 1), "Q2": (-1, 1), "Q3": (-1, -1), "Q4": (1, -1)}
TARGET = 0.5  # |valence| = |arousal| of a quadrant's target on the [-1, 1] reference
CLIP_S = 30.0
LAYOUT = f"Q1/..Q4/<Song>.mp3 beside {ANNOTATIONS} (Song,Quadrant)"


def quadrant_of(va: np.ndarray) -> np.ndarray:
    """``Q1``..``Q4`` of ``(N, 2)`` valence, arousal on the reference scale (0 counts as positive)."""
    va = np.asarray(va, np.float64).reshape(-1, 2)
    pos_v, pos_a = va[:, 0] >= 0, va[:, 1] >= 0
    return np.where(pos_a, np.where(pos_v, "Q1", "Q2"), np.where(pos_v, "Q4", "Q3"))


_ARTIST_JOINS = re.compile(r"\s+(?:feat\.?|featuring|ft\.|&|\+|and|with|vs\.?|x)\s+|\s*[,/;]\s*")


def artist_key(name: str) -> str:
    """A grouping key for an artist credit: lower case, accents and punctuation dropped, a leading "the" removed,
    only the first of joined names kept ("Bob Marley & the Wailers" and "Bob Marley" are one group; merging too
    much only makes cross-validation stricter). An empty credit gives ``""``."""
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode().lower().strip()
    text = _ARTIST_JOINS.split(text)[0]
    text = re.sub(r"^the\s+", "", text)
    return re.sub(r"[^a-z0-9]+", "", text)


def read_text_any(path: Path) -> str:
    """A text file as UTF-8 when it is, else Latin-1 (the published 4Q metadata); never fails on bytes."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _read_table(path: Path) -> pd.DataFrame:
    """A quoted CSV with stripped header names and cells, all as strings."""
    rows = [[c.strip() for c in r] for r in csv.reader(io.StringIO(read_text_any(path))) if any(c.strip() for c in r)]
    if not rows:
        raise DataError(f"{path} is empty; expected the 4Q file with a header row.")
    width = len(rows[0])
    return pd.DataFrame([(r + [""] * width)[:width] for r in rows[1:]], columns=rows[0], dtype=str)


def _metadata(root: Path) -> pd.DataFrame:
    path = root / METADATA
    if not path.is_file():
        return pd.DataFrame(columns=["song_id"])
    meta = _read_table(path)
    cols = {c.lower(): c for c in meta.columns}
    if "song" not in cols:
        log.warning("%s has no Song column: metadata ignored.", path)
        return pd.DataFrame(columns=["song_id"])
    genres = meta[cols["genresstr"]] if "genresstr" in cols else pd.Series("", index=meta.index)
    return pd.DataFrame(
        {
            "song_id": meta[cols["song"]],
            "title": meta[cols["title"]] if "title" in cols else "",
            "artist": meta[cols["artist"]] if "artist" in cols else "",
            "genre": genres.str.split(";").str[0].fillna("").str.strip(),
            "moods": meta[cols["moodsstr"]] if "moodsstr" in cols else "",
        }
    ).drop_duplicates("song_id")


def load_fourq(root: str | Path) -> Catalog:
    """The 4Q clips as a catalogue on the reference scale (targets ±0.5), with ``quadrant`` and ``path``.

    Annotated clips without an audio file are counted (``dropped["missing_audio"]``) and keep ``path=""``;
    rows with an unknown quadrant are dropped and counted; audio files without an annotation are counted.

    Raises:
        MissingResourceError: ``root`` is not a folder.
        DataError: the folder does not have the published layout (the message says what was expected).
    """
    root = Path(root)
    if not root.is_dir():
        raise MissingResourceError(f"4Q folder not found: {root}. Set data.root=DIR to a folder with {LAYOUT}.")
    ann_path = root / ANNOTATIONS
    qdirs = [q for q in QUADRANT_SIGNS if (root / q).is_dir()]
    if not ann_path.is_file() or not qdirs:
        found = ", ".join(sorted(p.name for p in root.iterdir())[:6]) or "nothing"
        raise DataError(f"{root} is not a 4Q data set folder: expected {LAYOUT} (found: {found}).")
    ann = _read_table(ann_path)
    cols = {c.lower(): c for c in ann.columns}
    if "song" not in cols or "quadrant" not in cols:
        raise DataError(f"{ann_path}: expected columns Song,Quadrant, found {', '.join(ann.columns)}.")
    ann = pd.DataFrame({"song_id": ann[cols["song"]], "quadrant": ann[cols["quadrant"]].str.upper()})
    bad = ~ann["quadrant"].isin(list(QUADRANT_SIGNS))
    ann = ann[~bad].drop_duplicates("song_id").reset_index(drop=True)
    signs = np.array([QUADRANT_SIGNS[q] for q in ann["quadrant"]], float).reshape(-1, 2)
    ann["valence"], ann["arousal"] = TARGET * signs[:, 0], TARGET * signs[:, 1]

    files: dict[str, Path] = {}
    for q in qdirs:  # a clip is looked for in every quadrant folder, its own first (sorted: a stable choice)
        for f in sorted((root / q).glob("*.mp3")):
            files.setdefault(f"{q}/{f.stem}", f)
    paths = []
    for sid, q in zip(ann["song_id"], ann["quadrant"]):
        hit = files.get(f"{q}/{sid}") or next((files[f"{o}/{sid}"] for o in qdirs if f"{o}/{sid}" in files), None)
        paths.append(str(hit) if hit is not None else "")
    ann["path"] = paths
    ann["duration_s"] = CLIP_S
    songs = ann.merge(_metadata(root), on="song_id", how="left")
    songs, dropped = clean_catalog(songs, REFERENCE, str(ann_path))
    annotated = set(songs["song_id"])
    dropped.update(
        {
            "unknown_quadrant": int(bad.sum()),
            "missing_audio": int((songs["path"] == "").sum()),
            "unannotated_audio": len({k.split("/", 1)[1] for k in files} - annotated),
        }
    )
    if dropped["missing_audio"]:
        log.warning("4Q: %d annotated clip(s) have no mp3 under %s", dropped["missing_audio"], root)
    log.info("4Q: %d clips (%s) from %s", len(songs), songs["quadrant"].value_counts().sort_index().to_dict(), root)
    return Catalog(songs, REFERENCE, name="fourq", dropped=dropped)
