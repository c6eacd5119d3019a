"""The figures of integer samples as a torchmetrics ``Metric``, so that under DDP every process adds its own
samples and ``compute`` gives the figures of all of them together, as one process would of their union."""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from energies.exact import ExactResult
from energies.sample_stats import figures_with_energy, sample_marginals
from metrics.uncertainty import label_changes_from_samples


class SampleFigures(Metric):
    """Mean energy, entropy (plug-in + Miller–Madow), free energy, support and label changes of integer
    samples; with ``exact``, also KL[P̂ : P*] and the marginal difference.

    States: the labelings, concatenated over processes (``"cat"``: the plug-in entropy and the support
    count *distinct* labelings, which no sum of per-process figures gives), and the energy sum (``"sum"``).
    Under DDP ``compute`` is a collective: every process must call it (figures of ``exact`` are computed
    where it is given, e.g. on rank zero only).
    """

    full_state_update = False
    is_differentiable = False
    higher_is_better = None

    def __init__(self, c: int, exact: ExactResult | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.c, self.exact = int(c), exact
        self.add_state("labelings", default=[], dist_reduce_fx="cat")
        self.add_state("energy_sum", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, labelings: Tensor, energies: Tensor) -> None:
        """Add ``labelings (k, n)`` with their energies ``(k,)`` (``k = 0`` allowed: a process without samples)."""
        if labelings.dim() != 2 or energies.shape != labelings.shape[:1]:
            raise ValueError(f"labelings (k, n) and energies (k,) expected, got {tuple(labelings.shape)} and {tuple(energies.shape)}")
        self.labelings.append(labelings.detach().long().to(self.energy_sum.device))
        self.energy_sum += energies.detach().double().sum().to(self.energy_sum.device)

    def compute(self) -> dict:
        """The figures (:func:`energies.sample_stats.figures_with_energy`, ``label_changes``), with the
        ``labelings`` of all processes and their empirical ``marginals`` (tensors)."""
        labelings = dim_zero_cat(self.labelings)
        out = figures_with_energy(labelings, float(self.energy_sum) / labelings.shape[0], self.c, self.exact)
        out["label_changes"] = label_changes_from_samples(labelings, self.c)
        out["labelings"], out["marginals"] = labelings, sample_marginals(labelings, self.c)
        return out
