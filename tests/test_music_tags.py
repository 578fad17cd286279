"""Mood tags written into the files (``make library ... WRITE_TAGS=1``): every format's fields read back with mutagen,
the decoded audio is bit-identical before and after, a file that cannot be tagged is listed and left byte-identical,
and a tagged file counts as unchanged on the next run."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from emotune.audio.io import decode_audio, encode_audio
from emotune.audio.tags import AROUSAL, MOOD, VALENCE, mood_word, read_mood_tags, write_mood_tags
from emotune.synthetic.music import synth_song
from emotune.utils.errors import DataError

SR = 22050


def sha(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("suffix", [".mp3", ".ogg", ".flac", ".m4a", ".wav"])
def test_tags_read_back_and_the_audio_is_untouched(tmp_path: Path, suffix: str) -> None:
    path = encode_audio(tmp_path / f"song{suffix}", synth_song(0.5, -0.3, seed=1, sr=SR, seconds=3.0), SR)
    before = decode_audio(path, SR)
    assert write_mood_tags(path, 0.62, -0.41) is True
    assert read_mood_tags(path) == {VALENCE: "+0.62", AROUSAL: "-0.41", MOOD: mood_word(0.62, -0.41)}
    after = decode_audio(path, SR)
    assert before.dtype == after.dtype and np.array_equal(before, after)  # bit-identical samples
    same = sha(path)
    assert write_mood_tags(path, 0.62, -0.41) is False and sha(path) == same  # already there: nothing written
    assert write_mood_tags(path, -0.9, 0.9) is True and read_mood_tags(path)[MOOD] == "angry"
    assert not list(tmp_path.glob(".*"))  # no temporary copy left behind


def test_a_broken_or_untaggable_file_is_reported_and_left_byte_identical(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp3"
    broken.write_bytes(b"\xff\xfb\x90\x00 not an mp3 frame at all" * 50)
    text = tmp_path / "notes.ogg"
    text.write_text("an ogg by name only\n")
    for path in (broken, text):
        before = sha(path)
        with pytest.raises(DataError, match="not tagged"):
            write_mood_tags(path, 0.1, 0.2)
        assert sha(path) == before
    assert not list(tmp_path.glob(".*"))


def test_mood_words_follow_the_plane() -> None:
    assert mood_word(0.0, 0.05) == "neutral"
    assert (mood_word(0.8, 0.8), mood_word(0.3, 0.2)) == ("euphoric", "happy")
    assert (mood_word(-0.3, -0.2), mood_word(0.2, -0.3), mood_word(-0.3, 0.3)) == ("sad", "calm", "tense")


def test_library_writes_tags_once_and_lists_what_it_could_not_tag(tmp_path: Path) -> None:
    from emotune.runtime.library import label_folder

    music = tmp_path / "m"
    music.mkdir()
    for i, suffix in enumerate((".mp3", ".flac", ".m4a")):
        encode_audio(music / f"s{i}{suffix}", synth_song(0.6 - 0.5 * i, 0.4, seed=i, sr=SR, seconds=4.0), SR)
    (music / "bad.mp3").write_bytes(b"ID3\x03\x00 broken" * 30)
    before = {p.name: decode_audio(p, SR) for p in music.glob("s*")}
    out = tmp_path / "songs.csv"
    rep = label_folder(music, out, progress=False, workers=0, write_tags=True)
    assert rep["tagged"] == 3 and set(rep["errors"]) == {"bad.mp3"} and rep["untaggable"] == {}
    for p in music.glob("s*"):
        tags = read_mood_tags(p)
        assert set(tags) == {VALENCE, AROUSAL, MOOD} and np.array_equal(decode_audio(p, SR), before[p.name])
    again = label_folder(music, out, progress=False, workers=0, write_tags=True)
    assert again["labelled"] == 0 and again["unchanged"] == 3 and again["tagged"] == 0  # tagged files are unchanged
