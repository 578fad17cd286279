"""Turn user errors into one clear line on stderr and a non-zero exit."""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar, cast

from emotune.utils.errors import ConfigError, EmotuneError

F = TypeVar("F", bound=Callable[..., Any])


def user_error(exc: BaseException) -> EmotuneError | None:
    """The :class:`EmotuneError` behind ``exc`` (Hydra wraps errors raised while instantiating); a mandatory
    setting left at ``???`` is one too (the user did not give it)."""
    from omegaconf.errors import MissingMandatoryValue

    seen = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, EmotuneError):
            return cur
        if isinstance(cur, MissingMandatoryValue):
            key = getattr(cur, "full_key", None) or "the missing key"
            return ConfigError(f"{key} is required: give {key}=VALUE on the command line (see --help).")
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return None


def exit_on_user_error(fn: F) -> F:
    """Decorator for entry points: :class:`EmotuneError` -> ``error: ...`` and exit code 2.

    ``HYDRA_FULL_ERROR=1`` re-raises with the full traceback.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            err = user_error(exc)
            if err is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
                raise
            logging.getLogger("emotune").debug("user error", exc_info=True)
            print(f"error: {str(err).splitlines()[0] if str(err) else type(err).__name__}", file=sys.stderr)
            sys.exit(err.exit_code)

    return cast(F, wrapper)  # functools.wraps keeps fn's signature
