"""A general pairwise model (eq. (11)) on any graph."""

from __future__ import annotations

import torch
from torch import Tensor

from energies.base import Energy, require_finite


class PairwiseEnergy(Energy):
    """``E(x) = Σ_i θ_i[x_i] + Σ_{(i,j)∈E} θ_ij[x_i, x_j]``.

    Args:
        unary: ``(n, c)`` unary potentials θ_i.
        edges: ``(E, 2)`` node index pairs; each undirected edge listed once.
        pairwise: ``(c, c)`` table shared by every edge, or ``(E, c, c)`` one table per edge.
    """

    def __init__(self, unary: Tensor, edges: Tensor, pairwise: Tensor) -> None:
        unary = torch.as_tensor(unary, dtype=torch.get_default_dtype())
        if unary.dim() != 2:
            raise ValueError(f"unary must have shape (n, c), got {tuple(unary.shape)}")
        n, c = unary.shape
        super().__init__(n, c)
        edges = torch.as_tensor(edges, dtype=torch.long).reshape(-1, 2)
        if edges.numel() and (edges.min() < 0 or edges.max() >= n):
            raise ValueError(f"edge endpoints must lie in [0, {n}), got range [{int(edges.min())}, {int(edges.max())}]")
        if (edges[:, 0] == edges[:, 1]).any():
            raise ValueError("self-loops are not pairwise terms; fold them into the unary")
        pairwise = torch.as_tensor(pairwise, dtype=unary.dtype)
        if pairwise.shape == (c, c):
            pairwise = pairwise.expand(len(edges), c, c).clone()
        if pairwise.shape != (len(edges), c, c):
            raise ValueError(f"pairwise must have shape ({c}, {c}) or ({len(edges)}, {c}, {c}), got {tuple(pairwise.shape)}")
        self.register_buffer("unary", require_finite("unary", unary))
        self.register_buffer("edges", edges)
        self.register_buffer("tables", require_finite("pairwise", pairwise))

    def energy(self, labels: Tensor) -> Tensor:
        x = self.check_labels(labels)
        unary = self.unary[torch.arange(self.n, device=x.device), x].sum(-1)
        xi, xj = x[:, self.edges[:, 0]], x[:, self.edges[:, 1]]
        e = torch.arange(len(self.edges), device=x.device)
        return unary + self.tables[e, xi, xj].sum(-1)

    def expected_energy(self, S: Tensor) -> Tensor:
        S = self.check_soft(S)
        unary = (S * self.unary).sum((-1, -2))
        Si, Sj = S[:, self.edges[:, 0]], S[:, self.edges[:, 1]]  # (B, E, c)
        return unary + torch.einsum("nea,eab,neb->n", Si, self.tables, Sj)

    def factors(self) -> tuple[Tensor, Tensor, Tensor]:
        return self.unary, self.edges, self.tables
