"""Table 1's sample figures against closed forms and hand-made cases."""

import math

import pytest
import torch

from energies import ising_energy
from energies.exact import digits, exact_inference
from energies.sample_stats import marginal_difference, miller_madow, plugin_entropy, sample_counts, sample_figures


def test_plugin_entropy_by_hand():
    samples = torch.tensor([[0, 1], [0, 1], [1, 1], [2, 0]])
    H, s = plugin_entropy(samples, 3)
    assert s == 3
    assert H == pytest.approx(-(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25)))
    assert miller_madow(H, s, 4) == pytest.approx(H + 2 / 8)


def test_wide_labelings_take_the_row_unique_path():
    """n·log2(c) ≥ 62 cannot be packed into one int64: counts must still be right."""
    g = torch.Generator().manual_seed(0)
    base = torch.randint(0, 3, (5, 80), generator=g)
    samples = base[torch.tensor([0, 0, 1, 2, 2, 2, 3, 4])]
    assert sorted(sample_counts(samples, 3).tolist()) == [1, 1, 1, 2, 3]


def test_marginal_difference_by_hand():
    a = torch.tensor([[1.0, 0.0], [0.5, 0.5], [0.2, 0.8]])
    b = torch.tensor([[0.0, 1.0], [0.5, 0.5], [0.6, 0.4]])
    assert marginal_difference(a, b) == pytest.approx((1.0 + 0.0 + 0.4) / 3)
    with pytest.raises(ValueError, match="differ in shape"):
        marginal_difference(a, b[:2])


def test_kl_is_near_zero_for_samples_of_the_exact_distribution():
    energy = ising_energy(2, 4, coupling=1.0)
    exact = exact_inference(energy)
    states = digits(2**8, 8, 2)
    p = torch.softmax(-energy.energy(states).double(), 0)
    g = torch.Generator().manual_seed(0)
    samples = states[torch.multinomial(p, 200_000, replacement=True, generator=g)]
    fig = sample_figures(samples, energy, exact)
    assert abs(fig["kl"]) < 0.005
    assert fig["marginal_diff"] < 0.005
    assert fig["energy"] == pytest.approx(exact.mean_energy, abs=0.02)
    assert fig["entropy"] == pytest.approx(exact.entropy, abs=0.01)


def test_kl_of_a_point_mass_is_its_energy_plus_log_z():
    energy = ising_energy(2, 3)
    exact = exact_inference(energy)
    x = torch.tensor([[0, 0, 1, 0, 0, 1]]).repeat(1000, 1)
    fig = sample_figures(x, energy, exact)
    assert fig["entropy"] == 0 and fig["support"] == 1
    assert fig["kl"] == pytest.approx(float(energy.energy(x[:1])) + exact.log_z, abs=1e-5)


def test_bad_samples_raise():
    energy = ising_energy(2, 3)
    with pytest.raises(ValueError, match="shape"):
        sample_figures(torch.zeros(4, 5, dtype=torch.long), energy, exact_inference(energy))
    with pytest.raises(ValueError, match="m ≥ 1"):
        plugin_entropy(torch.zeros(0, 6, dtype=torch.long), 2)
