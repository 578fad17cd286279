"""Stage timing for the runtime (reported in ``summary.json`` and by ``make bench``)."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lightning.pytorch import LightningModule, Trainer


class Stopwatch:
    """Accumulates wall seconds per named stage: ``with sw("decode"): ...``."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        """Time the ``with`` block under ``stage``."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - t0

    def timed_iter(self, stage: str, it: Iterator) -> Iterator:
        """Yield from ``it``, charging the time spent producing each item to ``stage``."""
        it = iter(it)
        while True:
            with self(stage):
                try:
                    item = next(it)
                except StopIteration:
                    return
            yield item

    def as_dict(self, digits: int = 4) -> dict[str, float]:
        """Seconds per stage, rounded."""
        return {k: round(v, digits) for k, v in self.seconds.items()}


try:
    from lightning.pytorch import Callback
except ImportError:  # pragma: no cover
    Callback = object  # type: ignore[misc,assignment]  # a plain base class where Lightning is missing


class EpochTimer(Callback):
    """Records the wall seconds of each training epoch (``self.seconds``), for benchmarks."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self._t0 = 0.0

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Start the epoch's clock."""
        self._t0 = time.perf_counter()

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Record the epoch's seconds."""
        self.seconds.append(round(time.perf_counter() - self._t0, 3))
