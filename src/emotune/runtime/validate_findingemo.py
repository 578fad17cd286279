"""``make validate-findingemo DATA_DIR=DIR`` (``python -m emotune.runtime.validate_findingemo root=DIR``, settings
``conf/validate_findingemo.yaml``): count missing and unreadable images of a FindingEmo download, write the manifest
of usable rows, the counts and the seeded split (:func:`emotune.data.validation.validate_download`)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from emotune.utils.command import command


@command("validate_findingemo")
def main(cfg: DictConfig) -> None:
    """Validate the download in ``root``."""
    from emotune.data.validation import validate_download

    root = Path(str(cfg.root))
    res = validate_download(root, cfg.annotations, cfg.image_root, seed=int(cfg.seed))
    print(f"Manifest: {root / 'manifest.csv'}; split: {res['splits']} -> {root / 'splits.csv'}")


if __name__ == "__main__":
    main()
