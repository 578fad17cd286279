"""A command's config from its ``key=value`` arguments, with ``--help`` and ``--cfg job`` as a Hydra app has them, and
its objects built from it.

For commands that compose a config with :func:`~emotune.runtime.compose.compose_config` instead of ``@hydra.main``
(their output is not a Hydra run folder: the session driver's stdout is its protocol).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from emotune.runtime.compose import compose_config, repo_root
from emotune.utils.cli import user_error


def command_config(
    config_name: str, argv: list[str], output_dir: str | Path, doc: str, usage: str
) -> DictConfig | None:
    """``conf/<config_name>.yaml`` composed with ``argv``'s overrides; ``None`` after printing the help (``--help``)
    or the composed config (``--cfg job``) on stdout."""
    args = list(argv)
    if "--help" in args or "-h" in args:
        print(f"{usage} [key=value ...]\n\n{doc.strip()}\n\nSettings: {repo_root() / 'conf' / config_name}.yaml and its "
              "groups (key=value overrides; --cfg job prints the composed config).")  # fmt: skip
        return None
    show = False
    if "--cfg" in args:
        i = args.index("--cfg")
        show = True
        del args[i : i + 2]
    cfg = compose_config(config_name, args, output_dir)
    if show:
        shown = cfg.copy()
        with open_dict(shown):
            shown.pop("hydra", None)
        print(OmegaConf.to_yaml(shown, resolve=False), end="")
        return None
    return cfg


def instantiate(node: DictConfig) -> Any:
    """``hydra.utils.instantiate``, a user error from inside the object re-raised as itself (without importing
    Lightning, as :mod:`emotune.utils.instantiators` does: the driver starts in about a second)."""
    import hydra

    try:
        return hydra.utils.instantiate(node)
    except Exception as exc:
        err = user_error(exc)
        if err is None or err is exc:
            raise
        raise err from None
