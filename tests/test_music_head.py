"""The musicnn labeller's pieces: artist keys, artist-grouped folds, song vectors that load from a slim checkpoint
without musicnn's weights in it, and the music phase trained the Lightning way on the musicnn kind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from emotune.data.fourq import artist_key
from emotune.models.loading import load_phase_module
from emotune.models.music_cv import Songs, folds
from emotune.models.music_weights import default_music_checkpoint
from emotune.synthetic.music import synth_song

from .helpers.music import make_fourq


def test_artist_keys_group_credits_of_one_artist() -> None:
    assert artist_key("The Sir Douglas Quintet + 2") == artist_key("Sir Douglas Quintet") == "sirdouglasquintet"
    assert artist_key("Bob Marley & The Wailers") == artist_key("bob marley") == "bobmarley"
    assert artist_key("Beyoncé feat. Jay-Z") == "beyonce" and artist_key("") == ""
    assert artist_key("Simon") != artist_key("Garfunkel")


def test_folds_never_split_an_artist() -> None:
    rng = np.random.default_rng(0)
    groups = np.array([f"a{i // 3}" for i in range(60)])  # three songs per artist
    quadrant = np.array(["Q1", "Q2", "Q3", "Q4"])[rng.integers(0, 4, 60)]
    songs = Songs(rng.normal(size=(60, 4)), quadrant, groups, 2)
    for train, test in folds(songs, 5, 0):
        assert not set(groups[train]) & set(groups[test]) and len(test) > 0


def test_packaged_labeller_is_slim_and_rebuilds_musicnn_from_its_wheel() -> None:
    ckpt = default_music_checkpoint()
    raw = torch.load(ckpt, map_location="cpu", weights_only=True)
    assert not any("timbral" in k or "extractor" in k for k in raw["state_dict"])  # the wheel holds the network
    model = load_phase_module(ckpt, "music")
    assert model.kind == "musicnn" and model.extractor is not None and model.data_config["sample_rate"] == 16000
    audio = synth_song(0.6, 0.6, seed=1, sr=16000, seconds=12.0)
    mean, var = model.predict_audio(audio)
    assert mean.shape == (2,) and np.all(var > 0) and np.array_equal(mean, model.predict_audio(audio)[0])


def test_music_phase_trains_on_the_musicnn_kind(make_cfg, tmp_path: Path) -> None:
    from emotune.runtime.train import train

    root = tmp_path / "music4q"
    make_fourq(root, per_quadrant=4, seconds=3.5)
    cfg = make_cfg("phase=music", "data=fourq", f"data.root={root}", "model=music_musicnn", "trainer.max_epochs=2",
                   "model.features.patches=1", f"data.split_file={tmp_path / 'splits.csv'}")  # fmt: skip
    _, objs = train(cfg)
    module = objs["model"]
    assert module.kind == "musicnn" and len(module._vectors) >= 10  # each song's vector computed once, remembered
    from emotune.models.loading import best_checkpoint

    model = load_phase_module(best_checkpoint(Path(cfg.paths.output_dir)), "music")
    assert bool(model.backbone.body.fitted)
    mean, _ = model.predict_audio(synth_song(-0.5, 0.5, seed=3, sr=16000, seconds=4.0))
    assert np.isfinite(mean).all()


@pytest.mark.parametrize("bad", ["model.features.descriptors.sample_rate=22050", "model.features.patches=0"])
def test_musicnn_settings_are_checked(make_cfg, bad: str) -> None:
    from emotune.utils.errors import ConfigError
    from emotune.utils.instantiators import instantiate

    cfg = make_cfg("phase=music", "model=music_musicnn", bad)
    with pytest.raises(ConfigError):
        instantiate(cfg.model, _recursive_=False)
