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
            "(lower the learning rate, or check the energy's parameters)"
        )


class LastCheckpoint(Callback):
    """Save ``<dirpath>/last.ckpt`` when training ends (on every process: saving has collectives under DDP),
    and on a hard Ctrl-C (KeyboardInterrupt) of a one-process run, so that ``--resume last`` continues from
    the final step (periodic checkpoints alone miss the steps after the last period)."""

    def __init__(self, dirpath: str | Path | None = None) -> None:
        self.dirpath = None if dirpath is None else Path(dirpath)
        self.saved: Path | None = None

    @override
    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._save(trainer)

    @override
    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        # under DDP only this process is unwinding: a save (collectives inside) would wait for the others forever
        if isinstance(exception, KeyboardInterrupt) and trainer.world_size == 1 and self._save(trainer):
            rank_zero_info(f"interrupted: saved {self.saved} at step {trainer.global_step}")

    def _save(self, trainer: L.Trainer) -> bool:
        folder = self.dirpath or _checkpoint_folder(trainer)
        if folder is None:
            return False
        self.saved = folder / "last.ckpt"
        trainer.save_checkpoint(self.saved, weights_only=False)  # the full state: a resume needs it
        return True


def _checkpoint_folder(trainer: L.Trainer) -> Path | None:
    callback = trainer.checkpoint_callback
    return None if callback is None or callback.dirpath is None else Path(callback.dirpath)


class GracefulInterrupt(Callback):
    """Ctrl-C (SIGINT) or SIGTERM (what schedulers send before they kill) asks training to stop at the end
    of the current step; :class:`LastCheckpoint` then saves ``last.ckpt`` as at any end of training. A
    second signal of the same kind acts at once (Ctrl-C: KeyboardInterrupt; SIGTERM: the default, exit).

    A KeyboardInterrupt raised at an arbitrary point (inside a checkpoint write, the TensorBoard writer or a
    DDP collective) can leave the process hanging in its teardown; stopping between steps cannot. Under DDP
    the request is reduced over all processes at every step, so every process stops at the same step and
    reaches the checkpoint's collectives together, whichever process got the signal. The handlers are
    installed at train start, over Lightning's SIGTERM handler (which would broadcast from inside the signal
    handler and kill the other processes mid-step), and the ones from before the run are restored at teardown.

    Attributes:
        signal: the first signal this process received (``None``: none).
        stopped: training stopped early because some process received a signal.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signal: int | None = None
        self.stopped = False
        self._previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        return self.signal is not None

    def _handler(self, signum, frame) -> None:
        self.signal = signum
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        rank_zero_info(f"\n{name}: stopping after this step and saving last.ckpt (send it again to abort)")
        previous = self._previous.get(signum)
        signal.signal(signum, previous if callable(previous) else _DEFAULT[signum])

    @override
    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        # before Lightning's own SIGTERM handler goes in (after setup), so teardown restores the user's
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.getsignal(s) for s in self.SIGNALS}

    @override
    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._previous:
            for s in self.SIGNALS:
                signal.signal(s, self._handler)

    @override
    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx) -> None:
        # every process must stop at the same step, or the others wait in a collective forever
        if trainer.strategy.reduce_boolean_decision(self.requested, all=False):
            self.stopped = True
            trainer.should_stop = True

    @override
    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self._previous and threading.current_thread() is threading.main_thread():
            for s, handler in self._previous.items():
                signal.signal(s, handler if handler is not None else _DEFAULT[s])
            self._previous = {}


_DEFAULT = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}
