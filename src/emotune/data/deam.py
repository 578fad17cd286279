"""DEAM (Aljanaki et al. 2017) as published: static and dynamic annotations, metadata, audio.

Files are found by name anywhere under a root folder, so the original archive layout
(``DEAM_Annotations/annotations/annotations averaged per song/song_level/...``) and flat copies
both work. Quirks handled: header cells with leading spaces, ``valence_ max_mean``, CRLF,
fixed-width padding around values, ragged dynamic rows, per-year metadata headers.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from emotune.audio.io import AUDIO_SUFFIXES
from emotune.data.catalog import Catalog, clean_catalog
from emotune.utils.errors import DataError, MissingResourceError
from emotune.utils.scales import DEAM_STATIC

log = logging.getLogger(__name__)

STATIC_FILES = (
    "static_annotations_averaged_songs_1_2000.csv",
    "static_annotations_averaged_songs_2000_2058.csv",
)
DYNAMIC_FILES = {"valence": "valence.csv", "arousal": "arousal.csv"}
METADATA_GLOB = "metadata_*.csv"


def _norm(name: str) -> str:
    """Normalise a header cell: lower case, no spaces/underscores/punctuation."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def read_padded_csv(path: str | Path) -> pd.DataFrame:
    """Read a CSV whose cells may be padded with spaces or tabs and whose rows may be ragged.

    Every cell is stripped; short rows are padded with ``""``; header names are stripped too.
    """
    text = Path(path).read_text(encoding="utf-8-sig", errors="replace")
    rows = [[cell.strip() for cell in row] for row in csv.reader(io.StringIO(text))]
    rows = [r for r in rows if any(r)]
    if not rows:
        raise DataError(f"{path} is empty.")
    header = rows[0]
    width = max(len(header), *(len(r) for r in rows))
    header = header + [f"extra_{i}" for i in range(len(header), width)]
    body = [r + [""] * (width - len(r)) for r in rows[1:]]
    return pd.DataFrame(body, columns=header, dtype=str)


def find_file(root: Path, name: str) -> Path | None:
    """First file called ``name`` under ``root`` (sorted, so the choice is stable)."""
    hits = sorted(root.rglob(name))
    return hits[0] if hits else None


def read_static(path: str | Path) -> pd.DataFrame:
    """One static song-level CSV as ``song_id, valence, arousal, valence_std, arousal_std`` (1..9)."""
    df = read_padded_csv(path)
    cols = {_norm(c): c for c in df.columns}
    need = {"songid": "song_id", "valencemean": "valence", "arousalmean": "arousal"}
    missing = [n for n in need if n not in cols]
    if missing:
        raise DataError(f"{path}: not a DEAM static annotation file (no {', '.join(need[m] for m in missing)} column).")
    out = pd.DataFrame({new: df[cols[old]] for old, new in need.items()})
    for old, new in (("valencestd", "valence_std"), ("arousalstd", "arousal_std")):
        out[new] = pd.to_numeric(df[cols[old]], errors="coerce") if old in cols else np.nan
    return out


def read_dynamic(path: str | Path) -> pd.DataFrame:
    """A dynamic (2 Hz) CSV as a long table ``song_id, t_s, value`` (values in [-1, 1]).

    Column ``sample_15000ms`` becomes ``t_s=15.0``; empty cells of ragged rows are dropped.
    """
    df = read_padded_csv(path)
    id_col = next((c for c in df.columns if _norm(c) in ("songid", "id")), df.columns[0])
    times = {}
    for c in df.columns:
        m = re.fullmatch(r"sample_(\d+)ms", c.strip())
        if m:
            times[c] = int(m.group(1)) / 1000.0
    long = df.melt(id_vars=[id_col], value_vars=list(times), var_name="col", value_name="value")
    long["value"] = pd.to_numeric(long["value"], errors="coerce")
    long = long.dropna(subset=["value"])
    long["t_s"] = long["col"].map(times)
    long = long.rename(columns={id_col: "song_id"})[["song_id", "t_s", "value"]]
    return long.sort_values(["song_id", "t_s"]).reset_index(drop=True)


_META_FIELDS = {
    "song_id": ("songid", "id"),
    "title": ("songtitle", "title", "track"),
    "artist": ("artist",),
    "album": ("album",),
    "genre": ("genre",),
    "file_name": ("filename",),
}


def read_metadata(path: str | Path) -> pd.DataFrame:
    """One DEAM metadata file with its columns matched by normalised name."""
    df = read_padded_csv(path)
    cols = {_norm(c): c for c in df.columns}
    out = {}
    for field_name, aliases in _META_FIELDS.items():
        for a in aliases:
            if a in cols:
                out[field_name] = df[cols[a]]
                break
    if "song_id" not in out:
        raise DataError(f"{path}: metadata file without a song id column (looked for song_id / id).")
    return pd.DataFrame(out)


