"""The one way every ``python -m emotune.<command>`` runs: ``@hydra.main`` over the checkout's ``conf/``.

``main = command("eval_real")(run)`` makes ``run(cfg)`` a Hydra app of ``conf/eval_real.yaml``: ``key=value``
overrides, ``--help`` (Hydra's, with the config), ``--cfg job``, ``-m`` sweeps, and a user error as one ``error:``
line with exit code 2. Each command's config selects ``hydra: command`` (``conf/hydra/command.yaml``): Hydra writes
nothing of its own and logs to stderr only (some commands' stdout is a protocol or a table). ``train.py`` and
``infer.py`` are the same thing with ``conf/hydra/default.yaml`` (a run folder per run).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from emotune.utils.cli import exit_on_user_error


def repo_root() -> Path:
    """The checkout: ``$EMOTUNE_ROOT``, else the folder above ``src/`` (as :func:`emotune.runtime.compose.repo_root`,
    which the layers below ``runtime`` cannot import)."""
    env = os.environ.get("EMOTUNE_ROOT")
    return Path(env) if env else Path(__file__).resolve().parents[3]


def conf_dir() -> Path:
    """The checkout's ``conf/`` (every command's settings)."""
    return repo_root() / "conf"


# Hydra's options that take a value (the next argument is that value, not an override).
_VALUED = {"--cfg", "-c", "--package", "-p", "--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd",
           "--experimental-rerun", "--info", "-i"}  # fmt: skip


def command_overrides() -> list[str]:
    """The overrides the running command was given on its command line (Hydra's ``overrides.task``), e.g. to write
    the command that reproduces an artefact; ``[]`` outside a command."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return []
    return list(HydraConfig.get().overrides.task)


def with_overrides(argv: list[str], forced: tuple[str, ...]) -> list[str]:
    """``argv`` with ``forced`` overrides before its own (Hydra's parser wants the overrides in one block, so they
    go where the command line's first override is, or first when it has none)."""
    for i, arg in enumerate(argv):
        is_override = not arg.startswith("-") and ("=" in arg or arg.startswith("~"))
        if is_override and (i == 0 or argv[i - 1] not in _VALUED):
            return [*argv[:i], *forced, *argv[i:]]
    return [*forced, *argv]


@contextmanager
def _in_process(argv: list[str]) -> Iterator[None]:
    """``argv`` as the command line, and the logging set-up Hydra installs undone afterwards (a call from Python,
    e.g. a test, leaves the process as it found it)."""
    from hydra.core.global_hydra import GlobalHydra

    root = logging.getLogger()
    saved_argv, handlers, level = sys.argv, root.handlers[:], root.level
    sys.argv = [saved_argv[0] if saved_argv else "emotune", *argv]
    GlobalHydra.instance().clear()
    try:
        yield
    finally:
        sys.argv = saved_argv
        GlobalHydra.instance().clear()
        for h in root.handlers[:]:
            if h not in handlers:
                root.removeHandler(h)
        for h in handlers:
            if h not in root.handlers:
                root.addHandler(h)
        root.setLevel(level)


class Command:
    """A command: ``conf/<config_name>.yaml`` composed by Hydra from the command line, then ``task(cfg)``.

    Call it with no argument from ``if __name__ == "__main__"`` (``sys.argv``), or with the arguments as a list
    (``main(["data_dir=DIR", "--cfg", "job"])``) to run the same command line in-process. ``overrides`` come before
    the command line's: a command that reads another command's config (the session driver reads
    ``conf/infer.yaml``) selects ``hydra=command`` and names itself there.
    """

    def __init__(self, config_name: str, task: Callable[[DictConfig], Any], overrides: tuple[str, ...] = ()) -> None:
        import hydra

        self.config_name = config_name
        self.task = task
        self.overrides = overrides
        self.__doc__ = task.__doc__

        def hydra_main(cfg: DictConfig) -> None:
            exit_on_user_error(task)(cfg)

        hydra_main.__module__ = task.__module__  # Hydra names the job after the calling module
        self._main = hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name=config_name)(hydra_main)

    def __call__(self, argv: list[str] | None = None) -> None:
        """Run the command line ``argv`` (default: ``sys.argv[1:]``)."""
        os.environ.setdefault("EMOTUNE_ROOT", str(repo_root()))  # as train.py / infer.py: paths.root_dir
        with _in_process(with_overrides(list(sys.argv[1:] if argv is None else argv), self.overrides)):
            self._main()


def command(config_name: str, overrides: tuple[str, ...] = ()) -> Callable[[Callable[[DictConfig], Any]], Command]:
    """Decorator: ``task(cfg)`` as the command of ``conf/<config_name>.yaml`` (see :class:`Command`)."""

    def wrap(task: Callable[[DictConfig], Any]) -> Command:
        return Command(config_name, task, overrides)

    return wrap
