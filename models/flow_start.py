"""Learned start point ``S0`` of the flow, optionally with learned Gaussian noise on its logits."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.omega_dense import _inverse_softplus


class FlowStart(nn.Module):
    """``log S0 = log_softmax(logits + noise_std ⊙ ε)``, ``ε ~ N(0, I)`` per sample.

    A uniform ``S0`` is a fixed point of the flow (``ΩS`` then has equal entries per row), so the
    logits start random by default.

    Args:
        n: number of nodes.  c: number of labels.
        init_std: std of the random initial logits (0: uniform start, the paper's fixed point).
        noise_std: initial std of the learned logit noise; 0 disables the noise.
        generator: seeds the initial logits (the module's only randomness at construction).
    """

    def __init__(self, n: int, c: int, init_std: float = 1.0, noise_std: float = 0.0, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.n, self.c = int(n), int(c)
        self.logits = nn.Parameter(torch.randn(n, c, generator=generator) * init_std)
        self.noisy = noise_std > 0
        if self.noisy:
            self.noise_rho = nn.Parameter(torch.full((n, c), _inverse_softplus(noise_std)))

    @property
    def noise_std(self) -> Tensor | None:
        return F.softplus(self.noise_rho) if self.noisy else None

    def forward(self, m: int, generator: torch.Generator | None = None) -> Tensor:
        """``(m, n, c)`` log S0 for ``m`` samples."""
        logits = self.logits.expand(m, self.n, self.c)
        if self.noisy:
            noise = torch.randn(m, self.n, self.c, generator=generator, device=self.logits.device, dtype=self.logits.dtype)
            logits = logits + self.noise_std * noise
        return torch.log_softmax(logits, -1)
