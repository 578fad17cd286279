"""Video -> playlist: ``python infer.py video=clip.mp4 ckpt.dir=outputs/demo`` (see conf/infer.yaml)."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("EMOTUNE_ROOT", str(Path(__file__).resolve().parent))

import hydra
from omegaconf import DictConfig

from emotune.runtime.entry import run_infer


@hydra.main(version_base="1.3", config_path="conf", config_name="infer")
def main(cfg: DictConfig) -> None:
    """Hydra entry point: compose conf/infer.yaml and run."""
    run_infer(cfg)


if __name__ == "__main__":
    main()
