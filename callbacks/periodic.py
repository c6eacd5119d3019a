"""A callback that acts every N optimizer steps and at the end of training, once per step."""

from __future__ import annotations

from contextlib import nullcontext

import lightning as L
from lightning.pytorch.callbacks import Callback
from typing_extensions import override

from callbacks.common import check_every

# rounds of an automatic finish in the evaluations during training: they only watch the run, so one round and no check
# (at 512², 32 samples: a round costs ~5 s and a check ~7 s, and a run evaluates 18 times); the last evaluation runs the
# automatic finish and its check in full
PERIODIC_FINISH_CAP = 1


class Periodic(Callback):
    """Calls :meth:`act` every ``every_n_steps`` steps, at the end (and at step 0 with ``at_start``), never
    twice at one step. The hooks run on every DDP process at the same steps, so an ``act`` with
    collectives stays in step; what only rank zero does (logging, drawing) ``act`` decides itself."""

    at_start = False

    def __init__(self, every_n_steps: int) -> None:
        super().__init__()
        self.every_n_steps = check_every("every_n_steps", every_n_steps)
        self._last_step = -1
        self.final = False  # whether the current act is the one at the end of training

    def act(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        raise NotImplementedError

    def _at_step(self, trainer: L.Trainer, pl_module: L.LightningModule, final: bool = False) -> None:
        if trainer.global_step != self._last_step:
            self._last_step, self.final = trainer.global_step, final
            # while training, an automatic finish runs at most PERIODIC_FINISH_CAP rounds (its check says whether that was
            # enough); at the end its own cap, and the rounds it settles on serve the run summary too
            capped = getattr(pl_module, "finish_capped", None)
            with nullcontext() if final or capped is None else capped(PERIODIC_FINISH_CAP):
                self.act(trainer, pl_module)

    @override
    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.at_start:
            self._at_step(trainer, pl_module)

    @override
    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx: int) -> None:
        if trainer.global_step % self.every_n_steps == 0 and trainer.global_step != trainer.max_steps:  # the last: at the end
            self._at_step(trainer, pl_module)

    @override
    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._at_step(trainer, pl_module, final=True)
