"""User-facing errors: one clear line that names the bad value and the fix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar, cast

_Choice = TypeVar("_Choice", bound=str)


class EmotuneError(Exception):
    """A user mistake or missing resource: printed as one line, exit code 2, no traceback.

    Raise it (or :class:`ConfigError`, :class:`DataError`) for anything the user can fix;
    the entry points turn it into ``error: <message>`` on stderr.
    """

    exit_code = 2


class ConfigError(EmotuneError, ValueError):
    """A config value outside its valid range or choices."""


class DataError(EmotuneError, ValueError):
    """A data file that is missing, malformed or empty after cleaning."""


class MissingResourceError(EmotuneError, FileNotFoundError):
    """A file the run needs (weights, checkpoint, video, data folder) is absent."""


def check_range(
    key: str,
    value: float,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> float:
    """Validate a numeric config value and return it, or raise :class:`ConfigError` naming the range."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key}={value!r} is not a number.") from None
    ok = v == v  # not NaN
    if ok and low is not None:
        ok = v >= low if low_inclusive else v > low
    if ok and high is not None:
        ok = v <= high if high_inclusive else v < high
    if not ok:
        lo = "-inf" if low is None else f"{low}"
        hi = "inf" if high is None else f"{high}"
        rng = f"{'[' if low_inclusive else '('}{lo}, {hi}{']' if high_inclusive else ')'}"
        raise ConfigError(f"{key}={value!r} is out of range; valid: {rng}. Set e.g. `{key}=<value in {rng}>`.")
    return v


def check_choice(key: str, value: str, choices: Sequence[_Choice]) -> _Choice:
    """Validate a string option against its valid choices (typed as one of them: a tuple of ``Literal`` choices
    gives that ``Literal``)."""
    if value not in choices:
        raise ConfigError(f"{key}={value!r} is not valid; choose one of: {', '.join(map(str, choices))}.")
    return cast(_Choice, value)
