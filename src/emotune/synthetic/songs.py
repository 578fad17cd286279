"""A synthetic song catalogue in DEAM's published format (static CSVs + metadata files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from emotune.data.deam import write_static_csvs
from emotune.utils.io import atomic_path

AUDIO_RATE = 16000  # the synthetic songs' sample rate (short loops, FLAC)

GENRES = ["Rock", "Pop", "Electronic", "Classical", "Jazz", "Blues", "Folk", "Hip-Hop", "Ambient", "Country"]
_WORDS_A = [
    "Amber",
    "Blue",
    "Silent",
    "Electric",
    "Golden",
    "Midnight",
    "Broken",
    "Velvet",
    "Neon",
    "Quiet",
    "Wild",
    "Paper",
    "Crystal",
    "Hollow",
    "Burning",
    "Distant",
    "Lazy",
    "Restless",
    "Gentle",
    "Iron",
]
_WORDS_B = [
    "Skyline",
    "River",
    "Heart",
    "Morning",
    "Echo",
    "Garden",
    "Storm",
    "Harbor",
    "Lights",
    "Road",
    "Dream",
    "Mirror",
    "Fever",
    "Horizon",
    "Rain",
    "Circus",
    "Lullaby",
    "Engine",
    "Waltz",
    "Tide",
]
_FIRST = ["The", "Los", "Little", "Big", "Northern", "Southern", "Saint", "Young", "Old", "Electric"]
_LAST = ["Foxes", "Kites", "Owls", "Arrows", "Lanterns", "Rivers", "Sparks", "Wolves", "Mariners", "Echoes"]

# (valence mean, arousal mean, std, weight, genre bias) on 1..9; roughly DEAM's spread
_MOODS = [
    (6.2, 6.3, 0.8, 0.30, ["Pop", "Rock", "Electronic"]),
    (3.8, 6.0, 0.8, 0.15, ["Rock", "Electronic", "Hip-Hop"]),
    (3.6, 3.4, 0.7, 0.20, ["Classical", "Ambient", "Folk", "Blues"]),
    (5.6, 3.6, 0.7, 0.20, ["Jazz", "Folk", "Classical", "Country"]),
    (5.0, 5.0, 0.9, 0.15, GENRES),
]


def synthetic_songs(n: int = 1802, seed: int = 0) -> pd.DataFrame:
    """``n`` songs with DEAM-like ids (a sparse subset of 2..2000, then 2001..) and V-A on 1..9."""
    rng = np.random.default_rng(seed)
    n_full = min(58, max(0, n - 1744)) if n >= 1744 else 0
    n_excerpt = n - n_full
    ids_excerpt = np.sort(rng.choice(np.arange(2, 2001), size=min(n_excerpt, 1999), replace=False))
    ids = np.concatenate([ids_excerpt, np.arange(2001, 2001 + n_full)])
    w = np.array([m[3] for m in _MOODS])
    comp = rng.choice(len(_MOODS), size=len(ids), p=w / w.sum())
    rows = []
    for sid, c in zip(ids, comp):
        vm, am, sd, _, genres = _MOODS[c]
        v = float(np.clip(rng.normal(vm, sd), 1.6, 8.4))
        a = float(np.clip(rng.normal(am, sd), 1.6, 8.1))
        rows.append(
            {
                "song_id": str(int(sid)),
                "valence": round(v, 1),
                "arousal": round(a, 1),
                "valence_std": round(float(rng.uniform(0.5, 1.8)), 2),
                "arousal_std": round(float(rng.uniform(0.5, 1.8)), 2),
                "title": f"{rng.choice(_WORDS_A)} {rng.choice(_WORDS_B)}",
                "artist": f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
                "album": f"{rng.choice(_WORDS_B)} Sessions",
                "genre": str(rng.choice(genres)),
            }
        )
    return pd.DataFrame(rows)


def write_metadata(songs: pd.DataFrame, folder: str | Path) -> list[Path]:
    """Metadata in DEAM's three per-year layouts (different headers, tab/space padding)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ids = pd.to_numeric(songs["song_id"])
    parts = {
        "metadata_2013.csv": (
            songs[ids <= 1000],
            [
                "song_id",
                "file_name",
                "Artist",
                "Song title",
                "start of the segment (min.sec)",
                "end of the segment (min.sec)",
                "Genre",
            ],
        ),
        "metadata_2014.csv": (
            songs[(ids > 1000) & (ids <= 2000)],
            ["Id", "Artist", "Album", "Track", "Genre", "segment start", "segment end"],
        ),
        "metadata_2015.csv": (
            songs[ids > 2000],
            ["id", "file_name", "title", "artist", "album", "genre", "Description", "Source"],
        ),
    }
    out = []
    for name, (df, header) in parts.items():
        lines = [",".join(header)]
        for r in df.itertuples():
            if name.endswith("2013.csv"):
                cells = [r.song_id, f"{r.song_id}.mp3", r.artist, r.title, "0.30", "1.15", r.genre]
            elif name.endswith("2014.csv"):
                cells = [r.song_id, r.artist, r.album, r.title, r.genre, "0.45", "1.30"]
            else:
                cells = [r.song_id, f"{r.song_id}.mp3", r.title, r.artist, r.album, r.genre]  # ragged row
            lines.append(",".join(f"{c}\t" if i % 2 else f" {c} " for i, c in enumerate(cells)))
        with atomic_path(folder / name) as tmp:
            tmp.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
        out.append(folder / name)
    return out


def _write_audio(args: tuple[str, float, float, int, str]) -> None:
    from emotune.audio.io import encode_audio
    from emotune.synthetic.music import synth_song

    _, v_ref, a_ref, seed, path = args
    encode_audio(path, synth_song(v_ref, a_ref, seed=seed, sr=AUDIO_RATE), AUDIO_RATE)


def write_audio(songs: pd.DataFrame, folder: Path, seed: int = 0, workers: int = 2, progress: bool = True) -> int:
    """A short loop per song, synthesised from its V-A, as ``<folder>/<id>.flac`` (kept when already there)."""
    from multiprocessing import get_context

    from tqdm.auto import tqdm

    from emotune.utils.scales import DEAM_STATIC

    folder.mkdir(parents=True, exist_ok=True)
    ref = DEAM_STATIC.to_ref(songs[["valence", "arousal"]].to_numpy(float))
    jobs = [
        (sid, float(v), float(a), seed * 100_003 + int(sid), str(folder / f"{sid}.flac"))
        for sid, (v, a) in zip(songs["song_id"], ref)
        if not (folder / f"{sid}.flac").is_file()
    ]
    if not jobs:
        return 0
    bar = tqdm(total=len(jobs), desc="synthetic songs (audio)", unit="song", disable=not progress)
    if workers > 1:
        with get_context("fork").Pool(workers) as pool:
            for _ in pool.imap_unordered(_write_audio, jobs, chunksize=16):
                bar.update()
    else:
        for job in jobs:
            _write_audio(job)
            bar.update()
    bar.close()
    return len(jobs)


def write_deam_like(
    root: str | Path, n: int = 1802, seed: int = 0, audio: bool = True, progress: bool = True
) -> pd.DataFrame:
    """Write a DEAM-format catalogue under ``root`` in DEAM's folder layout (with audio); return the songs."""
    root = Path(root)
    songs = synthetic_songs(n, seed)
    if audio:
        write_audio(songs, root / "DEAM_audio" / "MEMD_audio", seed, progress=progress)
    ann = root / "DEAM_Annotations" / "annotations" / "annotations averaged per song" / "song_level"
    write_static_csvs(songs, ann)
    write_metadata(songs, root / "metadata")
    return songs
