"""The page's "Your music" tab without a browser: labels a folder (incremental, unreadable files listed, never fatal)
and points the catalogue at it; on a non-loopback address it is refused, in the page and in the handler."""

from __future__ import annotations

from pathlib import Path

from emotune.app.music_tab import MusicFolder, local_only
from emotune.audio.io import encode_audio
from emotune.synthetic.music import synth_song

from .helpers.configs import read_catalog

SR = 22050


def test_a_folder_is_labelled_incrementally_and_becomes_the_catalogue(tmp_path: Path) -> None:
    music = tmp_path / "My Music"
    music.mkdir()
    for i in range(3):
        encode_audio(music / f"tune {i}.mp3", synth_song(0.5 - 0.4 * i, 0.3, seed=i, sr=SR, seconds=4.0), SR)
    (music / "broken.mp3").write_bytes(b"ID3 not audio" * 20)
    seen: list[tuple[float, str]] = []
    labeller = MusicFolder("127.0.0.1", tmp_path / "library")
    status, table, out = labeller.label(str(music), lambda f, d: seen.append((f, d)))
    assert out is not None and table is not None and len(table) == 3 and "3 new" in status, status
    assert "broken.mp3" in status and "unreadable" in status
    assert seen and seen[-1][0] == 1.0 and all(0 <= f <= 1 for f, _ in seen)  # the progress bar's values
    assert len(read_catalog(Path(out))) == 3
    status, _, again = labeller.label(str(music))
    assert again == out and "0 new, 3 unchanged" in status  # unchanged files are not redone
    for bad, needle in (("", "type the folder"), (str(tmp_path / "nope"), "not a folder")):
        status, table, out = labeller.label(bad)
        assert out is None and table is None and needle in status, status


def test_the_folder_option_is_refused_off_loopback(tmp_path: Path) -> None:
    assert local_only("127.0.0.1") and local_only("localhost") and not local_only("0.0.0.0")
    status, table, out = MusicFolder("0.0.0.0", tmp_path / "library").label(str(tmp_path))
    assert out is None and table is None and "only offered while the page is served on 127.0.0.1" in status
    assert not (tmp_path / "library").exists()  # nothing was read or written
