"""Music you can hear: the soundtrack, annotated.mp4 at the source's frame rate, the music phase and
`make library` on a folder of audio files (with a broken one among them)."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

from emotune.audio.io import decode_audio, encode_audio
from emotune.audio.soundtrack import build_soundtrack
from emotune.synthetic.music import synth_song

from .conftest import infer_overrides
from .helpers.configs import build, read_catalog

SR = 16000


def _song(path: Path, v: float, a: float, seconds: float = 4.0, tags: dict | None = None) -> Path:
    encode_audio(path, synth_song(v, a, seed=1, sr=SR, seconds=seconds), SR)
    if tags:
        from mutagen.easyid3 import EasyID3

        id3 = EasyID3()
        for k, val in tags.items():
            id3[k] = val
        id3.save(path)
    return path


def test_soundtrack_length_switches_silence_and_clip_audio(tmp_path: Path) -> None:
    loud = _song(tmp_path / "a.mp3", 0.8, 0.9)
    songs = [{"song_id": "a", "path": str(loud), "start_s": 0.0, "end_s": 10.0},
             {"song_id": "gone", "path": str(tmp_path / "missing.mp3"), "start_s": 10.0, "end_s": 20.0},
             {"song_id": "a2", "path": str(loud), "start_s": 20.0, "end_s": 25.3}]  # fmt: skip
    settings = build("soundtrack", sample_rate=SR, crossfade_s=1.0, clip_gain=0.0)
    track, rep = build_soundtrack(songs, 25.3, settings)
    assert abs(len(track) / SR - 25.3) < 0.1 and rep["songs_silent"] == ["gone"] and rep["songs_with_audio"] == 2
    rms = [float(np.sqrt(np.mean(track[int(t * SR) : int((t + 0.25) * SR)] ** 2))) for t in np.arange(0, 25, 0.25)]
    on = np.array(rms) > 0.02
    assert on[: int(9.4 / 0.25)].all() and not on[int(10.6 / 0.25) : int(19.4 / 0.25)].any()  # silence for "gone"
    first_silent = np.argmax(~on) * 0.25
    assert abs(first_silent - 10.0) <= 0.5 and abs(np.argmax(on[80:]) * 0.25 + 20.0 - 20.0) <= 0.5  # switches land
    hum = 0.5 * np.sin(2 * np.pi * 220 * np.arange(int(25.3 * SR)) / SR).astype(np.float32)
    mixed, rep2 = build_soundtrack(songs, 25.3, build("soundtrack", sample_rate=SR, clip_gain=0.3), clip_audio=hum)
    quiet = mixed[int(14 * SR) : int(16 * SR)]  # no song here: only the clip's audio, at its gain
    assert rep2["clip_audio"] and np.sqrt(np.mean(quiet**2)) == pytest.approx(0.3 * 0.5 / np.sqrt(2), rel=0.05)


def test_render_writes_the_annotated_clip_with_its_soundtrack(make_cfg, trained, synth_root: Path) -> None:
    from emotune.runtime.infer import infer

    clip = synth_root / "videos" / "clip.mp4"
    cfg = make_cfg(*infer_overrides(trained, clip, "render=true"), config_name="infer")
    summary = infer(cfg)
    out = Path(cfg.paths.output_dir)
    with av.open(str(out / "annotated.mp4")) as c:
        v = c.streams.video[0]
        frames = sum(1 for _ in c.decode(v))
        assert frames == 60 and float(v.average_rate) == pytest.approx(10.0)  # the source's count and rate
        assert c.streams.audio, "no soundtrack in annotated.mp4"
    track = decode_audio(out / "soundtrack.m4a", 16000)
    assert abs(len(track) / 16000 - 6.0) < 0.1  # the video's length
    assert summary["soundtrack"]["songs_with_audio"] == len(summary["songs"])  # the synthetic songs have audio
    assert np.sqrt(np.mean(track**2)) > 0.01
    assert json.loads((out / "summary.json").read_text())["annotated"]["frames"] == 60


def test_music_phase_checkpoint_labels_audio(trained_music: Path) -> None:
    from emotune.models.loading import load_phase_module

    model = load_phase_module(trained_music, "music")
    mean, var = model.predict_audio(synth_song(0.5, 0.5, seed=3, sr=SR, seconds=8.0))
    assert mean.shape == (2,) and var.shape == (2,) and np.all(var > 0) and np.all(np.abs(mean) < 5)
    assert model.data_config["sample_rate"] == SR and model.label_scale.name == "deam_static"


def test_library_labels_a_folder_incrementally_and_infer_plays_it(make_cfg, trained, trained_music: Path,
                                                                   synth_root: Path, tmp_path: Path) -> None:  # fmt: skip
    from emotune.runtime.infer import infer
    from emotune.runtime.library import label_folder

    music = tmp_path / "My Music"
    (music / "Album One").mkdir(parents=True)
    for i, (v, a) in enumerate([(0.8, 0.8), (-0.8, 0.7), (-0.7, -0.8), (0.6, -0.6), (0.1, 0.1), (-0.2, 0.5)]):
        tags = {"title": f"Song {i}", "artist": "The Testers", "album": "One", "genre": "Synth"} if i < 3 else None
        _song(music / "Album One" / f"track {i}.mp3", v, a, tags=tags)
    (music / "broken.mp3").write_bytes(b"ID3 this is not audio at all")
    (music / "cover.jpg").write_bytes(b"\xff\xd8 not music")
    out = tmp_path / "songs.csv"
    rep = label_folder(music, out, trained_music, progress=False, workers=0)
    assert (rep["files"], rep["labelled"], rep["unreadable"]) == (7, 6, 1) and "broken.mp3" in rep["errors"]
    assert out.read_text().startswith("song_id,valence,arousal,")  # a plain CSV: the header first
    again = label_folder(music, out, trained_music, progress=False, workers=0)
    assert again["labelled"] == 0 and again["unchanged"] == 6  # unchanged files are skipped
    cat = read_catalog(out)
    assert cat.scale.name == "reference" and len(cat) == 6
    assert set(cat.songs["title"]) >= {"Song 0", "Song 1", "Song 2", "track 3"}  # tags, else the file name
    cfg = make_cfg(*infer_overrides(trained, synth_root / "videos" / "clip.mp4", "render=true", "catalog=csv",
                                    f"catalog.path={out}"), config_name="infer")  # fmt: skip
    summary = infer(cfg)
    assert summary["catalog"]["scale"] == "reference" and summary["soundtrack"]["songs_with_audio"] >= 1


def test_library_cli_errors_in_one_line(tmp_path: Path, capsys) -> None:
    from emotune.runtime.library import main

    for args, needle in (([f"music={tmp_path / 'nope'}"], "is not a folder"),
                         ([f"music={tmp_path}", f"ckpt={tmp_path / 'x.ckpt'}"], "No music model"),
                         ([f"music={tmp_path}", "--out", "x"], "--out")):  # fmt: skip
        with pytest.raises(SystemExit) as exc:
            main(args)
        assert exc.value.code == 2 and needle in capsys.readouterr().err
