"""A lower bound on ``KL[Q : P*]`` from samples of ``Q`` alone: Donsker–Varadhan with exact ``log Z`` at
other weights of the energy.

For any function ``f``, ``KL[Q : P*] ≥ E_Q[f] − log E_{P*}[e^f]`` (Donsker–Varadhan). With
``f = −(s−1)·U − (t−1)·V`` (``U`` the data term, ``V`` the pairwise terms, ``E = U + V``),
``E_{P*}[e^f] = Z(s, t) / Z(1, 1)`` (:class:`energies.log_partition.LogPartition`), so

    KL[Q : P*] ≥ g(s, t) = −(s−1)·⟨U⟩_Q − (t−1)·⟨V⟩_Q − log Z(s, t) + log Z(1, 1),

for every ``s, t ≥ 0``; ``g`` is concave and ``g(1, 1) = 0``. Its maximum is the KL from P* to the member of
the family ``{P_{s,t} ∝ e^{−sU−tV}}`` with Q's mean data term and pairwise energy: the bound sees a sampler
whose energies are off, not one with the right energies in the wrong places.

``log Z`` is computed once per energy on a grid of scales (:data:`SCALES`; along ``t`` alone where one ``log Z``
is costly, and on a torus without a field, where ``U ≡ 0``: a 12-row strip at 3 labels then takes ~40 s). The scales are chosen on one half of the samples and the bound is evaluated on the other half, so
the choice adds no optimism; the figure is that half's mean with its standard error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from energies.log_partition import LogPartition, data_term

SCALES = (0.4, 0.7, 0.9, 1.0, 1.1, 1.3, 1.6, 2.5)  # values of s and of t (1 ± 0.1 near P*, up to ×2.5 far from it)
GRID_WORK = 2e7  # the 2-D grid where one log Z costs at most this (LogPartition.work; 8 rows × 64 at c = 3: 1e7), else t alone


@dataclass
class KLLower:
    """Result of :meth:`DonskerVaradhan.__call__`."""

    bound: float  # g(s, t) on the held-out half, ≤ KL[Q : P*] in expectation
    stderr: float
    unary_scale: float  # s
    pair_scale: float  # t
    samples: int  # in the held-out half

    @property
    def certified(self) -> float:
        """``bound − 2·stderr``, and never below 0 (a KL is not): the figure that is logged as ``kl_lower``."""
        return max(0.0, self.bound - 2 * self.stderr)


class DonskerVaradhan:
    """The lower bound for one energy; the ``log Z`` of its grid of scales is computed at construction.

    Args:
        log_partition: of the energy (its ``method`` must not be ``None``).
        grid_work: the largest :meth:`~energies.log_partition.LogPartition.work` of one ``log Z`` for the 2-D grid.
    """

    def __init__(self, log_partition: LogPartition, grid_work: float = GRID_WORK) -> None:
        self.log_z = log_partition
        self.log_z_star = log_partition(1.0, 1.0)
        flat = log_partition.method == "Kaufman" or log_partition.work() > grid_work
        pairs = [(1.0, t) for t in SCALES] if flat else [(s, t) for s in SCALES for t in SCALES]
        self.scales = torch.tensor(pairs, dtype=torch.float64)  # (k, 2)
        self.offsets = torch.tensor([log_partition(s, t) for s, t in pairs], dtype=torch.float64) - self.log_z_star

    def of_samples(self, labelings: Tensor) -> KLLower:
        """The bound from integer samples ``(m, n)`` of Q (on the energy this bound was built for)."""
        energy = self.log_z.energy
        x = labelings.to(next(iter(energy.buffers())).device)
        unary = data_term(energy, x)
        return self(unary, energy.energy(x).double() - unary)

    def __call__(self, data_terms: Tensor, pair_terms: Tensor) -> KLLower:
        """The bound from the samples' data terms ``U (m,)`` and pairwise energies ``V (m,)`` (``m ≥ 4``)."""
        m = data_terms.shape[0]
        if m < 4 or pair_terms.shape != data_terms.shape:
            raise ValueError(f"need ≥ 4 samples' data and pairwise terms of one shape, got {tuple(data_terms.shape)} and {tuple(pair_terms.shape)}")
        terms = torch.stack([data_terms, pair_terms], 1).double().cpu()  # (m, 2)
        f = -terms @ (self.scales - 1).T  # (m, k): f(x) at every scale
        choose, held_out = f[: m // 2], f[m // 2 :]
        best = int((choose.mean(0) - self.offsets).argmax())
        values = held_out[:, best] - self.offsets[best]
        s, t = self.scales[best].tolist()
        return KLLower(float(values.mean()), float(values.std() / math.sqrt(len(values))), s, t, len(values))
