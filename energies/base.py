"""The energy contract every model, callback and benchmark relies on.

An :class:`Energy` defines a Gibbs distribution ``P*(x) ∝ exp(-E(x))`` over integer labelings
``x ∈ [c]^n`` (paper eq. (10)). Models see only this contract; everything that knows the graph
lives in the implementation. Constants are buffers, so ``.to(device)`` moves them.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Energy(nn.Module):
    """Base class: a pairwise energy on ``n`` nodes with ``c`` labels.

    Subclasses implement :meth:`energy` and :meth:`expected_energy`, and :meth:`factors` when the
    energy is pairwise (all bundled energies are), which the exact engine uses to enumerate fast.

    Attributes:
        n: number of nodes.
        c: number of labels.
        grid: ``(H, W)`` when nodes are the pixels of a grid in row-major order, else ``None``.
    """

    def __init__(self, n: int, c: int, grid: tuple[int, int] | None = None) -> None:
        super().__init__()
        if int(n) < 1:
            raise ValueError(f"an energy needs at least one node, got n={n}")
        if int(c) < 2:
            raise ValueError(f"an energy needs at least 2 labels, got c={c}")
        if grid is not None and grid[0] * grid[1] != n:
            raise ValueError(f"grid {grid} does not hold n={n} nodes")
        self.n, self.c = int(n), int(c)
        self.grid = None if grid is None else (int(grid[0]), int(grid[1]))

    def energy(self, labels: Tensor) -> Tensor:
        """Exact energy of integer labelings: ``(B, n) long -> (B,)``."""
        raise NotImplementedError

    def expected_energy(self, S: Tensor) -> Tensor:
        """Expected energy under the product distribution ``T(S)`` (eq. (17)): ``(B, n, c) -> (B,)``.

        Differentiable in ``S``; equals :meth:`energy` when the rows of ``S`` are one-hot.
        """
        raise NotImplementedError

    def expected_energy_samples_last(self, S: Tensor) -> Tensor:
        """:meth:`expected_energy` of ``S`` given samples last, ``(c, n, B) -> (B,)`` (the layout the image flow trains
        in); this default moves the samples first."""
        return self.expected_energy(S.permute(2, 1, 0))

    def factors(self) -> tuple[Tensor, Tensor, Tensor]:
        """Pairwise form of eq. (11): ``unary (n, c)``, ``edges (E, 2) long``, ``tables (E, c, c)``.

        ``E(x) = Σ_i unary[i, x_i] + Σ_e tables[e, x_{edges[e,0]}, x_{edges[e,1]}]``.
        """
        raise NotImplementedError(f"{type(self).__name__} has no pairwise form")

    # -- argument checks shared by all implementations -------------------------------------------
    def check_labels(self, labels: Tensor) -> Tensor:
        if labels.dim() != 2 or labels.shape[1] != self.n:
            raise ValueError(f"labels must have shape (B, {self.n}), got {tuple(labels.shape)}")
        if labels.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
            raise TypeError(f"labels must be an integer tensor, got {labels.dtype}")
        return labels.long()

    def check_soft(self, S: Tensor) -> Tensor:
        if S.dim() != 3 or S.shape[1:] != (self.n, self.c):
            raise ValueError(f"soft labelings must have shape (B, {self.n}, {self.c}), got {tuple(S.shape)}")
        return S

    def extra_repr(self) -> str:
        grid = "" if self.grid is None else f", grid={self.grid}"
        return f"n={self.n}, c={self.c}{grid}"


def require_finite(name: str, value: Tensor) -> Tensor:
    """Raise a one-line ``ValueError`` when an energy parameter holds NaN or ±inf."""
    if not torch.isfinite(value).all():
        raise ValueError(f"energy parameter '{name}' contains NaN or infinite values")
    return value


def label_symmetric(energy: Energy, tol: float = 1e-9) -> bool:
    """Whether every relabelling ``x ↦ π(x)`` leaves ``energy`` unchanged, from its pairwise form: each node's unary
    is the same for every label, and every pair table is invariant under a transposition and a cycle of the labels
    (which generate all permutations)."""
    unary, _, tables = energy.factors()
    c = energy.c
    scale = tol * (1 + float(unary.abs().max()) + (float(tables.abs().max()) if tables.numel() else 0.0))
    if float((unary - unary[:, :1]).abs().max()) > scale:
        return False
    for perm in ([1, 0, *range(2, c)], [*range(1, c), 0]):
        p = torch.tensor(perm, device=tables.device)
        if tables.numel() and float((tables[:, p][:, :, p] - tables).abs().max()) > scale:
            return False
    return True
