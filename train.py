"""Train one phase: ``python train.py phase=scene|face|fusion [overrides]`` (see conf/train.yaml)."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("EMOTUNE_ROOT", str(Path(__file__).resolve().parent))

import hydra
from omegaconf import DictConfig

from emotune.runtime.entry import run_train


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Hydra entry point: compose conf/train.yaml and run; returns the optimised metric."""
    return run_train(cfg)


if __name__ == "__main__":
    main()
