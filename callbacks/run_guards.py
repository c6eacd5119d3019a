"""Guards of a training run: stop on a non-finite loss before it reaches a checkpoint, and save
``last.ckpt`` at the end of training and when the user presses Ctrl-C."""

from __future__ import annotations

import math
import signal
import threading
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_info
from typing_extensions import override


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite."""


class FiniteLossGuard(Callback):
    """Raises :class:`NonFiniteLossError` at the first non-finite loss or parameter.

    Checked at the end of every step, after the optimizer has updated the parameters: a finite loss can
    still produce an infinite update. Put it first in the callback list: Lightning runs checkpoint
    callbacks last, and sampling callbacks must not see the broken model either, so the step that went
    wrong never reaches a checkpoint and the last checkpoint on disk stays the last good one.
    """

    @override
    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is not None and not math.isfinite(float(loss)):
            problem = f"the loss became {float(loss)}"
        else:
            bad = next((name for name, p in pl_module.named_parameters() if not torch.isfinite(p).all()), None)
            if bad is None:
                return
            problem = f"parameter '{bad}' became non-finite"
        raise NonFiniteLossError(
            f"{problem} at step {trainer.global_step}; the last good checkpoint is kept "
            "(lower --lr, or check the energy's parameters)"
        )


class LastCheckpoint(Callback):
    """Save ``<dirpath>/last.ckpt`` when training ends, and on Ctrl-C (KeyboardInterrupt), so that
    ``--resume last`` continues from the final step (periodic checkpoints alone miss the steps after
    the last period)."""

    def __init__(self, dirpath: str | Path | None = None) -> None:
        self.dirpath = None if dirpath is None else Path(dirpath)
        self.saved: Path | None = None

    @override
    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._save(trainer)

    @override
    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if isinstance(exception, KeyboardInterrupt) and self._save(trainer):
            rank_zero_info(f"interrupted: saved {self.saved} at step {trainer.global_step}")

    def _save(self, trainer: L.Trainer) -> bool:
        folder = self.dirpath or _checkpoint_folder(trainer)
        if folder is None:
            return False
        self.saved = folder / "last.ckpt"
        trainer.save_checkpoint(self.saved)
        return True


def _checkpoint_folder(trainer: L.Trainer) -> Path | None:
    callback = trainer.checkpoint_callback
    return None if callback is None or callback.dirpath is None else Path(callback.dirpath)


class GracefulInterrupt(Callback):
    """The first Ctrl-C asks training to stop at the end of the current step (then :class:`LastCheckpoint`
    saves ``last.ckpt`` as at any end of training); a second Ctrl-C interrupts at once.

    A KeyboardInterrupt raised at an arbitrary point (inside a checkpoint write or the TensorBoard writer)
    can leave the process hanging in its teardown; stopping between steps cannot.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def _handler(self, signum, frame) -> None:
        self.requested = True
        rank_zero_info("\nCtrl-C: stopping after this step and saving last.ckpt (press again to abort)")
        signal.signal(signal.SIGINT, self._previous or signal.default_int_handler)

    @override
    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handler)

    @override
    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx) -> None:
        # every process must stop at the same step, or the others wait in a collective forever
        if trainer.strategy.reduce_boolean_decision(self.requested, all=False):
            trainer.should_stop = True

    @override
    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self._previous is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
