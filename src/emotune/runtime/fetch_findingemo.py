"""``make data-findingemo DATA_DIR=DIR``'s download step (``python -m emotune.runtime.fetch_findingemo data_dir=DIR``,
settings ``conf/fetch_findingemo.yaml``): the FindingEmo images through findingemo-light's downloader (needs
internet); ``python -m emotune.runtime.validate_findingemo root=DIR`` checks what arrived."""

from __future__ import annotations

import socket
from pathlib import Path

from omegaconf import DictConfig

from emotune.utils.command import command
from emotune.utils.errors import MissingResourceError


@command("fetch_findingemo")
def main(cfg: DictConfig) -> None:
    """Download the FindingEmo images into ``data_dir``."""
    target = Path(str(cfg.data_dir))
    try:
        socket.create_connection(("web.archive.org", 443), timeout=5).close()
    except OSError:
        raise MissingResourceError(
            f"No internet connection: cannot download FindingEmo into {target}. Run `make data-findingemo "
            "DATA_DIR=...` on a machine with internet and copy the folder here, then set data.root."
        ) from None
    from findingemo_light.paper.download_multi import download_data

    target.mkdir(parents=True, exist_ok=True)
    download_data(target_dir=str(target))
    print(f"Downloaded into {target}. Next: `python -m emotune.runtime.validate_findingemo root={target}`")


if __name__ == "__main__":
    main()
