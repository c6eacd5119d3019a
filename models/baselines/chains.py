"""Markov chains from uniform random labelings: the samplers a user would pick instead of the flow.

:class:`RandomStartChains` runs ``m`` independent chains of a schedule of the finish's kernels (``sw``, ``line``,
``hb``; :class:`models.finish.schedule.Finish`) from uniform random labelings. It has
the model contract of the flow (``sample``, ``marginals``, ``last_draw``), so ``sample.py --sampler`` and the
run summary treat it like a trained model; it learns nothing.
"""

from __future__ import annotations

import torch
from torch import Tensor

from energies.grid_potts import GridPottsEnergy
from models.energy_model import EnergyModel
from models.finish.schedule import Finish
from models.last_draw import LastDraw

#: the largest ``(samples, n)`` block of labelings swept at once (see ``RandomizedFlow.chunk``)
CHUNK_NODES = 2**23


class RandomStartChains(EnergyModel):
    """``m`` chains of ``schedule`` (kernel names in the order they run, e.g. ``"line"`` or ``"sw,hb"``; see
    :class:`~models.finish.schedule.Finish`) from uniform random labelings of ``energy``.

    Args:
        energy: the grid Potts energy.
        schedule: the sweeps, e.g. ``"hb"`` or ``["line"] * 60``.
        sweeps: repeat ``schedule`` this many times (≥ 1).

    Raises:
        ValueError, TypeError: as :class:`~models.finish.schedule.Finish` (another energy, an unknown kernel), or no sweeps.
    """

    def __init__(self, energy: GridPottsEnergy, schedule="hb", sweeps: int = 100) -> None:
        super().__init__(energy.n, energy.c)
        one = Finish(energy, schedule)
        if not one.schedule() or isinstance(sweeps, bool) or int(sweeps) != sweeps or sweeps < 1:
            raise ValueError("sweeps must be ≥ 1: a chain without sweeps is a uniform random labeling")
        self.finish = Finish(energy, one.schedule() * int(sweeps))
        self.attach_energy(energy)

    def chunks(self, m: int, generator: torch.Generator | None = None):
        """The ``m`` chains' final labelings, a block of chains at a time."""
        step = max(1, CHUNK_NODES // self.n)
        for i in range(0, m, step):
            start = torch.randint(0, self.c, (min(step, m - i), self.n), generator=generator, device=self.energy.unary.device)
            yield self.finish(start, generator)

    def sample(self, m: int, generator: torch.Generator | None = None) -> Tensor:
        return torch.cat(list(self.chunks(m, generator)))

    def marginals(self, m: int | None = None, generator: torch.Generator | None = None) -> Tensor:
        m = m or 4096
        total = self.energy.unary.new_zeros(self.n, self.c)
        for x in self.chunks(m, generator):
            total += torch.nn.functional.one_hot(x, self.c).sum(0)
        return total / m

    def last_draw_missing(self) -> str | None:
        return None if self.finish.ends_with_draw() else "the chains' last sweep is no heat-bath one, so its law is not a product"

    def last_draw(self, m: int, generator: torch.Generator | None = None) -> LastDraw:
        start = torch.randint(0, self.c, (m, self.n), generator=generator, device=self.energy.unary.device)
        return self.finish.as_draw(start, generator)
