"""Mean-field baseline: a product distribution M = softmax(V) minimising KL[T(M) : P*] (eqs. (14), (16))."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from energies.base import Energy
from models.energy_model import EnergyModel, check_lr
from models.last_draw import LastDraw


class MeanField(EnergyModel):
    """Many random restarts trained as one batch; the restart with the lowest free energy is kept.

    The free energy of restart r is ``⟨T(M_r), E⟩ − H(T(M_r)) = expected_energy(M_r) + ⟨M_r, log M_r⟩``
    (eq. (16)); KL = free energy + log Z*. Restarts are independent, so their sum is minimised.

    Args:
        n: number of nodes.  c: number of labels.
        restarts: number of random initialisations, V ~ N(0, init_std²) (paper: 1,000 from N(0, 1)).
        lr: Adam step length.
    """

    def __init__(self, n: int, c: int, restarts: int = 1000, lr: float = 0.2, init_std: float = 1.0) -> None:
        super().__init__(n, c)
        if restarts < 1:
            raise ValueError(f"restarts must be ≥ 1, got {restarts}")
        check_lr(lr)
        self.save_hyperparameters()
        self.logits = nn.Parameter(torch.randn(restarts, n, c) * init_std)

    def energies_and_entropies(self) -> tuple[Tensor, Tensor]:
        """Expected energy (eq. (17)) and entropy (eq. (16)) of every restart, each ``(restarts,)``."""
        log_M = torch.log_softmax(self.logits, -1)
        M = log_M.exp()
        return self.energy.expected_energy(M), -(M * log_M).sum((1, 2))

    def free_energies(self) -> Tensor:
        """Free energy ``⟨T(M), E⟩ − H(T(M))`` of every restart ``(restarts,)``."""
        energy, entropy = self.energies_and_entropies()
        return energy - entropy

    def training_step(self, batch, batch_idx) -> Tensor:
        energy, entropy = self.energies_and_entropies()
        free = energy - entropy
        best = free.detach().argmin()
        self.log("train/free_energy", free[best].detach(), prog_bar=True)
        self.log("train/energy", energy[best].detach())
        self.log("train/entropy", entropy[best].detach())
        return free.sum()

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)

    def best_index(self) -> int:
        with torch.no_grad():
            return int(self.free_energies().argmin())

    def best_marginals(self) -> Tensor:
        with torch.no_grad():
            return torch.softmax(self.logits[self.best_index()], -1)

    def entropy(self) -> float:
        """Exact entropy of the kept product distribution, eq. (16)."""
        M = self.best_marginals()
        return float(-(M * M.clamp_min(1e-30).log()).sum())

    def marginals(self, m: int | None = None, generator: torch.Generator | None = None) -> Tensor:
        return self.best_marginals()  # exact for a product distribution: no sampling

    def sample(self, m: int, generator: torch.Generator | None = None) -> Tensor:
        M = self.best_marginals()
        return torch.multinomial(M, m, replacement=True, generator=generator).T.contiguous()

    def last_draw_missing(self) -> str | None:
        return None

    def last_draw(self, m: int, generator: torch.Generator | None = None) -> LastDraw:
        """``m`` samples with their law: one component, the product distribution itself."""
        M = self.best_marginals()
        return LastDraw(self.sample(m, generator), M.clamp_min(1e-30).log().expand(m, *M.shape), M.new_zeros(m))


def mean_field_solution(energy: Energy, restarts: int = 64, iterations: int = 500, damping: float = 0.5,
                        generator: torch.Generator | None = None) -> Tensor:
    """``(n, c)`` log marginals of a mean-field solution of ``energy``: the flow's ``"mean-field"`` start.

    Each restart iterates the mean-field equations ``log M_i = −∂⟨E⟩_M/∂M_i + const`` (eq. (17) is linear in each
    node's row, so the right side does not depend on ``M_i``), damped in the logits: ``V ← (1 − damping)·V +
    damping·(−∂⟨E⟩/∂M)``, from ``V ~ N(0, I)``. The restart with the lowest free energy (eq. (16)) is kept: the
    same objective as :class:`MeanField`, whose Adam steps reach the same fixed points more slowly.
    """
    if restarts < 1 or iterations < 1 or not 0 < damping <= 1:
        raise ValueError(f"restarts and iterations must be ≥ 1 and damping in (0, 1], got {restarts}, {iterations}, {damping}")
    like = next(iter(energy.buffers()), torch.empty(0))
    logits = torch.randn(restarts, energy.n, energy.c, generator=generator, dtype=like.dtype).to(like.device)
    for _ in range(iterations):
        M = torch.softmax(logits, -1).requires_grad_(True)
        (field,) = torch.autograd.grad(energy.expected_energy(M).sum(), M)
        logits = (1 - damping) * logits + damping * (-field)
    with torch.no_grad():
        log_M = torch.log_softmax(logits, -1)
        free = energy.expected_energy(log_M.exp()) + (log_M.exp() * log_M).sum((1, 2))
        return log_M[free.argmin()]
