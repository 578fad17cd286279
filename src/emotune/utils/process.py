"""Process-wide settings, made once when a program starts and never per call or per request.

torch's CPU thread count and matplotlib's backend belong to the whole process: a library function that changed them
around its own work would race with every other thread (a web server's requests), and could leave the process on one
thread. They are set here, by the start-up of each program (``emotune.runtime.entry`` for ``train.py`` and
``infer.py``, ``emotune.app.__main__`` for the page, ``emotune.bench.child`` for one timed run), and
``tools/check_process_state.py`` (``make lint``) finds any other place that sets them. The umask is never read or
set: files are created with mode ``0o666`` and the kernel applies it (:func:`emotune.utils.io.atomic_path`).
"""

from __future__ import annotations

import logging
import os

import torch

from emotune.utils.errors import check_range

log = logging.getLogger(__name__)


MPL_BACKEND = "Agg"  # emotune draws on Figure objects; a library that uses pyplot (Gradio does) gets a headless one


def start_up(torch_threads: int | None, key: str) -> None:
    """Set the process-wide settings once, at start-up.

    Args:
        torch_threads: torch's CPU threads for every network of this process (``None``: torch's own choice,
            ``OMP_NUM_THREADS`` or the cores).
        key: the setting's name in its config, for the error when it is out of range.

    matplotlib's backend goes through ``MPLBACKEND`` (:data:`MPL_BACKEND` unless the environment sets one).
    """
    os.environ.setdefault("MPLBACKEND", MPL_BACKEND)
    if torch_threads is None:
        return
    threads = int(check_range(key, torch_threads, 1))
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
        log.info("torch on %d CPU thread(s) (%s)", threads, key)
