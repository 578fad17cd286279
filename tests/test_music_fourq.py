"""The 4Q and PMEmo loaders on their published layouts, and ``phase=music data=fourq experiment=music_fourq``
through Lightning into a checkpoint that loads safely and labels audio with σ."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from emotune.data.fourq import load_fourq, quadrant_of
from emotune.data.pmemo import load_pmemo
from emotune.models.loading import best_checkpoint
from emotune.runtime.entry import run_train
from emotune.utils.errors import DataError, MissingResourceError

from .helpers.music import make_fourq, make_pmemo_samples
from .helpers.real_data import REAL_MUSIC4Q, REAL_PMEMO, needs


@pytest.fixture(scope="module")
def fourq_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("music4q")
    return root, make_fourq(root)


def test_fourq_loader_targets_counts_and_latin1_metadata(fourq_root) -> None:
    root, ids = fourq_root
    cat = load_fourq(root)
    s = cat.songs.set_index("song_id")
    assert len(cat) == 22 and cat.scale.name == "reference"
    assert cat.dropped["missing_audio"] == 1 and cat.dropped["unannotated_audio"] == 1
    assert s.loc[ids["missing"][0], "path"] == "" and s.loc[ids["good"][0], "path"].endswith(".mp3")
    for q, (v, a) in {"Q1": (0.5, 0.5), "Q2": (-0.5, 0.5), "Q3": (-0.5, -0.5), "Q4": (0.5, -0.5)}.items():
        rows = s[s["quadrant"] == q]
        assert (rows["valence"] == v).all() and (rows["arousal"] == a).all(), q
    assert (quadrant_of(cat.va_ref) == cat.songs["quadrant"].to_numpy()).all()
    good = s.loc[ids["good"][0]]
    assert good["title"] == "Chanson 0 é" and good["genre"] == "Pop/Rock"  # Latin-1 read, first genre kept


def test_fourq_wrong_layout_says_what_was_expected(tmp_path: Path) -> None:
    (tmp_path / "songs").mkdir()
    (tmp_path / "songs" / "a.mp3").write_bytes(b"x")
    with pytest.raises(DataError, match=r"expected Q1/..Q4/<Song>.mp3 beside panda_dataset_taffc_annotations.csv"):
        load_fourq(tmp_path)
    with pytest.raises(MissingResourceError, match="4Q folder not found"):
        load_fourq(tmp_path / "nope")
    (tmp_path / "Q1").mkdir()
    (tmp_path / "panda_dataset_taffc_annotations.csv").write_text("Clip,Label\na,Q1\n")
    with pytest.raises(DataError, match="expected columns Song,Quadrant"):
        load_fourq(tmp_path)


def test_wrong_layout_through_train_is_one_error_line(make_cfg, tmp_path: Path, capsys) -> None:
    cfg = make_cfg("phase=music", "data=fourq", f"data.root={tmp_path}", "experiment=music_fourq",
                   f"data.split_file={tmp_path / 'splits.csv'}")  # fmt: skip
    with pytest.raises(SystemExit) as exc:
        run_train(cfg)
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
    assert exc.value.code == 2 and len(err) == 1 and "expected Q1/..Q4/<Song>.mp3" in err[0], err


def test_pmemo_sample_and_published_layouts(tmp_path: Path) -> None:
    va = make_pmemo_samples(tmp_path / "samples")
    cat = load_pmemo(tmp_path / "samples")
    got = {r.song_id: (r.valence, r.arousal) for r in cat.songs.itertuples()}
    assert got == va and cat.songs["path"].str.endswith(".mp3").all() and cat.scale.name == "pmemo_static"
    assert np.allclose(cat.va_ref[0], 2 * np.array(va[cat.songs["song_id"][0]]) - 1)
    pub = tmp_path / "PMEmo2019"
    (pub / "annotations").mkdir(parents=True)
    (pub / "chorus").mkdir()
    (pub / "annotations" / "static_annotations.csv").write_text(
        "musicId,Arousal(mean),Valence(mean)\n1,0.9,0.1\n2,0.3,0.7\n3,,0.5\n"
    )
    (pub / "metadata.csv").write_text("musicId,fileName,title,artist,album,duration\n1,1.mp3,Loud,A,B,30\n")
    (pub / "chorus" / "1.mp3").write_bytes((tmp_path / "samples" / "11.mp3").read_bytes())
    cat = load_pmemo(pub)
    s = cat.songs.set_index("song_id")
    assert list(s.index) == ["1", "2"] and cat.dropped["nan"] == 1 and cat.dropped["missing_audio"] == 1
    assert (s.loc["1", "valence"], s.loc["1", "arousal"], s.loc["1", "title"]) == (0.1, 0.9, "Loud")  # arousal first
    with pytest.raises(DataError, match="not a PMEmo folder"):
        load_pmemo(tmp_path / "PMEmo2019" / "chorus")


def test_music_phase_trains_on_fourq_and_loads_safely(make_cfg, fourq_root, tmp_path: Path) -> None:
    from emotune.models.loading import load_phase_module
    from emotune.runtime.train import train
    from emotune.synthetic.music import synth_song

    root, _ = fourq_root
    cfg = make_cfg("phase=music", "data=fourq", f"data.root={root}", "experiment=music_fourq",
                   f"data.split_file={tmp_path / 'splits.csv'}", "trainer.max_epochs=3")  # fmt: skip
    _, objs = train(cfg)
    out = Path(cfg.paths.output_dir)
    stats = json.loads((out / "data_stats.json").read_text())
    assert stats["unreadable_audio"] == 1 and stats["songs_without_audio"] == 1  # the garbage clip, the missing one
    assert sum(stats["sizes"].values()) == 20 and set(stats["song_ids"]) == {"train", "val", "test"}
    ckpt = best_checkpoint(out)
    raw = torch.load(ckpt, map_location="cpu", weights_only=True)  # plain data only
    assert raw["hyper_parameters"]["data_config"]["kind"] == "descriptors"
    model = load_phase_module(ckpt, "music")
    body = model.backbone.body
    assert bool(body.fitted) and body.scale.numel() == model.backbone.num_features  # fitted on the training songs
    train_x = objs["datamodule"].train_inputs()
    assert torch.allclose(body.mean, train_x.mean(0), atol=1e-4)
    mean, var = model.predict_audio(synth_song(0.5, 0.5, seed=3, sr=22050, seconds=6.0))
    assert mean.shape == (2,) and np.all(var > 0) and np.all(np.isfinite(mean))


@needs(REAL_MUSIC4Q)
def test_real_fourq_folder_reads_as_published() -> None:
    cat = load_fourq(REAL_MUSIC4Q)
    # the folder's own files say what it holds (it grows): read them with the csv module, not the loader
    with (REAL_MUSIC4Q / "panda_dataset_taffc_annotations.csv").open(newline="") as f:
        quadrants = [row["Quadrant"] for row in csv.DictReader(f)]
    with (REAL_MUSIC4Q / "panda_dataset_taffc_metadata.csv").open(newline="", encoding="latin-1") as f:
        artists = [row["Artist"].strip() for row in csv.DictReader(f)]
    on_disk = sum(1 for _ in REAL_MUSIC4Q.glob("Q?/*.mp3"))
    assert len(cat) == len(quadrants) == on_disk and cat.dropped["missing_audio"] == 0
    assert cat.songs["quadrant"].value_counts().to_dict() == dict(Counter(quadrants))
    assert (cat.songs["title"] != "").all() and (cat.songs["artist"] != "").sum() == sum(map(bool, artists))


@needs(REAL_PMEMO)
def test_real_pmemo_samples_match_their_index() -> None:
    cat = load_pmemo(REAL_PMEMO)
    index = {str(r["id"]): (r["v"], r["a"]) for r in json.loads((REAL_PMEMO / "index.json").read_text())}
    assert {r.song_id: (r.valence, r.arousal) for r in cat.songs.itertuples()} == index
    assert list(quadrant_of(cat.va_ref)) == ["Q1", "Q2", "Q3", "Q4"]  # one per quadrant, ids in order
