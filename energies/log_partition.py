"""Exact ``log Z`` of an energy with its data term and its pairwise weights scaled: the family the
Donsker–Varadhan lower bound on the KL (:mod:`metrics.kl_lower`) needs.

For a pairwise energy ``E(x) = U(x) + V(x)`` (``U`` the unary/data term, ``V`` the pairwise terms),

    log Z(s, t) = log Σ_x exp(−s·U(x) − t·V(x)),     log Z(1, 1) = log Z*.

It is exact where the energy can be solved: split enumeration (:mod:`energies.exact`), the column transfer
matrix for open grids of a few rows (:mod:`energies.transfer_matrix`), Kaufman's formula for the zero-field
uniform Ising torus (:mod:`energies.kaufman`, where ``U ≡ 0``).
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
from torch import Tensor

from energies.base import Energy
from energies.exact import exact_inference, is_enumerable
from energies.grid_potts import GridPottsEnergy
from energies.kaufman import potts_log_z
from energies.pairwise import PairwiseEnergy
from energies.transfer_matrix import check_transfer, transfer_matrix_log_z


def data_term(energy: Energy, labels: Tensor) -> Tensor:
    """``U(x)``: the unary part of the energy of ``labels (B, n)``, ``(B,)`` float64 (``V = E − U``)."""
    unary = energy.factors()[0]
    x = energy.check_labels(labels).to(unary.device)
    return unary.double().gather(1, x.T).sum(0)


def _uniform_ising_torus(energy: Energy) -> float | None:
    """The edge weight of a zero-field, uniform, 2-label torus (Kaufman's case), else ``None``."""
    if not (isinstance(energy, GridPottsEnergy) and energy.periodic and energy.c == 2) or energy.unary.abs().max() > 0:
        return None
    w = energy.weights_h.double()
    if not (torch.all(w == w.flatten()[0]) and torch.all(energy.weights_v.double() == w.flatten()[0])):
        return None
    return float(w.flatten()[0])


class LogPartition:
    """``log Z(s, t)`` of one energy, computed once per ``(s, t)``.

    Attributes:
        method: ``"enumeration"``, ``"transfer matrix"``, ``"Kaufman"``, or ``None`` when no exact method
            applies (then :meth:`__call__` raises and :attr:`why_not` says why).
    """

    def __init__(self, energy: Energy) -> None:
        self.energy, self.why_not = energy, None
        self.method = self._method()
        self._cached = lru_cache(maxsize=None)(self._compute)

    def _method(self) -> str | None:
        energy = self.energy
        try:
            energy.factors()
        except NotImplementedError:
            self.why_not = f"{type(energy).__name__} has no pairwise form"
            return None
        try:  # the fastest where it applies: O(L·w·c^(w+1)) against enumeration's O(c^(n/2))
            check_transfer(energy)
            return "transfer matrix"
        except (TypeError, ValueError) as err:
            why_not = err
        if _uniform_ising_torus(energy) is not None:
            return "Kaufman"
        if is_enumerable(energy):
            return "enumeration"
        self.why_not = f"too large to enumerate, and {why_not}"
        return None

    def work(self) -> float:
        """Operations of one ``log Z`` (up to a constant): ``L·w·c^(w+1)`` for the transfer matrix, ``n·c^(n/2)`` for
        split enumeration, 1 for Kaufman's formula; ``inf`` without a method."""
        e = self.energy
        if self.method == "transfer matrix":
            H, W = e.grid
            w = min(H, W)
            return max(H, W) * w * e.c ** (w + 1)
        if self.method == "enumeration":
            return e.n * e.c ** math.ceil(e.n / 2)
        return 1.0 if self.method == "Kaufman" else math.inf

    def scaled(self, s: float, t: float) -> Energy:
        """The energy ``s·U + t·V`` (float64)."""
        e = self.energy
        if isinstance(e, GridPottsEnergy):
            return GridPottsEnergy(e.unary.double() * s, weights_h=e.weights_h.double() * t, weights_v=e.weights_v.double() * t,
                                   periodic=e.periodic, dtype=torch.float64)
        unary, edges, tables = e.factors()
        return PairwiseEnergy(unary.double() * s, edges, tables.double() * t)

    def __call__(self, s: float = 1.0, t: float = 1.0) -> float:
        """``log Z(s, t)``; ``s, t ≥ 0``."""
        if self.method is None:
            raise ValueError(f"no exact log Z: {self.why_not}")
        if not (s >= 0 and t >= 0 and math.isfinite(s) and math.isfinite(t)):
            raise ValueError(f"the scales must be finite and ≥ 0, got s={s}, t={t}")
        return self._cached(float(s), float(t))

    def _compute(self, s: float, t: float) -> float:
        if self.method == "Kaufman":
            H, W = self.energy.grid
            return potts_log_z(H, W, _uniform_ising_torus(self.energy) * t / 2)  # Potts weight 2β ↔ Ising coupling β
        energy = self.scaled(s, t)
        if self.method == "enumeration":
            return exact_inference(energy).log_z
        return transfer_matrix_log_z(energy)
