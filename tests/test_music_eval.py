"""``make eval-music``: labellers side by side, scored only on clips they were not fitted on; on the real held-out
4Q clips the packaged labeller must meet the issue's targets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from emotune.eval.music import Labeller, evaluate, flat, fourq_metrics, labellers_from_args, main
from emotune.models.music_weights import default_music_checkpoint, read_sidecar

from .helpers.music import make_fourq, make_pmemo_samples
from .helpers.real_data import REAL, REAL_MUSIC4Q, needs


def test_metrics_are_what_they_claim() -> None:
    q = np.array(["Q1", "Q2", "Q3", "Q4"] * 5)
    perfect = np.array([{"Q1": (1, 1), "Q2": (-1, 1), "Q3": (-1, -1), "Q4": (1, -1)}[x] for x in q], float) * 0.3
    m = fourq_metrics(perfect, q)
    assert m["valence_auc"] == 1.0 and m["arousal_auc"] == 1.0 and m["quadrant_acc"] == 1.0 and m["n"] == 20
    flipped = fourq_metrics(-perfect, q)
    assert flipped["valence_auc"] == 0.0 and flipped["quadrant_acc"] == 0.0
    const = fourq_metrics(np.zeros((20, 2)), q)
    assert const["valence_auc"] == 0.5 and const["quadrant_acc"] == 0.25  # every clip called Q1
    assert const["valence_auc_lo"] <= const["valence_auc"] <= const["valence_auc_hi"]


def test_eval_on_synthetic_sets_excludes_fitted_clips(tmp_path: Path, trained_music: Path) -> None:
    data = tmp_path / "real"
    ids = make_fourq(data / "music4q", per_quadrant=3, seconds=3.0)
    make_pmemo_samples(data / "pmemo", seconds=3.0)
    default = default_music_checkpoint()
    fitted_one = {"fourq": {ids["good"][0]}}  # pretend the head saw this clip: it must not be scored
    labs = [
        Labeller("demo", "tiny log-mel", trained_music, {}),
        Labeller("real (default)", "packaged", default, fitted_one),
        Labeller("constant", "centre", None, {}),
    ]
    res = evaluate(data, labs, progress=False)
    assert set(res) == {"fourq", "fourq_own", "pmemo"}
    assert res["fourq"]["demo"]["n"] == 11 and res["fourq_own"]["demo"]["n"] == 12  # garbage clip: no prediction
    assert res["fourq_own"]["real (default)"]["n"] == 11 and res["fourq"]["constant"]["valence_auc"] == 0.5
    assert res["fourq"]["constant"]["n"] == 11  # the same clips: not the undecodable one
    assert res["pmemo"]["real (default)"]["n"] == 4 and np.isnan(res["pmemo"]["constant"]["valence_pearson"])
    keys = flat(res)
    assert keys["fourq/constant/quadrant_acc"] == round(2 / 11, 4)  # the centre reads Q1: 2 of the 11 scored clips
    assert "pmemo/real (default)/arousal_pearson" in keys


def test_cli_writes_json_and_report(tmp_path: Path) -> None:
    data = tmp_path / "real"
    make_fourq(data / "music4q", per_quadrant=2, seconds=3.0)
    out, doc = tmp_path / "eval", tmp_path / "music.md"
    main(["--data", str(data), "--demo", str(tmp_path / "none.ckpt"), "--out", str(out), "--doc", str(doc)])
    keys = json.loads((out / "music.json").read_text())
    assert "fourq/real (default)/valence_auc" in keys and "fourq/constant/n" in keys
    assert doc.read_text() == (out / "music.md").read_text() and "| real (default) |" in doc.read_text()


def test_cli_without_any_music_set_is_one_error_line(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--data", str(tmp_path), "--out", str(tmp_path / "o")])
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
    assert exc.value.code == 2 and len(err) == 1 and "expected music4q/" in err[0]


def test_packaged_head_is_small_and_says_what_trained_it() -> None:
    ckpt = default_music_checkpoint()
    meta = read_sidecar(ckpt)
    assert ckpt.stat().st_size < 1_000_000 and meta["data"]["format"] == "fourq"
    assert len(meta["fitted_on"]) == meta["split"]["sizes"]["train"] + meta["split"]["sizes"]["val"]
    assert not set(meta["fitted_on"]) & set(meta["test_ids"]) and "experiment=music_fourq" in meta["commands"][0]


@needs(REAL_MUSIC4Q)
def test_default_labeller_meets_the_targets_on_real_clips_it_never_saw() -> None:
    labs = [lab for lab in labellers_from_args(None, []) if lab.name != "constant"]
    res = evaluate(REAL, labs, progress=False)["fourq"]["real (default)"]
    assert res["n"] == len(read_sidecar(default_music_checkpoint())["test_ids"]) == 48
    assert res["valence_auc"] >= 0.70 and res["arousal_auc"] >= 0.88, res
    assert res["quadrant_acc"] > 0.4, res  # chance: 0.25
