"""A song catalogue with valence-arousal: the table the matcher searches.

Columns: ``song_id`` (str), ``valence``, ``arousal`` (on ``scale``), and optionally ``title``,
``artist``, ``genre``, ``path`` (audio file) and ``duration_s``.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from emotune.utils.errors import DataError, MissingResourceError
from emotune.utils.io import safe_join
from emotune.utils.scales import VAScale, get_scale

log = logging.getLogger(__name__)

OPTIONAL_COLUMNS = ("title", "artist", "album", "genre", "path", "duration_s")


@dataclass
class Catalog:
    """Songs with V-A on a declared scale."""

    songs: pd.DataFrame
    scale: VAScale
    name: str = "catalog"
    dropped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.songs)

    @property
    def va(self) -> np.ndarray:
        """``(N, 2)`` valence, arousal on the catalogue's own scale."""
        return self.songs[["valence", "arousal"]].to_numpy(dtype=np.float64)

    @property
    def va_ref(self) -> np.ndarray:
        """``(N, 2)`` valence, arousal on the shared [-1, 1] reference."""
        return self.scale.to_ref(self.va)

    def fingerprint(self) -> str:
        """A short hash of ids and V-A: caches keyed by it are rebuilt when the catalogue changes."""
        h = hashlib.sha1()
        h.update(self.scale.name.encode())
        h.update("|".join(self.songs["song_id"].astype(str)).encode())
        h.update(np.ascontiguousarray(self.va.round(6)).tobytes())
        return h.hexdigest()[:16]

    def song_meta(self, row: int) -> dict[str, Any]:
        """Row ``row`` as playlist metadata: id, V-A on the catalogue's scale, and its tags when present."""
        s = self.songs.iloc[row]
        meta = {"song_id": str(s["song_id"]), "valence": float(s["valence"]), "arousal": float(s["arousal"])}
        for col in ("title", "artist", "album", "genre", "path"):
            if isinstance(s.get(col), str) and s[col]:
                meta[col] = s[col]
        if np.isfinite(s.get("duration_s", np.nan)):
            meta["duration_s"] = float(s["duration_s"])
        return meta

    def filter(self, genre: str | list[str] | None = None, artist: str | list[str] | None = None) -> Catalog:
        """Keep only songs whose genre/artist matches (case-insensitive); error if none are left."""
        df = self.songs
        for col, want in (("genre", genre), ("artist", artist)):
            if not want:
                continue
            if col not in df.columns or df[col].eq("").all():
                raise DataError(f"catalog filter {col}={want!r}: this catalogue has no {col} metadata.")
            wanted = {w.lower() for w in ([want] if isinstance(want, str) else want)}
            df = df[df[col].str.lower().isin(wanted)]
        if df.empty:
            raise DataError(f"catalog filter genre={genre!r} artist={artist!r} leaves no songs.")
        return Catalog(df.reset_index(drop=True), self.scale, self.name, dict(self.dropped))


def clean_catalog(df: pd.DataFrame, scale: VAScale, source: str) -> tuple[pd.DataFrame, dict[str, int]]:
    """Drop rows with NaN or out-of-scale V-A and duplicate ids, counting each; error if none remain."""
    df = df.copy()
    df["song_id"] = df["song_id"].astype(str).str.strip()
    for col in ("valence", "arousal"):
        df[col] = pd.to_numeric(df[col], errors="coerce")
    nan = df[["valence", "arousal"]].isna().any(axis=1)
    out = ~nan & ~scale.contains(df[["valence", "arousal"]].fillna(0).to_numpy())
    dup = df["song_id"].duplicated(keep="first") & ~nan & ~out
    dropped = {"nan": int(nan.sum()), "out_of_range": int(out.sum()), "duplicate_id": int(dup.sum())}
    df = df.loc[~(nan | out | dup)].reset_index(drop=True)
    if any(dropped.values()):
        log.warning("%s: dropped %s", source, ", ".join(f"{v} {k}" for k, v in dropped.items() if v))
    if df.empty:
        raise DataError(
            f"{source}: no songs left after dropping NaN/out-of-range ({scale.name} "
            f"valence {scale.valence}, arousal {scale.arousal}) rows; check the file and `catalog.scale`."
        )
    for col in OPTIONAL_COLUMNS:
        if col not in df.columns:
            df[col] = np.nan if col == "duration_s" else ""
    df["duration_s"] = pd.to_numeric(df["duration_s"], errors="coerce")
    for col in ("title", "artist", "album", "genre", "path"):
        df[col] = df[col].fillna("").astype(str).str.strip()
    return df, dropped


