"""The P*-invariant finish after the flow: a schedule of Markov kernels (``models/kernels/``) run in order.

The flow's samples are a good amortised burn-in but not exact: on separated uncertain regions it gives each region
its own draw at about even odds whatever the data term's lean, and it is over-confident on boundary pixels. A few
sweeps of kernels that leave ``P* ∝ exp(−E)`` invariant can only bring the samples' distribution closer to P* (data
processing: ``KL[μT : P*] ≤ KL[μ : P*]``) and here fix both: Swendsen–Wang with the data term (``sw``) re-decides
whole regions with P*'s odds, line heat bath (``line``) moves a domain wall anywhere along its row or column, and
heat bath (``hb``) fixes the pixel fluctuations at region boundaries; a finish that ends with ``hb`` has a known law
for its last step (:meth:`Finish.as_draw`, the entropy bound).

A schedule is the kernels' registered names in the order they run, e.g. ``"sw,line,hb"`` (the image recipes' round,
``models/flow/recipes.py``); a name may repeat (``"sw,hb,hb"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby

import torch
from torch import Tensor

from energies.grid_potts import GridPottsEnergy
from models.kernels import kernel_class, parse_schedule
from models.last_draw import LastDraw


class Finish:
    """The sweeps of ``schedule`` applied in order to samples ``(m, n)`` of any model. Each kernel leaves P*
    invariant, so the finish does too, in any order.

    Args:
        energy: the :class:`GridPottsEnergy` of P*; the labels must be on its device.
        schedule: kernel names in the order they run, ``"sw,line,hb"`` or ``("sw", "line", "hb")``; empty: no sweeps.

    Raises:
        TypeError, ValueError: for another energy, an unknown kernel, or a kernel that cannot run on this energy
            (heat bath on a torus with an odd side, line sweeps on a torus, negative edge weights for ``sw``).
    """

    def __init__(self, energy: GridPottsEnergy, schedule: str | Sequence[str]) -> None:
        if not isinstance(energy, GridPottsEnergy):
            raise TypeError(f"the finish needs a GridPottsEnergy, got {type(energy).__name__}")
        names = parse_schedule(schedule if isinstance(schedule, str) else ",".join(schedule))
        self.energy, self.names = energy, names
        self.kernels = {}
        for name in dict.fromkeys(names):  # one kernel per distinct name, built in the order they first run
            try:
                self.kernels[name] = kernel_class(name)(energy)
            except ValueError as err:  # named by the kernel, so a caller knows what to drop from the schedule
                raise ValueError(f"finish kernel {name!r}: {err}; drop {name!r} from the finish") from None

    def schedule(self) -> list[str]:
        """The sweeps in the order they run, by kernel name."""
        return list(self.names)

    def __str__(self) -> str:
        return ",".join(self.names) or "none"

    def __call__(self, labels: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Finished labelings ``(m, n)`` long from labelings ``(m, n)``."""
        return self._run(self._grid(labels), self.names, generator).reshape(labels.shape)

    def ends_with_draw(self) -> bool:
        """Whether the last sweep has a known law (a heat-bath one): a finish :meth:`as_draw` can give."""
        return bool(self.names) and self.kernels[self.names[-1]].has_draw_law

    def as_draw(self, labels: Tensor, generator: torch.Generator | None = None) -> LastDraw:
        """The finished labelings with the law their last sweep drew them from
        (:meth:`models.kernels.base.Kernel.sweep_as_draw`): the components of the semi-implicit bound.

        Raises:
            ValueError: when the last sweep has no known law.
        """
        if not self.ends_with_draw():
            raise ValueError("the finish's last sweep is not a heat-bath one, so its law given the state before it is unknown")
        z = self._run(self._grid(labels), self.names[:-1], generator)
        x, table, rest = self.kernels[self.names[-1]].sweep_as_draw(z, generator)
        return LastDraw(x.reshape(labels.shape), table, rest)

    def _grid(self, labels: Tensor) -> Tensor:
        e = self.energy
        if labels.dim() != 2 or labels.shape[1] != e.n:
            raise ValueError(f"labels must have shape (m, {e.n}), got {tuple(labels.shape)}")
        if labels.device != e.unary.device:
            raise ValueError(f"labels are on {labels.device} but the energy on {e.unary.device}; move one of them")
        return labels.long().view(-1, *e.grid)

    def _run(self, x: Tensor, names: Sequence[str], generator: torch.Generator | None) -> Tensor:
        for name, run in groupby(names):  # consecutive sweeps of one kernel share its change of layout
            x = self.kernels[name].sweep(x, generator, len(list(run)))
        return x


def finish(energy: GridPottsEnergy, labels: Tensor, schedule: str | Sequence[str],
           generator: torch.Generator | None = None) -> Tensor:
    """``Finish(energy, schedule)(labels, generator)``: see :class:`Finish`."""
    return Finish(energy, schedule)(labels, generator)
