"""``python -m emotune.app [key=value ...]``: compose ``conf/app.yaml`` and serve the page (see ``make app``)."""

from __future__ import annotations

import logging
import os
import sys
import threading

from emotune.runtime.compose import compose_config, repo_root
from emotune.utils.cli import exit_on_user_error
from emotune.utils.process import start_up

log = logging.getLogger("emotune.app")


def serve(argv: list[str], block: bool = True) -> object:
    """Compose the settings, set Gradio's environment, build the page and serve it; returns the page."""
    from emotune.app.settings import AppSettings

    os.environ.setdefault("EMOTUNE_ROOT", str(repo_root()))
    cfg = compose_config("app", argv, repo_root() / "outputs" / "app")
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


def main(argv: list[str] | None = None) -> None:
    """Entry point: one ``error: ...`` line and exit 2 for a bad setting."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    exit_on_user_error(serve)(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
