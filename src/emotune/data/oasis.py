"""OASIS, the Open Affective Standardized Image Set (Kurdi, Lozano & Banaji 2017), read as published.

``OASIS.csv`` has bare CR line endings, an unnamed first column (``I1``..``I900``), then ``Theme, Category, Source,
Valence_mean, Valence_SD, Valence_N, Arousal_mean, Arousal_SD, Arousal_N``. ``Theme`` is the image's file name without
``.jpg`` but may carry a trailing space the file lacks (``War 2 `` -> ``images/War 2.jpg``). Ratings are means of
about 100 raters on 1..7, mapped onto the [-1, 1] reference by (x - 4) / 3 (:data:`emotune.utils.scales.OASIS`).
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pandas as pd

from emotune.utils.errors import DataError, MissingResourceError
from emotune.utils.scales import OASIS

log = logging.getLogger(__name__)

OASIS_COLUMNS = ("Theme", "Category", "Valence_mean", "Arousal_mean")
CATEGORIES = ("Person", "Animal", "Object", "Scenery")


def read_oasis(csv_path: str | Path) -> pd.DataFrame:
    """The rated photographs: ``image_path`` (``<Theme>.jpg``), ``theme``, ``category``, ``valence``, ``arousal``
    (1..7), ``valence_sd``, ``arousal_sd``, ``n_raters``.

    Raises:
        MissingResourceError: no such file.
        DataError: not an OASIS ratings file, or a rating outside 1..7 (a file on another scale).
    """
    path = Path(csv_path)
    if not path.is_file():
        raise MissingResourceError(
            f"OASIS ratings not found: {path}. Point data.root at the OASIS folder (OASIS.csv + images/), "
            "e.g. data=oasis data.root=/path/to/OASIS."
        )
    raw_bytes = path.read_bytes()
    try:
        text = raw_bytes.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw_bytes.decode("latin-1")
    # Bare CR line endings (the published file) and CRLF both become LF before parsing.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    try:
        raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except pd.errors.ParserError as exc:
        raise DataError(f"{path} is not an OASIS ratings CSV ({str(exc).splitlines()[0]}).") from None
    raw.columns = [c.strip() for c in raw.columns]
    missing = [c for c in OASIS_COLUMNS if c not in raw.columns]
    if missing:
        raise DataError(
            f"{path} lacks the column(s) {missing}; expected OASIS.csv's header "
            "(,Theme,Category,Source,Valence_mean,Valence_SD,Valence_N,Arousal_mean,Arousal_SD,Arousal_N)."
        )
    theme = raw["Theme"].str.strip()  # 'War 2 ' names images/War 2.jpg
    df = pd.DataFrame(
        {
            "image_path": theme + ".jpg",
            "theme": theme,
            "category": raw["Category"].str.strip(),
            "valence": pd.to_numeric(raw["Valence_mean"], errors="coerce"),
            "arousal": pd.to_numeric(raw["Arousal_mean"], errors="coerce"),
            "valence_sd": pd.to_numeric(raw.get("Valence_SD", ""), errors="coerce"),
            "arousal_sd": pd.to_numeric(raw.get("Arousal_SD", ""), errors="coerce"),
            "n_raters": pd.to_numeric(raw.get("Valence_N", ""), errors="coerce"),
        }
    )
    df = df[df["theme"] != ""].reset_index(drop=True)
    if df.empty:
        raise DataError(f"{path} holds no rated images.")
    bad = df[["valence", "arousal"]].isna().any(axis=1) | ~OASIS.contains(df[["valence", "arousal"]].fillna(0))
    if bad.any():
        first = df[bad].iloc[0]
        raise DataError(
            f"{path}: {int(bad.sum())} rating(s) outside OASIS's 1..7 scale, first {first['theme']!r} "
            f"(valence={first['valence']}, arousal={first['arousal']}); is this OASIS.csv as published?"
        )
    dup = df["image_path"].duplicated()
    if dup.any():
        log.warning("%s: %d duplicate theme(s) dropped.", path, int(dup.sum()))
        df = df[~dup].reset_index(drop=True)
    df.attrs["source"] = str(path)
    return df
