"""``make eval-music``: the labellers side by side, every prediction honest (a checkpoint on clips it was not fitted
on, the packaged head out of fold through its recipe, the baseline out of fold); counts come from the folder's own
annotation file and the sidecars, never from numbers written here."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from emotune.eval.music import evaluate, flat, fourq_metrics, labellers_from_cfg, main
from emotune.models.music_weights import WEIGHTS_DIR, default_music_checkpoint, read_sidecar
from emotune.runtime.compose import compose_config

from .helpers.music import make_fourq, make_pmemo_samples
from .helpers.real_data import REAL, REAL_MUSIC4Q, needs

TINY_RECIPE = ["cv.outer_folds=2", "cv.inner_folds=2", "fit.epochs=3", "candidates.hidden=[null]",
               "candidates.inputs=[descriptors,both]", "model.features.patches=1"]  # fmt: skip


def annotated_ids(root: Path) -> list[str]:
    with (root / "panda_dataset_taffc_annotations.csv").open(newline="") as f:
        return [row["Song"] for row in csv.DictReader(f)]


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


def test_eval_scores_only_honest_predictions(tmp_path: Path, trained_music: Path) -> None:
    from emotune.runtime.music_head import main as fit_head

    data = tmp_path / "real"
    ids = make_fourq(data / "music4q", per_quadrant=5, seconds=3.0)
    make_pmemo_samples(data / "pmemo", seconds=3.0)
    head = tmp_path / "head.ckpt"
    fit_head([f"data_dir={data / 'music4q'}", f"out={head}", f"cache={tmp_path / 'cache'}", *TINY_RECIPE])
    meta = read_sidecar(head)
    assert sorted(meta["fitted_on"]) == sorted(ids["good"]) and meta["recipe_overrides"] == TINY_RECIPE
    cfg = compose_config("eval_music", [f"data_dir={data}", f"default={head}", f"out={tmp_path / 'eval'}",
                                        f"checkpoints.demo={trained_music}", "progress=false"], tmp_path)  # fmt: skip
    labs = labellers_from_cfg(cfg)
    assert [lab.name for lab in labs] == ["default", "previous", "demo", "baseline", "constant"]
    res = evaluate(cfg, labs)
    n_good = len(ids["good"])  # annotated clips with audio that decodes (the garbage clip has none)
    assert {m["n"] for m in res["fourq"].values()} == {n_good}
    assert res["fourq_own"]["default"]["n"] == n_good and "out of fold" in res["how"]["fourq"]["default"]
    assert (
        "out of fold" in res["how"]["fourq"]["baseline"] and res["how"]["pmemo"]["baseline"] == "fitted on all 4Q clips"
    )
    assert res["pmemo"]["default"]["n"] == 4 and np.isnan(res["pmemo"]["constant"]["valence_pearson"])
    assert set(res["speed"]) == {"default", "previous", "demo"} and min(res["speed"].values()) > 0
    # the eval's out-of-fold re-run is the sidecar's own honest estimate (same songs, same recipe)
    assert abs(res["fourq_own"]["default"]["valence_auc"] - meta["honest_estimate"]["valence"]["auc"]) < 1e-3
    keys = flat(res)
    assert keys["fourq/constant/quadrant_acc"] == 0.25 and "speed/default/songs_per_s" in keys


def test_cli_writes_json_and_report(tmp_path: Path) -> None:
    data = tmp_path / "real"
    make_fourq(data / "music4q", per_quadrant=2, seconds=3.0)
    out, doc = tmp_path / "eval", tmp_path / "music.md"
    main([f"data_dir={data}", f"out={out}", f"doc={doc}", "checkpoints.demo=null", "progress=false"])
    keys = json.loads((out / "music.json").read_text())
    assert "fourq/default/valence_auc" in keys and "fourq/baseline/n" in keys and "fourq/previous/n" in keys
    assert doc.read_text() == (out / "music.md").read_text() and "| default |" in doc.read_text()


def test_cli_without_any_music_set_is_one_error_line(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main([f"data_dir={tmp_path}", f"out={tmp_path / 'o'}"])
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
    assert exc.value.code == 2 and len(err) == 1 and "expected music4q/" in err[0]


def test_packaged_heads_are_small_and_say_what_trained_them() -> None:
    ckpt = default_music_checkpoint()
    meta = read_sidecar(ckpt)
    assert ckpt.stat().st_size < 1_000_000 and meta["data"]["format"] == "fourq"
    assert len(meta["fitted_on"]) == meta["data"]["songs"] and meta["test_ids"] == []
    assert meta["commands"][0].startswith("python -m emotune.runtime.music_head")
    honest = meta["honest_estimate"]
    assert honest["n"] == meta["data"]["songs"] and len(honest["chosen_per_fold"]) >= 2
    assert honest["valence"]["ci95"][0] <= honest["valence"]["auc"] <= honest["valence"]["ci95"][1]
    previous = read_sidecar(WEIGHTS_DIR / "music_fourq_descriptors.ckpt")
    assert not set(previous["fitted_on"]) & set(previous["test_ids"])


@needs(REAL_MUSIC4Q)
def test_packaged_head_was_fitted_on_the_folder_at_hand() -> None:
    assert sorted(read_sidecar(default_music_checkpoint())["fitted_on"]) == sorted(annotated_ids(REAL_MUSIC4Q))


@pytest.mark.slow
@pytest.mark.long  # over two minutes on 2 cores: make test-full only
@needs(REAL_MUSIC4Q)
def test_default_labeller_out_of_fold_on_the_real_clips(tmp_path: Path) -> None:
    """The whole recipe re-run out of fold (about 10 minutes on 2 cores): the sidecar's honest estimate, and well
    above the previous labeller on the clips that one never saw."""
    cfg = compose_config("eval_music", [f"data_dir={REAL}", f"out={tmp_path}", "checkpoints.demo=null",
                                        "progress=false"], tmp_path)  # fmt: skip
    res = evaluate(cfg, labellers_from_cfg(cfg))
    ids = annotated_ids(REAL_MUSIC4Q)
    own = res["fourq_own"]
    previous = read_sidecar(WEIGHTS_DIR / "music_fourq_descriptors.ckpt")
    assert own["default"]["n"] == len(ids) and own["previous"]["n"] == len(set(ids) - set(previous["fitted_on"]))
    honest = read_sidecar(default_music_checkpoint())["honest_estimate"]
    assert abs(own["default"]["valence_auc"] - honest["valence"]["auc"]) < 1e-3
    assert own["default"]["valence_auc"] >= 0.83 and own["default"]["arousal_auc"] >= 0.92, own["default"]
    assert res["fourq"]["default"]["valence_auc"] > res["fourq"]["previous"]["valence_auc"] + 0.03, res["fourq"]
