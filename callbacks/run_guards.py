"""Guards of a training run: stop on a non-finite loss before it reaches a checkpoint, and save a
checkpoint when the user presses Ctrl-C."""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_info
from typing_extensions import override


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite."""


class FiniteLossGuard(Callback):
    """Raises :class:`NonFiniteLossError` at the first non-finite loss.

    Lightning runs checkpoint callbacks after this one, so the step that produced the bad loss never
    reaches a checkpoint: the last checkpoint on disk stays the last good one.
    """

    @override
    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is not None and not math.isfinite(float(loss)):
            raise NonFiniteLossError(
                f"the loss became {float(loss)} at step {trainer.global_step}; the last good checkpoint is kept "
                "(lower --lr, or check the energy's parameters)"
            )


class InterruptCheckpoint(Callback):
    """On Ctrl-C (KeyboardInterrupt), save ``<dirpath>/last.ckpt`` so that ``--resume last`` continues."""

    def __init__(self, dirpath: str | Path | None = None) -> None:
        self.dirpath = None if dirpath is None else Path(dirpath)
        self.saved: Path | None = None

    @override
    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if not isinstance(exception, KeyboardInterrupt):
            return
        folder = self.dirpath or _checkpoint_folder(trainer)
        if folder is None:
            return
        self.saved = folder / "last.ckpt"
        trainer.save_checkpoint(self.saved)
        rank_zero_info(f"interrupted: saved {self.saved} at step {trainer.global_step}")


def _checkpoint_folder(trainer: L.Trainer) -> Path | None:
    callback = trainer.checkpoint_callback
    return None if callback is None or callback.dirpath is None else Path(callback.dirpath)
