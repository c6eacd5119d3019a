"""Checkerboard Gibbs sampler for the grid Potts energy: the MCMC baseline of the benchmarks.

On a 4-neighbour grid the pixels of one checkerboard colour are conditionally independent given the
other colour, so each half-sweep resamples half of all pixels of all chains in one vectorised step.
"""

from __future__ import annotations

import torch
from torch import Tensor

from energies.grid_potts import GridPottsEnergy


class CheckerboardGibbs:
    """Parallel Gibbs chains ``(chains, H, W)`` targeting ``P* ∝ exp(-E)`` of a :class:`GridPottsEnergy`."""

    def __init__(self, energy: GridPottsEnergy) -> None:
        if not isinstance(energy, GridPottsEnergy):
            raise TypeError(f"checkerboard Gibbs needs a GridPottsEnergy, got {type(energy).__name__}")
        self.energy = energy
        H, W = energy.grid
        rows, cols = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
        self.colours = [((rows + cols) % 2 == parity).to(energy.unary.device) for parity in (0, 1)]

    def random_start(self, chains: int, generator: torch.Generator | None = None) -> Tensor:
        H, W = self.energy.grid
        return torch.randint(0, self.energy.c, (chains, H, W), generator=generator, device=self.energy.unary.device)

    def conditional_energies(self, x: Tensor) -> Tensor:
        """Energy of each label at each pixel given its neighbours: ``(chains, H, W, c)``."""
        e = self.energy
        agree = torch.nn.functional.one_hot(x, e.c).to(e.unary.dtype)  # (B, H, W, c)
        wh, wv = e.weights_h[..., None], e.weights_v[..., None]
        cost = e.unary.expand_as(agree).clone()
        # Potts: w per neighbour whose label differs = w·(1 − [x_nb = a])
        cost[:, :, 1:] += wh * (1 - agree[:, :, :-1])
        cost[:, :, :-1] += wh * (1 - agree[:, :, 1:])
        cost[:, 1:, :] += wv * (1 - agree[:, :-1, :])
        cost[:, :-1, :] += wv * (1 - agree[:, 1:, :])
        return cost

    def half_sweep(self, x: Tensor, colour: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Resample the pixels of one checkerboard ``colour`` (``(H, W)`` bool) of ``x (chains, H, W)``, each from
        its conditional given its neighbours (all of the other colour): the new ``x`` and the logits
        ``(chains, H, W, c)`` it was drawn from, ``−`` the conditional energies (those of the other colour unused)."""
        logits = -self.conditional_energies(x)
        u = torch.rand(logits.shape, generator=generator, device=logits.device).clamp_min(1e-20)
        proposal = (logits - (-u.log()).log()).argmax(-1)  # Gumbel-max draw from softmax(logits)
        return torch.where(colour, proposal, x), logits

    def sweep(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One full sweep: resample the even, then the odd checkerboard colour."""
        for colour in self.colours:
            x = self.half_sweep(x, colour, generator)[0]
        return x

    def sweep_as_draw(self, z: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """One full sweep from ``z (chains, H, W)``, with the law it draws from.

        Given ``z``, the sweep's result ``x`` has the probability
        ``q(x | z) = Π_{i even} p*(x_i | z_∂i) · Π_{i odd} p*(x_i | x_∂i)``: the first factor depends on ``z``, the
        second only on ``x``. Returns ``x``, the first factor as a table ``(chains, n, c)`` of log
        probabilities (zero on odd pixels), and the second factor's log at ``x``, ``(chains,)``.
        """
        even, odd = self.colours
        x, logits_even = self.half_sweep(z, even, generator)
        x, logits_odd = self.half_sweep(x, odd, generator)
        log_even, log_odd = logits_even.log_softmax(-1), logits_odd.log_softmax(-1)
        B, H, W = x.shape
        table = torch.where(even[..., None], log_even, 0.0).reshape(B, H * W, -1)
        rest = torch.where(odd, log_odd.gather(-1, x[..., None]).squeeze(-1), 0.0).sum((1, 2))
        return x, table, rest

    def run(self, chains: int, sweeps: int, burn_in: int = 0, generator: torch.Generator | None = None) -> Tensor:
        """States after each of ``sweeps`` recorded sweeps (after ``burn_in``): ``(sweeps, chains, n)``."""
        x = self.random_start(chains, generator)
        for _ in range(burn_in):
            x = self.sweep(x, generator)
        states = []
        for _ in range(sweeps):
            x = self.sweep(x, generator)
            states.append(x.reshape(chains, -1))
        return torch.stack(states)
