"""``make library`` with the packaged real-music labeller: a folder of tagged ogg/mp3 files with a broken file and a
text file among them (real 4Q clips when ``../shared`` is at hand, synthesised songs always), the plain-CSV
catalogue that spreadsheets, pandas, ``csv.DictReader`` and ``catalog=csv`` read as is, and old catalogues."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from emotune.audio.io import decode_audio, encode_audio
from emotune.runtime.library import label_folder, main
from emotune.synthetic.music import synth_song
from emotune.utils.errors import DataError

from .helpers.configs import read_catalog
from .helpers.real_data import REAL_MUSIC4Q, needs

SR = 22050


def tag(path: Path, title: str, artist: str) -> Path:
    import mutagen

    f = mutagen.File(path, easy=True)
    if f.tags is None:
        f.add_tags()
    f["title"], f["artist"] = title, artist
    f.save()
    return path


def broken_and_text(folder: Path, source: Path) -> None:
    """A truncated copy of a real mp3, a garbage .mp3 and a text file."""
    (folder / "cut.mp3").write_bytes(source.read_bytes()[:1500])  # a few frames: under a second of audio
    (folder / "garbage.mp3").write_bytes(b"ID3\x03\x00\x00\x00 definitely not audio" * 40)
    (folder / "notes.txt").write_text("a playlist I meant to make\n")


def check_catalogue(out: Path, titles: set[str]) -> pd.DataFrame:
    """The catalogue is a plain CSV with a scale column, read back by every reader with no other setting."""
    text = out.read_text(encoding="utf-8")
    assert text.startswith("song_id,valence,arousal,")
    df = pd.read_csv(out)
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert len(rows) == len(df) and set(df["title"]) == titles and set(df["scale"]) == {"reference"}
    assert df[["valence", "arousal"]].abs().le(1).all().all() and (df[["valence_sd", "arousal_sd"]] > 0).all().all()
    cat = read_catalog(out)
    assert cat.scale.name == "reference" and len(cat) == len(df) and "scale" not in cat.songs.columns
    return df


def test_library_on_synthetic_tagged_files_with_the_default_labeller(tmp_path: Path) -> None:
    music = tmp_path / "Music"
    (music / "Album").mkdir(parents=True)
    titles = set()
    for i, (v, a) in enumerate([(0.8, 0.8), (-0.7, 0.7), (-0.7, -0.8), (0.6, -0.6), (0.2, 0.1), (-0.3, 0.4)]):
        path = encode_audio(music / "Album" / f"{i:02d}.mp3", synth_song(v, a, seed=i, sr=SR, seconds=8.0), SR)
        tag(path, f"Tune {i}", "Synth Band")
        titles.add(f"Tune {i}")
    ogg = encode_audio(music / "opus.ogg", synth_song(0.5, -0.5, seed=7, sr=SR, seconds=8.0), SR)
    tag(ogg, "An Ogg Tune", "Synth Band")
    titles.add("An Ogg Tune")
    broken_and_text(music, music / "Album" / "00.mp3")
    out = tmp_path / "songs.csv"
    rep = label_folder(music, out, progress=False, workers=2)
    assert rep["files"] == 9 and rep["labelled"] == 7 and set(rep["errors"]) == {"cut.mp3", "garbage.mp3"}
    assert Path(rep["model"]).name == "music_fourq.ckpt"  # the packaged head, no training needed
    df = check_catalogue(out, titles)
    synth = df.set_index("title")
    assert synth.loc["Tune 0", "arousal"] > synth.loc["Tune 2", "arousal"]  # fast, loud, bright above slow, soft
    again = label_folder(music, out, progress=False, workers=2)
    assert again["labelled"] == 0 and again["unchanged"] == 7 and again["unreadable"] == 2


def test_old_catalogues_with_a_scale_line_still_read(tmp_path: Path) -> None:
    old = tmp_path / "old.csv"
    old.write_text("# scale: reference\nsong_id,valence,arousal,title\na,0.5,-0.2,A\nb,-0.9,0.9,B\n")
    cat = read_catalog(old)
    assert cat.scale.name == "reference" and len(cat) == 2
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("song_id,valence,arousal,scale\na,0.5,0.5,reference\nb,5,5,deam_static\n")
    with pytest.raises(DataError, match="several scales"):
        read_catalog(mixed)
    plain = tmp_path / "plain.csv"
    plain.write_text("song_id,valence,arousal\na,5,5\n")
    assert read_catalog(plain).scale.name == "deam_static"  # no declaration: DEAM's 1..9, as before


def test_library_cli_default_model_needs_no_flag(tmp_path: Path, capsys) -> None:
    music = tmp_path / "m"
    music.mkdir()
    encode_audio(music / "a.mp3", synth_song(0.1, 0.1, seed=1, sr=SR, seconds=4.0), SR)
    main([f"music={music}", f"out={tmp_path / 's.csv'}", "workers=0"])
    assert "1 songs labelled" in capsys.readouterr().out and (tmp_path / "s.csv").is_file()


@needs(REAL_MUSIC4Q)
def test_library_on_real_tagged_ogg_and_mp3_with_a_broken_and_a_text_file(tmp_path: Path) -> None:
    music = tmp_path / "Real Music"
    music.mkdir()
    titles = set()
    for q in ("Q1", "Q2", "Q3", "Q4"):
        src = sorted((REAL_MUSIC4Q / q).glob("*.mp3"))[-1]
        tag(Path(shutil.copy(src, music / f"{q} {src.name}")), f"Real {q}", "4Q")
        titles.add(f"Real {q}")
    audio = decode_audio(sorted((REAL_MUSIC4Q / "Q1").glob("*.mp3"))[0], 48000, duration_s=20.0)
    tag(encode_audio(music / "real.ogg", audio, 48000), "Real Ogg", "4Q")  # an ogg made with PyAV from a real clip
    titles.add("Real Ogg")
    broken_and_text(music, sorted((REAL_MUSIC4Q / "Q2").glob("*.mp3"))[0])
    out = tmp_path / "songs.csv"
    rep = label_folder(music, out, progress=False, workers=2)
    assert rep["files"] == 7 and rep["labelled"] == 5 and set(rep["errors"]) == {"cut.mp3", "garbage.mp3"}
    df = check_catalogue(out, titles)
    assert np.isfinite(df[["valence", "arousal"]].to_numpy()).all() and df["duration_s"].between(15, 35).all()
