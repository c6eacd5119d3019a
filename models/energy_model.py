"""Shared base of the models trained against an Energy: energy wiring and the sampling contract."""

from __future__ import annotations

import math

import lightning as L
import torch
from torch import Tensor

from energies.base import Energy


def check_lr(lr: float) -> float:
    """An optimizer's step length: a positive finite number (every model's ``lr``)."""
    if not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be positive and finite, got {lr}")
    return float(lr)


class EnergyModel(L.LightningModule):
    """A LightningModule that approximates ``P* ∝ exp(-E)`` for an energy on ``n`` nodes, ``c`` labels.

    The energy is not part of the checkpoint (it is data, served by the DataModule): the model
    takes it from ``trainer.datamodule.energy`` at setup, or from :meth:`attach_energy`.
    Subclasses implement :meth:`sample` and :meth:`marginals`.
    """

    def __init__(self, n: int, c: int) -> None:
        super().__init__()
        if n < 1 or c < 2:
            raise ValueError(f"a model needs n ≥ 1 nodes and c ≥ 2 labels, got n={n}, c={c}")
        self.n, self.c = int(n), int(c)
        self._energy: Energy | None = None

    @property
    def energy(self) -> Energy:
        if self._energy is None:
            raise RuntimeError("no energy attached: call attach_energy(energy) or train with a DataModule")
        return self._energy

    def attach_energy(self, energy: Energy) -> "EnergyModel":
        if (energy.n, energy.c) != (self.n, self.c):
            raise ValueError(
                f"the energy has n={energy.n}, c={energy.c} but the model was built for n={self.n}, c={self.c}"
            )
        # kept out of the module tree (object.__setattr__): the energy is data, not part of the checkpoint
        object.__setattr__(self, "_energy", energy.to(self.device))
        return self

    def _apply(self, fn, *args, **kwargs):
        # ``.to(device)`` / ``.double()`` of the model carry the attached energy along
        super()._apply(fn, *args, **kwargs)
        if self._energy is not None:
            self._energy._apply(fn, *args, **kwargs)
        return self

    def setup(self, stage: str) -> None:
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if self._energy is None and datamodule is not None:
            self.attach_energy(datamodule.energy)

    def teardown(self, stage: str) -> None:
        # A process that leaves its gloo process group to the interpreter's exit while another rank still
        # tears its own down aborts now and then ("terminate called without an active exception", SIGABRT: a
        # DDP child fails). Measured with 2 spawned gloo processes and one all_gather: 5 of 80 runs abort;
        # destroying the group alone: 3 of 40; a barrier first, then destroy: 0 of 120. Lightning closes NCCL
        # groups at exit but not gloo ones, so the models do it, in the last hook of fit on every rank.
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            if torch.distributed.get_backend() == "gloo":
                torch.distributed.barrier()
                torch.distributed.destroy_process_group()

    def on_fit_start(self) -> None:
        object.__setattr__(self, "_energy", self.energy.to(self.device))

    def sample(self, m: int, generator: torch.Generator | None = None) -> Tensor:
        """``m`` integer labelings ``(m, n)`` drawn from the model."""
        raise NotImplementedError

    def marginals(self, m: int | None = None, generator: torch.Generator | None = None) -> Tensor:
        """The model's marginals ``(n, c)``; sampling models estimate them from ``m`` draws."""
        raise NotImplementedError

    def last_draw_missing(self) -> str | None:
        """Why :meth:`last_draw` gives nothing for this model (``None`` where it does)."""
        return f"{type(self).__name__} does not give the law of its last draw"

    def last_draw(self, m: int, generator: torch.Generator | None = None):
        """``m`` samples with the law of their last random step (:class:`models.last_draw.LastDraw`): the
        components of the semi-implicit bound (:mod:`models.flow.kl_bound`)."""
        raise ValueError(self.last_draw_missing())
