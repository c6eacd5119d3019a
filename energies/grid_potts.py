"""Potts model on an H×W pixel grid with 4-neighbour edges, vectorised with shifted slices.

With ``periodic=True`` the grid is a torus: row ``r`` also links its last and first column, and
column ``q`` its last and first row (``torch.roll`` instead of slices). On a torus of width or height
2 the wrap-around edge joins the same two nodes as the ordinary edge and **counts twice**, each copy
with its own weight: every torus has exactly ``2·H·W`` edges, the convention of Kaufman's formula
(``energies/kaufman.py``).
"""

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
        weights_h: optional weights of horizontal edges ``(r, col)–(r, col+1)``: ``(H, W-1)``, or
            ``(H, W)`` when periodic (column ``W-1`` holds the wrap-around edge to column 0).
        weights_v: optional weights of vertical edges ``(r, col)–(r+1, col)``: ``(H-1, W)``, or
            ``(H, W)`` when periodic (row ``H-1`` holds the wrap-around edge to row 0).
        periodic: add the wrap-around edges (a torus); needs ``H ≥ 2`` and ``W ≥ 2``.
        dtype: of the buffers (default: torch's default dtype); float64 for exact references.
    """

    def __init__(
        self,
        unary: Tensor,
        beta: float = 1.0,
        weights_h: Tensor | None = None,
        weights_v: Tensor | None = None,
        periodic: bool = False,
        dtype: torch.dtype | None = None,
    ) -> None:
        unary = torch.as_tensor(unary, dtype=torch.get_default_dtype() if dtype is None else dtype)
        if unary.dim() != 3:
            raise ValueError(f"unary must have shape (H, W, c), got {tuple(unary.shape)}")
        H, W, c = unary.shape
        super().__init__(H * W, c, grid=(H, W))
        if periodic and (H < 2 or W < 2):
            raise ValueError(f"periodic boundaries need at least 2 rows and 2 columns, got {H}×{W}")
        beta_t = require_finite("beta", torch.as_tensor(float(beta), dtype=unary.dtype))
        shape_h, shape_v = ((H, W), (H, W)) if periodic else ((H, W - 1), (H - 1, W))
        if weights_h is None:
            weights_h = beta_t.expand(shape_h)
        if weights_v is None:
            weights_v = beta_t.expand(shape_v)
        weights_h = torch.as_tensor(weights_h, dtype=unary.dtype)
        weights_v = torch.as_tensor(weights_v, dtype=unary.dtype)
        if weights_h.shape != shape_h or weights_v.shape != shape_v:
            kind = "periodic edge weights" if periodic else "edge weights"
            raise ValueError(
                f"{kind} must have shapes {shape_h} and {shape_v}, "
                f"got {tuple(weights_h.shape)} and {tuple(weights_v.shape)}"
            )
        self.beta = float(beta)
        self.periodic = bool(periodic)
        self.register_buffer("unary", require_finite("unary", unary))
        self.register_buffer("weights_h", require_finite("weights_h", weights_h.contiguous()))
        self.register_buffer("weights_v", require_finite("weights_v", weights_v.contiguous()))

    def _edge_ends(self, grid: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Both ends of every horizontal and vertical edge of ``grid (B, H, W, ...)``, aligned with
        ``weights_h``/``weights_v``: ``(right, left, down, up)``."""
        if self.periodic:
            return grid.roll(-1, 2), grid, grid.roll(-1, 1), grid
        return grid[:, :, 1:], grid[:, :, :-1], grid[:, 1:, :], grid[:, :-1, :]

    def energy(self, labels: Tensor) -> Tensor:
        x = self.check_labels(labels)
        H, W = self.grid
        grid = x.view(-1, H, W)
        unary = self.unary.view(self.n, self.c).gather(1, x.T).sum(0)
        right, left, down, up = self._edge_ends(grid)
        disagree_h = (right != left).to(self.unary.dtype)
        disagree_v = (down != up).to(self.unary.dtype)
        return unary + (disagree_h * self.weights_h).sum((1, 2)) + (disagree_v * self.weights_v).sum((1, 2))

    def expected_energy(self, S: Tensor) -> Tensor:
        S = self.check_soft(S)
        H, W = self.grid
        grid = S.view(-1, H, W, self.c)
        unary = (S * self.unary.view(self.n, self.c)).sum((1, 2))
        right, left, down, up = self._edge_ends(grid)
        # P(x_p ≠ x_q) = 1 − ⟨S_p, S_q⟩ under the product distribution
        disagree_h = 1 - (right * left).sum(-1)
        disagree_v = 1 - (down * up).sum(-1)
        return unary + (disagree_h * self.weights_h).sum((1, 2)) + (disagree_v * self.weights_v).sum((1, 2))

    def expected_energy_samples_last(self, S: Tensor) -> Tensor:
        """:meth:`expected_energy` of ``S (c, n, B)``: the same sums with the samples innermost, no copy of ``S``, and a
        backward that writes the pair term's gradient once (:class:`_PairsSamplesLast`)."""
        c, n, B = S.shape
        if (c, n) != (self.c, self.n):
            raise ValueError(f"S must have shape (c={self.c}, n={self.n}, B), got {tuple(S.shape)}")
        dtype = torch.promote_types(S.dtype, self.unary.dtype)  # as the (B, n, c) sums promote
        unary = self.unary.view(n, c).t().reshape(1, c * n).to(dtype) @ S.reshape(c * n, B).to(dtype)
        return unary[0] + _PairsSamplesLast.apply(S.reshape(c, *self.grid, B), self.weights_h, self.weights_v, self.periodic)

    def factors(self) -> tuple[Tensor, Tensor, Tensor]:
        H, W = self.grid
        idx = torch.arange(self.n, device=self.unary.device).view(1, H, W)
        right, left, down, up = self._edge_ends(idx)
        edges = torch.cat(
            [
                torch.stack([left.reshape(-1), right.reshape(-1)], 1),
                torch.stack([up.reshape(-1), down.reshape(-1)], 1),
            ]
        )
        potts = 1 - torch.eye(self.c, dtype=self.unary.dtype, device=self.unary.device)
        weights = torch.cat([self.weights_h.reshape(-1), self.weights_v.reshape(-1)])
        return self.unary.view(self.n, self.c), edges, weights[:, None, None] * potts

    def crop(self, top: int, left: int, height: int, width: int) -> "GridPottsEnergy":
        """The energy of the window ``[top, top+height) × [left, left+width)``: its unaries and the edges inside it
        (an open grid: the edges that leave the window are dropped), on this energy's device and dtype."""
        H, W = self.grid
        if self.periodic:
            raise ValueError("a torus has no crops: every window of it would have edges that wrap around")
        if not (0 <= top and 0 <= left and 1 <= height <= H - top and 1 <= width <= W - left):
            raise ValueError(f"window {height}×{width} at ({top}, {left}) is not inside the {H}×{W} grid")
        rows, cols = slice(top, top + height), slice(left, left + width)
        return GridPottsEnergy(self.unary[rows, cols].contiguous(),
                               self.beta, self.weights_h[rows, left : left + width - 1], self.weights_v[top : top + height - 1, cols],
                               dtype=self.unary.dtype)

    def extra_repr(self) -> str:
        return super().extra_repr() + (", periodic=True" if self.periodic else "")


class _PairsSamplesLast(torch.autograd.Function):
    """``Σ_edges w_pq (1 − ⟨S_p, S_q⟩)`` of ``S (c, H, W, B)`` per sample ``(B,)``. Its gradient is ``−Σ_q w_pq S_q`` over
    p's neighbours, written into one tensor; autograd's own backward of the four shifted slices fills and adds four
    tensors of S's size."""

    @staticmethod
    def forward(ctx, S: Tensor, weights_h: Tensor, weights_v: Tensor, periodic: bool) -> Tensor:
        right, down = (S.roll(-1, 2), S.roll(-1, 1)) if periodic else (S[:, :, 1:], S[:, 1:])
        left, up = (S, S) if periodic else (S[:, :, :-1], S[:, :-1])
        h = (weights_h[..., None] * (1 - (right * left).sum(0))).sum((0, 1))
        v = (weights_v[..., None] * (1 - (down * up).sum(0))).sum((0, 1))
        ctx.save_for_backward(S, weights_h, weights_v)
        ctx.periodic = periodic
        return h + v

    @staticmethod
    def backward(ctx, g: Tensor):
        S, weights_h, weights_v = ctx.saved_tensors
        wh, wv = weights_h[..., None], weights_v[..., None]
        if ctx.periodic:
            grad = -(wh * S.roll(-1, 2) + (wh * S).roll(1, 2) + wv * S.roll(-1, 1) + (wv * S).roll(1, 1))
        else:
            grad = torch.zeros_like(S)
            grad[:, :, :-1] -= wh * S[:, :, 1:]
            grad[:, :, 1:] -= wh * S[:, :, :-1]
            grad[:, :-1] -= wv * S[:, 1:]
            grad[:, 1:] -= wv * S[:, :-1]
        return grad * g, None, None, None

