"""Objects built from a command's composed config, a user error from inside an object re-raised as itself."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from emotune.utils.cli import user_error


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
