"""``make eval-uncertainty``: the uncertainty methods side by side (``model.uncertainty=mc_dropout|heteroscedastic|
both``), each a full scene + face + fusion training with the demo's settings, scored on the same splits.

``python -m emotune.eval.uncertainty [demo=DIR] [out=DIR]`` (settings ``conf/eval_uncertainty.yaml``); the demo's own
runs (the configured default) are reused, the other two are trained under ``out`` for as many epochs as the demo's. ``val_ccc`` is each path's
best-epoch mean val CCC (the mean's quality); σ quality cannot be compared on val, where each method's σ is
calibrated, and is never chosen on test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig

from emotune.eval.phases import phase_table
from emotune.models.loading import best_checkpoint
from emotune.runtime.compose import compose_config
from emotune.utils.command import command
from emotune.utils.errors import ConfigError, MissingResourceError
from emotune.utils.io import write_text_atomic

METHODS = ("mc_dropout", "heteroscedastic", "both")


def face_has_the_method(method: str, demo: Path) -> bool:
    """Whether the face model can be trained with ``method``: the expression head (``conf/model/face.yaml``'s
    default) has no MC-Dropout-only σ (its variance is its mixture's spread), so ``mc_dropout`` keeps the demo's face
    model there."""
    from emotune.models.components.expression import ExpressionVAHead
    from emotune.models.loading import load_phase_module

    if method != "mc_dropout":
        return True
    return not isinstance(load_phase_module(best_checkpoint(demo / "face"), "face").head, ExpressionVAHead)


def demo_epochs(demo: Path, phase: str) -> int:
    """``trainer.max_epochs`` of the demo's own ``phase`` run (its ``.hydra/config.yaml``)."""
    from omegaconf import OmegaConf

    saved = demo / phase / ".hydra" / "config.yaml"
    if not saved.is_file():
        raise MissingResourceError(f"{saved} not found: give epochs=N, or demo=DIR of `make demo`'s runs.")
    return int(OmegaConf.load(saved).trainer.max_epochs)


def train_method(method: str, runs: Path, epochs: dict[str, int], face_from: Path | None = None) -> None:
    """Scene, face and fusion with ``model.uncertainty=method`` (skipped when already there), each phase for
    ``epochs[phase]``; ``face_from``: a face run dir used as is instead of training one."""
    base = [sys.executable, "train.py", "extras.print_config=false", "logger=csv"]
    if face_from is not None and not (runs / "face").exists():
        runs.mkdir(parents=True, exist_ok=True)
        (runs / "face").symlink_to(face_from.resolve(), target_is_directory=True)
    for phase in ("scene", "face"):
        if not best_checkpoint(runs / phase).is_file():
            subprocess.run([*base, f"phase={phase}", f"model.uncertainty={method}", f"trainer.max_epochs={epochs[phase]}",
                            f"hydra.run.dir={runs / phase}"], check=True)  # fmt: skip
    if not (runs / "fusion" / "metrics.json").is_file():
        subprocess.run([*base, "phase=fusion", f"hydra.run.dir={runs / 'fusion'}",
                        f"model.scene_ckpt={best_checkpoint(runs / 'scene')}",
                        f"model.face_ckpt={best_checkpoint(runs / 'face')}"], check=True)  # fmt: skip


def default_method(run_dir: Path) -> str:
    """``model.uncertainty`` of the composed scene and face configs (the demo's; they inherit it from
    ``conf/model/va_base.yaml``)."""
    methods = {str(compose_config("train", [f"phase={p}"], run_dir).model.uncertainty) for p in ("scene", "face")}
    if len(methods) != 1:
        raise ConfigError(f"The scene and face configs use different model.uncertainty ({sorted(methods)}).")
    return methods.pop()


def val_ccc(runs: Path, path: str) -> float:
    """The path's best-epoch mean val CCC (the selection criterion), NaN for the fusion."""
    if path not in ("scene", "face"):
        return float("nan")
    return float(json.loads((runs / path / "metrics.json").read_text()).get("val/ccc_mean_best", float("nan")))


def compare(demo: Path, out: Path, epochs: int | None) -> pd.DataFrame:
    """One row per method and path on ``test`` and ``test_face``: CCC, Spearman(σ, |error|), coverage90, NLL;
    ``epochs``: each training's (``None``: each phase's demo run's)."""
    rows, default = [], default_method(out / "config")
    per_phase = {p: epochs if epochs is not None else demo_epochs(demo, p) for p in ("scene", "face")}
    for method in METHODS:
        runs = demo if method == default else out / method
        face_own = face_has_the_method(method, demo)
        if method != default:
            train_method(method, runs, per_phase, face_from=None if face_own else demo / "face")
        table = phase_table(runs, splits=("test", "test_face", "test_shifted_face"))
        table.insert(0, "uncertainty", method)
        table.insert(1, "face model", method if face_own else f"{default} (demo's)")
        table.insert(3, "val_ccc", [val_ccc(runs, p) for p in table["path"]])
        rows.append(table)
    return pd.concat(rows, ignore_index=True)


@command("eval_uncertainty")
def main(cfg: DictConfig) -> None:
    """CLI: ``python -m emotune.eval.uncertainty [key=value ...]``."""
    out = Path(str(cfg.out))
    df = compare(Path(str(cfg.demo)), out, None if cfg.epochs is None else int(cfg.epochs))
    keep = ["uncertainty", "face model", "path", "split", "val_ccc", "v_ccc", "a_ccc", "v_sigma_err_spearman",
            "a_sigma_err_spearman", "v_coverage90", "a_coverage90", "v_nll", "a_nll"]  # fmt: skip
    df = df[df["path"].isin(["scene", "face", "fusion: context (default)", "fusion: robust (conflict-aware)"])][keep]
    md = ["# Uncertainty methods side by side", "", "Each row: one path of a full scene + face + fusion training "
          "with that `model.uncertainty` (demo settings, embedded benchmark). `val_ccc`: the path's best-epoch mean val "
          "CCC (each method's σ is calibrated on val, so val cannot rank σ quality). The face model's expression head has "
          "no MC-Dropout-only σ: the `mc_dropout` rows keep the demo's face model.", "",
          df.to_markdown(index=False, floatfmt=".3f"), ""]  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "uncertainty.md", "\n".join(md))
    df.to_csv(out / "uncertainty.csv", index=False)
    print("\n".join(md))


if __name__ == "__main__":
    main()
