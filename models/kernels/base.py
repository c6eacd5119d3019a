"""The Markov kernel interface: a P*-invariant step on a batch of grid labelings.

A kernel is built for one :class:`~energies.grid_potts.GridPottsEnergy` (it raises a one-line ``ValueError`` or
``TypeError`` where it cannot run on it, e.g. line sweeps on a torus) and sweeps labelings ``(chains, H, W)`` long.
Every kernel leaves ``P* ∝ exp(−E)`` invariant for every edge weight ``≥ 0``; that is what lets the finish chain any
of them in any order (``models/finish/schedule.py``) and only ever bring samples closer to P*.

A kernel whose sweep has a known law given the state before it (heat bath: a product of pixel conditionals) also
implements :meth:`Kernel.sweep_as_draw`; a finish that ends with one gives the semi-implicit bound its components.

Adding a kernel: one file in this folder with one subclass, and its name in :data:`models.kernels.KERNELS`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch
from torch import Tensor

from energies.grid_potts import GridPottsEnergy


class Kernel(ABC):
    """A P*-invariant Markov kernel for a grid Potts energy.

    Attributes:
        name: the registered name (``--finish sw,line,hb``, ``sample.py --sampler``, the report, the benchmarks).
        title: what it is in a few words, for messages.
        has_draw_law: whether :meth:`sweep_as_draw` gives the law of one sweep.
        on_torus: whether it runs on a periodic grid (a recipe's finish leaves it out there unless asked for).
    """

    name: ClassVar[str]
    title: ClassVar[str]
    has_draw_law: ClassVar[bool] = False
    on_torus: ClassVar[bool] = True

    def __init__(self, energy: GridPottsEnergy) -> None:
        if not isinstance(energy, GridPottsEnergy):
            raise TypeError(f"{self.title} needs a GridPottsEnergy, got {type(energy).__name__}")
        self.energy = energy

    @abstractmethod
    def sweep(self, x: Tensor, generator: torch.Generator | None = None, sweeps: int = 1) -> Tensor:
        """``sweeps`` sweeps of labelings ``x (chains, H, W)`` long: the labelings after them, same shape."""

    def sweep_as_draw(self, z: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """One sweep from ``z (chains, H, W)`` with its law: ``x``, a table ``(chains, n, c)`` of log probabilities
        that depend on ``z``, and the log of the rest at ``x`` ``(chains,)`` (see :class:`models.last_draw.LastDraw`)."""
        raise NotImplementedError(f"{self.title} ({self.name}) has no known law for one sweep")
