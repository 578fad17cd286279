"""The real-FindingEmo path: the README's commands, run as written on a folder laid out like a real download
(all 25,869 real paths in the slow version, a few hundred in the fast one), and its clear errors."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from emotune.data.findingemo import read_annotations
from emotune.models.loading import best_checkpoint
from emotune.synthetic.rehearsal import write_download
from emotune.utils.errors import DataError

from .conftest import ROOT

TINY_LOCAL = """# @package _global_
# The rehearsal's machine-local settings (EMOTUNE_CONFIG_DIR): tiny backbones, one short epoch.
defaults:
  - override /model/backbone: test_vit
  - override /logger: csv
trainer: {max_epochs: 1, limit_train_batches: 3, limit_val_batches: 2, limit_test_batches: 2}
data: {batch_size: 16, num_workers: 0}
extras: {print_config: false}
"""


def readme_real_data_commands() -> list[str]:
    """The README's real-data block, one command per line, as a user would paste it (comments dropped)."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- real-data:start -->.*?```bash\n(.*?)```.*?<!-- real-data:end -->", text, re.S)
    assert block, "README.md lost its real-data block"
    lines = [ln.split("  #")[0].strip() for ln in block.group(1).splitlines()]
    return [ln for ln in lines if ln and not ln.startswith("#")]


def run_readme(data: Path, runs: Path, tmp_path: Path) -> dict[str, str]:
    """Every README command but the download, with ``trainer=gpu`` dropped; DATA and RUNS point into tmp."""
    local = tmp_path / "conf_extra" / "local"
    local.mkdir(parents=True)
    (local / "default.yaml").write_text(TINY_LOCAL)
    env = {
        **os.environ,
        "DATA": str(data),
        "RUNS": str(runs),
        "EMOTUNE_CONFIG_DIR": str(tmp_path / "conf_extra"),
        "MAKEFLAGS": "-o .venv/.installed",
        "WANDB_MODE": "offline",
    }
    ran = {}
    for cmd in readme_real_data_commands():
        if cmd.startswith("export "):
            continue  # DATA and RUNS are the test's
        if cmd.startswith("make data-findingemo"):
            continue  # the download needs internet
        cmd = " ".join(t for t in cmd.split(" ") if t != "trainer=gpu")
        if cmd.startswith("python "):
            cmd = f"{shlex.quote(sys.executable)} {cmd[len('python ') :]}"
        proc = subprocess.run(["bash", "-c", cmd], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500)
        assert proc.returncode == 0, f"{cmd}\n{proc.stderr[-3000:]}"
        ran[cmd] = proc.stdout
    return ran


def rehearse(tmp_path: Path, rows: pd.DataFrame | None) -> None:
    data, runs = tmp_path / "findingemo download", tmp_path / "runs"  # a space in the path, like the images'
    counts = write_download(data, rows, missing=0.1, corrupt=0.01, face_share=0.6, progress=False)
    ran = run_readme(data, runs, tmp_path)
    assert any(c.startswith("make validate-findingemo") for c in ran) and any("phase=fusion" in c for c in ran)
    val = json.loads((data / "validation.json").read_text())
    total = 25869  # the packaged annotations: every path not written counts as missing
    assert val["total"] == total and val["missing"] == total - counts["written"] - counts["corrupt"]
    assert val["unreadable"] == counts["corrupt"] and val["usable"] == counts["written"]
    for phase in ("scene", "face", "fusion"):
        assert best_checkpoint(runs / phase).is_file(), phase
    stats = json.loads((runs / "scene" / "data_stats.json").read_text())
    assert stats["validation"] == {k: val[k] for k in ("total", "usable", "missing", "unreadable")}
    assert stats["annotations"].endswith("annotations_single.ann") and "findingemo_light" in stats["annotations"]
    table = (runs / "phases.md").read_text()
    assert "published frozen CLIP ViT-B/32" in table and "0.375" in table  # beside the published baseline


def test_readme_real_data_commands_on_a_partial_download(tmp_path: Path) -> None:
    """The fast version: 400 real annotation rows (the other 25,469 images count as missing, as they would in
    a very partial download)."""
    rows = read_annotations().sample(400, random_state=0).reset_index(drop=True)
    rehearse(tmp_path, rows)


@pytest.mark.slow
@pytest.mark.long  # over two minutes on 2 cores: make test-full only
@pytest.mark.timeout(3600)
def test_full_scale_rehearsal(tmp_path: Path) -> None:
    """All 25,869 real paths, 10 % missing, 1 % corrupt, 60 % with a drawn face: validate -> scene -> face ->
    fusion -> the phase table, every README command as written."""
    rehearse(tmp_path, None)


def test_annotations_come_from_config_then_folder_then_package(tmp_path: Path, caplog) -> None:
    import logging

    from emotune.data.findingemo import packaged_annotations_path, resolve_annotations

    caplog.set_level(logging.INFO, logger="emotune")
    (tmp_path / "Run_2").mkdir()
    assert resolve_annotations(None, tmp_path, tmp_path) == packaged_annotations_path()
    own = tmp_path / "annotations_single.ann"
    own.write_text("index,user,image_path,valence,arousal\n")
    assert resolve_annotations(None, tmp_path, tmp_path) == own
    given = tmp_path / "mine.ann"
    given.write_text("index,user,image_path,valence,arousal\n")
    assert resolve_annotations(str(given), tmp_path, tmp_path) == given
    assert "data.annotations" in caplog.text and "packaged" in caplog.text


def test_a_folder_without_the_run_layout_says_what_it_expected(tmp_path: Path) -> None:
    from emotune.data.validation import validate_download

    (tmp_path / "photos").mkdir()
    with pytest.raises(DataError, match="Run_1/ and Run_2/"):
        validate_download(tmp_path)


def test_too_few_faces_names_the_detector_the_counts_and_the_fix(tmp_path: Path, capsys) -> None:
    from emotune.runtime.compose import compose_config
    from emotune.runtime.entry import run_train

    rows = read_annotations().sample(200, random_state=1).reset_index(drop=True)
    data = tmp_path / "fe"
    write_download(data, rows, missing=0.0, corrupt=0.0, face_share=0.0, progress=False)  # nobody's face shows
    cfg = compose_config(
        "train",
        [
            "phase=face",
            "data=findingemo",
            f"data.root={data}",
            "logger=csv",
            f"paths.cache_dir={tmp_path / 'cache'}",
            "extras.print_config=false",
        ],
        tmp_path / "run",
    )
    with pytest.raises(SystemExit) as exc:
        run_train(cfg)
    err = capsys.readouterr().err.strip().splitlines()[-1]
    used = cfg.detector._target_.rsplit(".", 1)[-1]
    assert exc.value.code == 2 and "Too few detected faces" in err, err
    found = re.search(r"detector=(\w+) found faces in train (\d+)/\d+", err)
    assert found and found.group(1).lower() in used.lower() and int(found.group(2)) < 16, err  # names it, counts
    assert "Try another detector (" in err and f"detector={found.group(1)}," not in err.split("Try another")[1]
