"""Markov chains from uniform random labelings: the samplers a user would pick instead of the flow.

:class:`RandomStartChains` runs ``m`` independent chains of Swendsen–Wang sweeps with the data term and/or
line or heat-bath sweeps (the flow's finish, :class:`models.finish.Finish`) from uniform random labelings. It has
the model contract of the flow (``sample``, ``marginals``, ``last_draw``), so ``sample.py --sampler`` and the
run summary treat it like a trained model; it learns nothing.
"""

from __future__ import annotations

import torch
from torch import Tensor

from energies.grid_potts import GridPottsEnergy
from models.energy_model import EnergyModel
from models.finish import Finish
from models.last_draw import LastDraw

#: the largest ``(samples, n)`` block of labelings swept at once (see ``RandomizedFlow.chunk``)
CHUNK_NODES = 2**23


class RandomStartChains(EnergyModel):
    """``m`` chains of ``sw_sweeps`` Swendsen–Wang, ``line_sweeps`` line and ``heat_bath_sweeps`` heat-bath sweeps
    (interleaved, a heat-bath sweep last) from uniform random labelings of ``energy``.

    Raises:
        ValueError, TypeError: as :class:`~models.finish.Finish` (another energy, negative counts), or no sweeps.
    """

    def __init__(self, energy: GridPottsEnergy, sw_sweeps: int = 0, heat_bath_sweeps: int = 100, line_sweeps: int = 0) -> None:
        super().__init__(energy.n, energy.c)
        if not (sw_sweeps or heat_bath_sweeps or line_sweeps):
            raise ValueError("sweeps must be ≥ 1: a chain without sweeps is a uniform random labeling")
        self.finish = Finish(energy, sw_sweeps, heat_bath_sweeps, line_sweeps=line_sweeps)
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
        return None if self.finish.ends_with_heat_bath() else "the chains' last sweep is no heat-bath one, so its law is not a product"

    def last_draw(self, m: int, generator: torch.Generator | None = None) -> LastDraw:
        start = torch.randint(0, self.c, (m, self.n), generator=generator, device=self.energy.unary.device)
        return self.finish.as_draw(start, generator)
