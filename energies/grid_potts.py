"""Potts model on an H×W pixel grid with 4-neighbour edges, vectorised with shifted slices."""

from __future__ import annotations

import torch
from torch import Tensor

from energies.base import Energy, require_finite


class GridPottsEnergy(Energy):
    """``E(x) = Σ_p θ_p[x_p] + Σ_{p~q} w_pq [x_p ≠ x_q]`` on a 4-neighbour grid.

    Nodes are pixels in row-major order (node ``i = r·W + col``).

    Args:
        unary: ``(H, W, c)`` unary potentials.
        beta: Potts weight per disagreeing neighbour pair (used where no per-edge weight is given).
        weights_h: optional ``(H, W-1)`` weights of horizontal edges ``(r, col)–(r, col+1)``.
        weights_v: optional ``(H-1, W)`` weights of vertical edges ``(r, col)–(r+1, col)``.
    """

    def __init__(
        self,
        unary: Tensor,
        beta: float = 1.0,
        weights_h: Tensor | None = None,
        weights_v: Tensor | None = None,
    ) -> None:
        unary = torch.as_tensor(unary, dtype=torch.get_default_dtype())
        if unary.dim() != 3:
            raise ValueError(f"unary must have shape (H, W, c), got {tuple(unary.shape)}")
        H, W, c = unary.shape
        super().__init__(H * W, c, grid=(H, W))
        beta_t = require_finite("beta", torch.as_tensor(float(beta)))
        if weights_h is None:
            weights_h = beta_t.expand(H, W - 1)
        if weights_v is None:
            weights_v = beta_t.expand(H - 1, W)
        weights_h = torch.as_tensor(weights_h, dtype=unary.dtype)
        weights_v = torch.as_tensor(weights_v, dtype=unary.dtype)
        if weights_h.shape != (H, W - 1) or weights_v.shape != (H - 1, W):
            raise ValueError(
                f"edge weights must have shapes ({H}, {W - 1}) and ({H - 1}, {W}), "
                f"got {tuple(weights_h.shape)} and {tuple(weights_v.shape)}"
            )
        self.beta = float(beta)
        self.register_buffer("unary", require_finite("unary", unary))
        self.register_buffer("weights_h", require_finite("weights_h", weights_h.contiguous()))
        self.register_buffer("weights_v", require_finite("weights_v", weights_v.contiguous()))

    def energy(self, labels: Tensor) -> Tensor:
        x = self.check_labels(labels)
        H, W = self.grid
        grid = x.view(-1, H, W)
        unary = self.unary.view(self.n, self.c).gather(1, x.T).sum(0)
        disagree_h = (grid[:, :, 1:] != grid[:, :, :-1]).to(self.unary.dtype)
        disagree_v = (grid[:, 1:, :] != grid[:, :-1, :]).to(self.unary.dtype)
        return unary + (disagree_h * self.weights_h).sum((1, 2)) + (disagree_v * self.weights_v).sum((1, 2))

    def expected_energy(self, S: Tensor) -> Tensor:
        S = self.check_soft(S)
        H, W = self.grid
        grid = S.view(-1, H, W, self.c)
        unary = (S * self.unary.view(self.n, self.c)).sum((1, 2))
        # P(x_p ≠ x_q) = 1 − ⟨S_p, S_q⟩ under the product distribution
        disagree_h = 1 - (grid[:, :, 1:] * grid[:, :, :-1]).sum(-1)
        disagree_v = 1 - (grid[:, 1:, :] * grid[:, :-1, :]).sum(-1)
        return unary + (disagree_h * self.weights_h).sum((1, 2)) + (disagree_v * self.weights_v).sum((1, 2))

    def factors(self) -> tuple[Tensor, Tensor, Tensor]:
        H, W = self.grid
        idx = torch.arange(self.n, device=self.unary.device).view(H, W)
        edges = torch.cat(
            [
                torch.stack([idx[:, :-1].reshape(-1), idx[:, 1:].reshape(-1)], 1),
                torch.stack([idx[:-1, :].reshape(-1), idx[1:, :].reshape(-1)], 1),
            ]
        )
        potts = 1 - torch.eye(self.c, dtype=self.unary.dtype, device=self.unary.device)
        weights = torch.cat([self.weights_h.reshape(-1), self.weights_v.reshape(-1)])
        return self.unary.view(self.n, self.c), edges, weights[:, None, None] * potts
