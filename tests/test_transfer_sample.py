"""Exact samples of the transfer matrix against brute-force enumeration of P* and its exact marginals."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from conftest import gen
from energies.grid_potts import GridPottsEnergy
from energies.transfer_matrix import transfer_matrix_inference, transfer_matrix_sample


def random_energy(H: int, W: int, c: int, seed: int) -> GridPottsEnergy:
    """Random unaries and every edge its own weight in [−0.5, 2.5] (a few repulsive ones too), float64."""
    g = gen(seed)
    unary = torch.randn(H, W, c, generator=g, dtype=torch.float64)
    wh = 3 * torch.rand(H, W - 1, generator=g, dtype=torch.float64) - 0.5
    wv = 3 * torch.rand(H - 1, W, generator=g, dtype=torch.float64) - 0.5
    return GridPottsEnergy(unary, weights_h=wh, weights_v=wv, dtype=torch.float64)


def mirrored(energy: GridPottsEnergy) -> GridPottsEnergy:
    """The same unaries with the edge weights mirrored left–right: a different P*."""
    return GridPottsEnergy(energy.unary, weights_h=energy.weights_h.flip(1), weights_v=energy.weights_v.flip(1),
                           dtype=torch.float64)


def brute_force(energy: GridPottsEnergy) -> torch.Tensor:
    """P* of every labeling, in the order of ``itertools.product`` (node 0 the most significant digit)."""
    states = torch.tensor(list(itertools.product(range(energy.c), repeat=energy.n)))
    return torch.softmax(-energy.energy(states), 0)


def chi_square_z(samples: torch.Tensor, p: torch.Tensor, c: int) -> float:
    """Pearson's χ² of the samples' counts against ``p`` as a standard normal score (Wilson–Hilferty); cells with
    fewer than 5 expected samples are pooled into one."""
    m, n = samples.shape
    index = (samples * c ** torch.arange(n - 1, -1, -1)).sum(1)
    counts = torch.bincount(index, minlength=len(p)).double()
    expected = m * p
    small = expected < 5
    obs = torch.cat([counts[~small], counts[small].sum()[None]])
    exp = torch.cat([expected[~small], expected[small].sum()[None]])
    keep = exp > 0
    chi2 = float(((obs[keep] - exp[keep]) ** 2 / exp[keep]).sum())
    k = int(keep.sum()) - 1
    return ((chi2 / k) ** (1 / 3) - (1 - 2 / (9 * k))) / math.sqrt(2 / (9 * k))


@pytest.mark.parametrize("H, W, c", [(2, 3, 3), (3, 2, 3), (2, 4, 2), (3, 3, 2)])
def test_samples_follow_brute_force_p_star(H, W, c):
    energy = random_energy(H, W, c, seed=H * 10 + W)
    p = brute_force(energy)
    m = 20000
    samples = transfer_matrix_sample(energy, m, gen(1))
    assert samples.shape == (m, H * W) and samples.dtype == torch.long
    assert chi_square_z(samples, p, c) < 4.5  # one-sided p ≈ 3e-6
    # control: the sampler of another energy (weights mirrored) must fail the same test by far
    assert chi_square_z(transfer_matrix_sample(mirrored(energy), m, gen(1)), p, c) > 10


def test_marginals_agree_with_the_transfer_matrix():
    energy = random_energy(6, 12, 3, seed=5)  # wider than tall: the chain runs over columns
    exact = transfer_matrix_inference(energy)
    m = 4000
    samples = transfer_matrix_sample(energy, m, gen(2))
    empirical = torch.nn.functional.one_hot(samples, 3).double().mean(0)
    p = exact.marginals
    assert ((empirical - p).abs() <= 5 * torch.sqrt(p * (1 - p) / m) + 2e-3).all()
    mean_e, se = energy.energy(samples).mean(), energy.energy(samples).std() / math.sqrt(m)
    assert abs(float(mean_e) - exact.mean_energy) < 5 * float(se)


def test_wide_slices_are_fast_and_exact_in_the_mean():
    """c^w = 4^8 slices, 2000 samples: in range, and the mean energy matches the exact one."""
    g = gen(3)
    energy = GridPottsEnergy(torch.randn(8, 30, 4, generator=g), beta=1.5,
                             weights_h=1.5 * torch.rand(8, 29, generator=g), weights_v=1.5 * torch.rand(7, 30, generator=g))
    samples = transfer_matrix_sample(energy, 2000, gen(4))
    assert samples.shape == (2000, 240) and 0 <= int(samples.min()) and int(samples.max()) < 4
    e64 = GridPottsEnergy(energy.unary.double(), weights_h=energy.weights_h.double(), weights_v=energy.weights_v.double(),
                          dtype=torch.float64)
    exact = transfer_matrix_inference(e64)
    energies = e64.energy(samples)
    assert abs(float(energies.mean()) - exact.mean_energy) < 5 * float(energies.std()) / math.sqrt(2000)


def test_generator_makes_samples_reproducible_and_edge_cases():
    energy = random_energy(3, 4, 2, seed=0)
    assert torch.equal(transfer_matrix_sample(energy, 50, gen(7)), transfer_matrix_sample(energy, 50, gen(7)))
    assert transfer_matrix_sample(energy, 0).shape == (0, 12)
    one = GridPottsEnergy(torch.tensor([[[0.0, 30.0]]]))  # a single node that is all but surely label 0
    assert transfer_matrix_sample(one, 5).tolist() == [[0]] * 5
    with pytest.raises(ValueError, match="non-negative integer"):
        transfer_matrix_sample(energy, -1)
    with pytest.raises(ValueError, match="open boundaries"):
        transfer_matrix_sample(GridPottsEnergy(torch.zeros(3, 3, 2), periodic=True), 4)
    with pytest.raises(ValueError, match="over the limit"):
        transfer_matrix_sample(GridPottsEnergy(torch.zeros(5, 5, 4)), 4, max_states=4**4)