def load_deam(root: str | Path) -> Catalog:
    """The DEAM song catalogue (1,802 songs in the full release) from a folder.

    Args:
        root: any folder holding the two static CSVs somewhere below it; metadata
            (``metadata_*.csv``) and audio (``MEMD_audio/<id>.mp3``, or .ogg/.flac/.wav/.m4a) are used when present.
    """
    root = Path(root)
    if not root.is_dir():
        raise MissingResourceError(f"DEAM folder not found: {root}. Set `catalog.root=DIR` to a DEAM download.")
    parts, found = [], []
    for name in STATIC_FILES:
        p = find_file(root, name)
        if p is not None:
            parts.append(read_static(p))
            found.append(p)
    if not parts:
        raise MissingResourceError(
            f"No DEAM static annotation CSV ({' or '.join(STATIC_FILES)}) under {root}. "
            "Point `catalog.root` at the unpacked DEAM_Annotations folder."
        )
    songs = pd.concat(parts, ignore_index=True)
    songs["song_id"] = songs["song_id"].str.strip()

    meta_files = sorted(root.rglob(METADATA_GLOB))
    if meta_files:
        meta = pd.concat([read_metadata(p) for p in meta_files], ignore_index=True)
        meta["song_id"] = meta["song_id"].str.strip()
        meta = meta.drop_duplicates("song_id", keep="last")
        songs = songs.merge(meta, on="song_id", how="left")

    audio_dir = next((p for p in sorted(root.rglob("MEMD_audio")) if p.is_dir()), None)
    if audio_dir is not None:  # DEAM ships <id>.mp3; other copies (and the synthetic set) other formats
        files = {f.stem: f for f in sorted(audio_dir.iterdir()) if f.suffix.lower() in AUDIO_SUFFIXES}
        songs["path"] = [str(files[sid]) if sid in files else "" for sid in songs["song_id"]]
    # Ids up to 2000 are 45 s excerpts; 2001..2058 are full songs of unknown length.
    ids = pd.to_numeric(songs["song_id"], errors="coerce")
    songs["duration_s"] = np.where(ids <= 2000, 45.0, np.nan)
    songs, dropped = clean_catalog(songs, DEAM_STATIC, str(root))
    log.info("DEAM: %d songs from %s", len(songs), ", ".join(p.name for p in found))
    return Catalog(songs, DEAM_STATIC, name="deam", dropped=dropped)


def write_static_csvs(songs: pd.DataFrame, folder: str | Path, pad: bool = False) -> list[Path]:
    """Write songs (``song_id, valence, arousal, valence_std, arousal_std``) as DEAM's two static CSVs.

    Reproduces the published quirks: a leading space in every header cell after ``song_id``,
    ``valence_ max_mean`` in the second file, CRLF endings; ``pad=True`` also pads values to a
    fixed width like some copies in the wild. Ids > 2000 go to the ``2000_2058`` file.
    """
    from emotune.utils.io import atomic_path

    folder = Path(folder)
    ids = pd.to_numeric(songs["song_id"])
    first, second = songs[ids <= 2000], songs[ids > 2000]

    def fmt(x: float) -> str:
        s = f"{x:.2f}".rstrip("0").rstrip(".") if x == x else ""
        return f"{s:>12} " if pad else s

    def fid(x: object) -> str:
        return f"{x!s:>7}" if pad else str(x)

    h1 = ["song_id", " valence_mean", " valence_std", " arousal_mean", " arousal_std"]
    lines1 = [",".join(h1)] + [
        ",".join([fid(r.song_id), fmt(r.valence), fmt(r.valence_std), fmt(r.arousal), fmt(r.arousal_std)])
        for r in first.itertuples()
    ]
    h2 = [
        "song_id",
        " valence_mean",
        " valence_std",
        " valence_ max_mean",
        " valence_max_std",
        " valence_min_mean",
        " valence_min_std",
        " arousal_mean",
        " arousal_std",
        " arousal_max_mean",
        " arousal_max_std",
        " arousal_min_mean",
        " arousal_min_std",
    ]
    lines2 = [",".join(h2)]
    for r in second.itertuples():
        vmax, vmin = min(r.valence + 1.5, 9), max(r.valence - 1.5, 1)
        amax, amin = min(r.arousal + 1.5, 9), max(r.arousal - 1.5, 1)
        lines2.append(
            ",".join(
                [
                    fid(r.song_id),
                    fmt(r.valence),
                    fmt(r.valence_std),
                    fmt(vmax),
                    fmt(0.9),
                    fmt(vmin),
                    fmt(0.9),
                    fmt(r.arousal),
                    fmt(r.arousal_std),
                    fmt(amax),
                    fmt(0.9),
                    fmt(amin),
                    fmt(0.9),
                ]
            )
        )
    out = []
    folder.mkdir(parents=True, exist_ok=True)
    for name, lines in zip(STATIC_FILES, (lines1, lines2)):
        with atomic_path(folder / name) as tmp:
            tmp.write_bytes(("\r\n".join(lines) + "\r\n").encode())
        out.append(folder / name)
    return out
