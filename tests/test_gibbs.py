"""The Gibbs baseline against the exact engine."""

import pytest
import torch

from energies import GridPottsEnergy, PairwiseEnergy, ising_energy
from energies.exact import exact_inference
from energies.sample_stats import sample_figures
from models.kernels.heat_bath import CheckerboardGibbs


@pytest.mark.parametrize("periodic", [False, True])
def test_conditional_energies_are_energy_differences(periodic):
    """Independent reference: E(x with pixel p set to a) − E(x with pixel p set to 0), via energy()."""
    g = torch.Generator().manual_seed(0)
    H, W = (4, 4) if periodic else (3, 4)
    energy = GridPottsEnergy(torch.randn(H, W, 3, generator=g), weights_h=torch.rand(H, W if periodic else W - 1, generator=g),
                             weights_v=torch.rand(H if periodic else H - 1, W, generator=g), periodic=periodic)
    gibbs = CheckerboardGibbs(energy)
    n = H * W
    x = torch.randint(0, 3, (2, H, W), generator=g)
    cost = gibbs.conditional_energies(x)
    for p in range(n):
        variants = x.reshape(2, n).repeat_interleave(3, 0)
        variants[:, p] = torch.arange(3).repeat(2)
        E = energy.energy(variants).view(2, 3)
        torch.testing.assert_close(cost.view(2, n, 3)[:, p] - cost.view(2, n, 3)[:, p, :1], E - E[:, :1])


def test_gibbs_on_a_torus_needs_even_sides():
    with pytest.raises(ValueError, match="even number of rows and columns"):
        CheckerboardGibbs(GridPottsEnergy(torch.zeros(2, 3, 2), periodic=True))


def test_gibbs_samples_follow_the_exact_distribution():
    energy = ising_energy(2, 4, coupling=0.8)
    exact = exact_inference(energy)
    states = CheckerboardGibbs(energy).run(chains=2000, sweeps=50, burn_in=50, generator=torch.Generator().manual_seed(0))
    fig = sample_figures(states.reshape(-1, energy.n), energy, exact)
    assert fig["kl"] < 0.01
    assert fig["marginal_diff"] < 0.01


def test_gibbs_needs_a_grid_potts_energy():
    with pytest.raises(TypeError, match="GridPottsEnergy"):
        CheckerboardGibbs(PairwiseEnergy(torch.zeros(2, 2), torch.tensor([[0, 1]]), torch.zeros(2, 2)))
