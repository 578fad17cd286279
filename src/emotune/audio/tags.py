"""Read a song file's tags, and write its mood into them (opt-in: ``make library ... WRITE_TAGS=1``).

Writing goes through mutagen, which rewrites only the metadata (ID3 frames, Vorbis comment packets, FLAC blocks,
MP4 atoms), never the audio stream, and atomically: the tags are written into a copy beside the file, read back,
and only then renamed over the original. A file that cannot be tagged is reported and left byte-identical.

Fields: valence and arousal (``EMOTUNE_VALENCE``, ``EMOTUNE_AROUSAL``: numbers on the [-1, 1] reference, two
decimals) and a mood word (:func:`mood_word`): ID3 ``TXXX`` frames and ``TMOO`` (mp3, wav), Vorbis comments
``EMOTUNE_VALENCE`` / ``EMOTUNE_AROUSAL`` / ``MOOD`` (ogg, opus, flac), MP4 freeform atoms
``----:com.apple.iTunes:EMOTUNE_VALENCE`` ... ``MOOD`` (m4a).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from emotune.audio.io import audio_duration
from emotune.utils.errors import DataError

VALENCE, AROUSAL, MOOD = "EMOTUNE_VALENCE", "EMOTUNE_AROUSAL", "MOOD"
# Russell's circumplex, by quadrant and by how far from the centre: (quadrant, strong?) -> word
MOOD_WORDS = {
    ("Q1", True): "euphoric", ("Q1", False): "happy",
    ("Q2", True): "angry", ("Q2", False): "tense",
    ("Q3", True): "depressed", ("Q3", False): "sad",
    ("Q4", True): "serene", ("Q4", False): "calm",
}  # fmt: skip
NEUTRAL_RADIUS = 0.1  # closer to the centre than this: "neutral"
STRONG_RADIUS = 0.6


def mood_word(valence: float, arousal: float) -> str:
    """One word for a V-A point on the [-1, 1] reference (its quadrant and its distance from the centre)."""
    r = float(np.hypot(valence, arousal))
    if r < NEUTRAL_RADIUS:
        return "neutral"
    q = ("Q1" if valence >= 0 else "Q2") if arousal >= 0 else ("Q4" if valence >= 0 else "Q3")
    return MOOD_WORDS[(q, r >= STRONG_RADIUS)]


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


def _fields(valence: float, arousal: float) -> dict[str, str]:
    return {VALENCE: f"{valence:+.2f}", AROUSAL: f"{arousal:+.2f}", MOOD: mood_word(valence, arousal)}


def _set(f: Any, fields: dict[str, str]) -> None:
    """Put ``fields`` into a mutagen file object of any supported format (tags created when absent)."""
    from mutagen.id3 import ID3, TMOO, TXXX
    from mutagen.mp4 import MP4, MP4FreeForm

    if f.tags is None:
        f.add_tags()
    if isinstance(f.tags, ID3):
        for key in (VALENCE, AROUSAL):
            f.tags.setall(f"TXXX:{key}", [TXXX(encoding=3, desc=key, text=[fields[key]])])
        f.tags.setall("TMOO", [TMOO(encoding=3, text=[fields[MOOD]])])
    elif isinstance(f, MP4):
        for key, value in fields.items():
            f.tags[f"----:com.apple.iTunes:{key}"] = [MP4FreeForm(value.encode("utf-8"))]
    elif hasattr(f.tags, "__setitem__") and not isinstance(f.tags, ID3):  # Vorbis comments (ogg, opus, flac)
        for key, value in fields.items():
            f.tags[key] = [value]
    else:
        raise DataError("its tag format cannot hold free-form fields")


def read_mood_tags(path: str | Path) -> dict[str, str]:
    """The fields :func:`write_mood_tags` wrote (``{}`` when there are none)."""
    import mutagen
    from mutagen.id3 import ID3
    from mutagen.mp4 import MP4

    f = mutagen.File(path)
    if f is None or f.tags is None:
        return {}
    out: dict[str, str] = {}
    if isinstance(f.tags, ID3):
        for key in (VALENCE, AROUSAL):
            if f"TXXX:{key}" in f.tags:
                out[key] = str(f.tags[f"TXXX:{key}"].text[0])
        if "TMOO" in f.tags:
            out[MOOD] = str(f.tags["TMOO"].text[0])
    elif isinstance(f, MP4):
        for key in (VALENCE, AROUSAL, MOOD):
            atom = f.tags.get(f"----:com.apple.iTunes:{key}")
            if atom:
                out[key] = bytes(atom[0]).decode("utf-8")
    else:
        for key in (VALENCE, AROUSAL, MOOD):
            values = f.tags.get(key)
            if values:
                out[key] = str(values[0])
    return out


def write_mood_tags(path: str | Path, valence: float, arousal: float) -> bool:
    """Write the mood fields into ``path`` atomically; ``False`` when they were already there (nothing written).

    Raises:
        DataError: the file cannot be tagged (unknown or damaged format, read-only, ...); it is left untouched.
    """
    import mutagen

    path = Path(path)
    fields = _fields(valence, arousal)
    try:
        if read_mood_tags(path) == fields:
            return False
    except Exception:  # mutagen's own error types: the write below reports it
        pass
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tags{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        shutil.copy2(path, tmp)  # content, mode and times of the original
        f = mutagen.File(tmp)
        if f is None:
            raise DataError("mutagen does not recognise its format")
        _set(f, fields)
        f.save()
        if read_mood_tags(tmp) != fields:
            raise DataError("the written tags did not read back")
        os.replace(tmp, path)
        return True
    except DataError as exc:
        raise DataError(f"{path.name}: not tagged ({exc}).") from None
    except Exception as exc:  # mutagen raises many types on damaged or unusual files
        raise DataError(f"{path.name}: not tagged ({type(exc).__name__}: {str(exc)[:80]}).") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
