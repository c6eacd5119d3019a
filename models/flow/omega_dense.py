"""Dense random interaction of Theorem 1: ``Ω = max(Z + Zᵀ, 0) + εI`` with Gaussian ``Z``."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.flow.assignment_flow import ApplyOmega


def check_variance(variance: float) -> float:
    """The initial variance of Ω's weights: a positive finite number."""
    if not (variance > 0 and math.isfinite(variance)):
        raise ValueError(f"variance must be positive, got {variance}")
    return float(variance)


def _inverse_softplus(x: float) -> float:
    return x + math.log(-math.expm1(-x))


class DenseOmega(nn.Module):
    """Distribution μ over symmetric non-negative ``Ω ∈ R^{n×n}`` (Theorem 1, §5).

    ``Z = mean + std ⊙ ε`` with ``ε ~ N(0, I)`` (reparameterization trick [15]); ``std = softplus(ρ)``
    keeps it positive. Every draw meets Theorem 1, so the flow converges to a vertex.

    Args:
        n: number of nodes.
        mean: initial mean of every entry of ``Z`` (paper: 1/20).
        variance: initial variance of every entry of ``Z`` (paper: 0.1).
        eps: ``ε`` of ``εI`` (paper: 1e-3).
        learn_std: learn ``std`` (else it stays at its initial value).
    """

    layout = "mnc"  # applies to S of shape (m, n, c) (models.flow.assignment_flow.LAYOUTS)

    def __init__(self, n: int, mean: float = 1 / 20, variance: float = 0.1, eps: float = 1e-3, learn_std: bool = True) -> None:
        super().__init__()
        check_variance(variance)
        self.n, self.eps = int(n), float(eps)
        self.mean = nn.Parameter(torch.full((n, n), float(mean)))
        rho = torch.full((n, n), _inverse_softplus(math.sqrt(variance)))
        self.rho = nn.Parameter(rho, requires_grad=learn_std)

    @property
    def std(self) -> Tensor:
        """Componentwise standard deviation of ``Z`` ``(n, n)``."""
        return F.softplus(self.rho)

    def draw(self, m: int, generator: torch.Generator | None = None) -> Tensor:
        """``m`` operators ``(m, n, n)``: ``Ω = max(Z + Zᵀ, 0) + εI`` (Theorem 1)."""
        noise = torch.randn(m, self.n, self.n, generator=generator, device=self.mean.device, dtype=self.mean.dtype)
        Z = self.mean + self.std * noise
        eye = torch.eye(self.n, device=Z.device, dtype=Z.dtype)
        return torch.relu(Z + Z.transpose(1, 2)) + self.eps * eye

    def forward(self, m: int, generator: torch.Generator | None = None) -> ApplyOmega:
        """Draw ``m`` operators; return ``S (m, n, c) ↦ ΩS`` as one batched matmul."""
        omega = self.draw(m, generator)
        return lambda S: torch.bmm(omega, S)

    def extra_repr(self) -> str:
        return f"n={self.n}, eps={self.eps}"
