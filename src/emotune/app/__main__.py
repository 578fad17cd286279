"""``python -m emotune.app [key=value ...]``: compose ``conf/app.yaml`` and serve the page (see ``make app``)."""

from __future__ import annotations

import logging
import os
import threading

from omegaconf import DictConfig

from emotune.utils.command import command
from emotune.utils.process import start_up

log = logging.getLogger("emotune.app")


def serve(cfg: DictConfig, block: bool = True) -> object:
    """Set Gradio's environment from the composed settings, build the page and serve it; returns the page."""
    from emotune.app.settings import AppSettings

    settings = AppSettings.from_cfg(cfg)
    start_up(settings.torch_threads, "server.torch_threads")  # once: requests never change process-wide state
    settings.cache_dir.mkdir(parents=True, exist_ok=True)
    os.environ["GRADIO_TEMP_DIR"] = str(settings.cache_dir)  # read when gradio is imported
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from emotune.app.handlers import Handlers
    from emotune.app.ui import build, launch

    handlers = Handlers(settings)
    demo = build(handlers)
    launch(demo, settings, block=False)
    log.info("Serving on http://%s:%d (runs in %s)", settings.host, settings.port, settings.runs_dir)
    if settings.preload:  # once the page is up: the models load while the user picks a clip
        threading.Thread(target=handlers.preload, name="preload", daemon=True).start()
    if block:
        demo.block_thread()
    return demo


@command("app")
def main(cfg: DictConfig) -> None:
    """Entry point: one ``error: ...`` line and exit 2 for a bad setting."""
    serve(cfg)


if __name__ == "__main__":
    main()
