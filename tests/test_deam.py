"""DEAM loaders: the real CSVs when present, and project-made files with every quirk."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from emotune.data.deam import load_deam, read_dynamic, read_static
from emotune.synthetic.songs import synthetic_songs, write_deam_like
from emotune.utils.errors import DataError, MissingResourceError

from .helpers.configs import read_catalog
from .helpers.real_data import SHARED_DEAM, needs


@needs(SHARED_DEAM)
def test_real_deam_static_csvs() -> None:
    cat = load_deam(SHARED_DEAM)
    assert len(cat) == 1802
    ids = pd.to_numeric(cat.songs["song_id"])
    assert (ids <= 2000).sum() == 1744 and ids.between(2001, 2058).sum() == 58
    assert cat.va.min() >= 1 and cat.va.max() <= 9


@pytest.mark.parametrize("pad", [False, True])
def test_quirky_static_files_roundtrip(tmp_path: Path, pad: bool) -> None:
    from emotune.data.deam import write_static_csvs

    songs = synthetic_songs(1802, seed=1)
    files = write_static_csvs(songs, tmp_path / "deep" / "song_level", pad=pad)
    raw = files[1].read_bytes()
    assert b"\r\n" in raw and b" valence_ max_mean" in raw and raw.startswith(b"song_id, valence_mean")
    got = read_static(files[1])
    assert got["song_id"].tolist() == [str(i) for i in range(2001, 2059)]
    cat = load_deam(tmp_path)
    assert len(cat) == 1802
    np.testing.assert_allclose(cat.va, songs[["valence", "arousal"]].to_numpy(), atol=0.01)


def test_metadata_merged_by_normalised_names(tmp_path: Path) -> None:
    songs = write_deam_like(tmp_path, n=1802, seed=2)
    cat = load_deam(tmp_path)
    merged = cat.songs.set_index("song_id")
    for sid in ("2001", songs["song_id"].iloc[0], songs["song_id"].iloc[1200]):
        want = songs.set_index("song_id").loc[sid]
        assert merged.loc[sid, "title"] == want["title"] and merged.loc[sid, "genre"] == want["genre"]
    assert merged.loc["2001", "duration_s"] != merged.loc["2001", "duration_s"]  # full song: unknown length
    assert cat.filter(genre="Jazz").songs["genre"].eq("Jazz").all()


def test_dynamic_ragged_rows(tmp_path: Path) -> None:
    p = tmp_path / "arousal.csv"
    p.write_text(
        "song_id,sample_15000ms,sample_15500ms,sample_16000ms\r\n2, 0.1 ,0.2,\r\n2001,0.3,0.4,0.5\r\n3,-0.1\r\n"
    )
    long = read_dynamic(p)
    assert long.groupby("song_id").size().to_dict() == {"2": 2, "2001": 3, "3": 1}
    assert long["t_s"].min() == 15.0 and long["value"].between(-1, 1).all()


def test_missing_deam_folder_and_files(tmp_path: Path) -> None:
    with pytest.raises(MissingResourceError, match="DEAM folder not found"):
        load_deam(tmp_path / "nope")
    with pytest.raises(MissingResourceError, match="No DEAM static annotation CSV"):
        load_deam(tmp_path)


def test_user_csv_catalog_cleaning(tmp_path: Path) -> None:
    p = tmp_path / "lib.csv"
    p.write_text("song_id,valence,arousal,title,path\na,5,5,A,songs/a.mp3\nb,,4,B,\nc,12,3,C,\na,6,6,A2,\nd,0.5,2,D,\n")
    cat = read_catalog(p)
    assert cat.songs["song_id"].tolist() == ["a"] and cat.dropped == {
        "nan": 1,
        "out_of_range": 2,
        "duplicate_id": 1,
    }
    assert cat.songs["path"].iloc[0].endswith("songs/a.mp3")
    p.write_text("song_id,valence\n1,2\n")
    with pytest.raises(DataError, match="lacks column"):
        read_catalog(p)
    p.write_text("song_id,valence,arousal\n1,nan,3\n")
    with pytest.raises(DataError, match="no songs left"):
        read_catalog(p)
    p.write_text("song_id,valence,arousal,path\n1,5,5,../../x.mp3\n")
    with pytest.raises(DataError, match="leaves its root"):
        read_catalog(p)
