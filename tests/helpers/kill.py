"""A callback that kills its own training process (SIGKILL, like a power cut) at the start of an epoch."""

from __future__ import annotations

import os
import signal

from lightning.pytorch import Callback


class KillAtEpochStart(Callback):
    """``os.kill(getpid(), SIGKILL)`` when epoch ``epoch`` starts: every earlier epoch, checkpoint included, is done."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch == self.epoch:
            os.kill(os.getpid(), signal.SIGKILL)