def filter_catalog(catalog: Catalog, *, genre: str | list[str] | None, artist: str | list[str] | None) -> Catalog:
    """``catalog`` restricted by metadata (``filters.genre`` / ``filters.artist``); unchanged without filters."""
    return catalog.filter(genre, artist) if genre or artist else catalog


SCALE_COLUMN = "scale"  # the scale of a catalogue CSV's V-A, one value on every row (what `make library` writes)
SCALE_COMMENT = "# scale: "  # older catalogues declared it on a first line instead: still read


def _declared_scale(df: pd.DataFrame, path: Path, comment: str | None) -> str | None:
    """The scale the file itself declares: its ``scale`` column (one value), else an old ``# scale:`` line."""
    if SCALE_COLUMN not in df.columns:
        return comment
    values = sorted({v.strip() for v in df[SCALE_COLUMN] if v.strip()})
    if len(values) > 1:
        raise DataError(
            f"{path}: its {SCALE_COLUMN!r} column holds several scales ({', '.join(values)}); a catalogue has one. "
            "Split the file, or convert the V-A columns to one scale."
        )
    return values[0] if values else comment


def read_csv_catalog(path: str | Path, *, scale: str | None, audio_root: str | Path | None) -> Catalog:
    """A user's own library: a plain CSV with ``song_id, valence, arousal`` (+ optional metadata columns).

    Args:
        path: the CSV file (its first line is the header).
        scale: the scale of its V-A columns (``deam_static`` = 1..9, ``reference`` = -1..1, ``findingemo``);
            ``None``: the scale the file declares in its ``scale`` column (as ``make library`` writes), or on an
            old-style first line ``# scale: reference``, else ``deam_static``.
        audio_root: folder that relative ``path`` values are joined under (``None``: the CSV's folder).

    ``scale`` and ``audio_root`` are required: ``conf/catalog/csv.yaml`` is their one home (``catalog=csv``).
    """
    path = Path(path)
    if not path.is_file():
        raise MissingResourceError(f"Catalogue CSV not found: {path}. Set `catalog.path=FILE`.")
    with path.open(encoding="utf-8", errors="replace") as f:
        first = f.readline()
    comment = first[len(SCALE_COMMENT) :].strip() if first.startswith(SCALE_COMMENT) else None
    try:
        df = pd.read_csv(
            path, dtype=str, keep_default_na=False, skipinitialspace=True, comment=None, skiprows=1 if comment else 0
        )
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise DataError(
            f"catalog.path={path} is not a CSV catalogue ({type(exc).__name__}); give the song_id,valence,arousal CSV "
            "that `make library` writes."
        ) from None
    df.columns = [c.strip().lower() for c in df.columns]
    missing = [c for c in ("song_id", "valence", "arousal") if c not in df.columns]
    if missing:
        raise DataError(f"{path} lacks column(s) {missing}; a catalogue needs song_id,valence,arousal.")
    declared = _declared_scale(df, path, comment)
    if scale and declared and get_scale(scale) != get_scale(declared):
        log.warning("%s declares scale %s; catalog.scale=%s overrides it.", path, declared, scale)
    sc = get_scale(scale or declared or "deam_static")
    df, dropped = clean_catalog(df.drop(columns=[SCALE_COLUMN], errors="ignore"), sc, str(path))
    root = Path(audio_root) if audio_root else path.parent
    df["path"] = [str(safe_join(root, p)) if p and not Path(p).is_absolute() else p for p in df["path"]]
    return Catalog(df, sc, name=path.stem, dropped=dropped)


def write_csv_catalog(cat: Catalog, path: str | Path, extra_columns: tuple[str, ...] = ()) -> Path:
    """Write a catalogue as a plain CSV (header first) with its scale in a ``scale`` column
    (``catalog=csv catalog.path=FILE``, :func:`read_csv_catalog`, reads it back with no other setting)."""
    from emotune.utils.io import atomic_path

    cols = ["song_id", "valence", "arousal", *OPTIONAL_COLUMNS, *extra_columns]
    table = cat.songs[[c for c in cols if c in cat.songs.columns]].copy()
    table[SCALE_COLUMN] = cat.scale.name
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as f:
        table.to_csv(f, index=False)
    return Path(path)
