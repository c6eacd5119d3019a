"""ESS against closed forms: iid draws, AR(1) chains, chains stuck in their start mode."""

import pytest
import torch

from benchmarks.ess import effective_sample_size


def ar1(chains, draws, phi, seed=0):
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(chains, draws, generator=g, dtype=torch.float64)
    x = torch.zeros(chains, draws, dtype=torch.float64)
    x[:, 0] = noise[:, 0] / (1 - phi**2) ** 0.5
    for t in range(1, draws):
        x[:, t] = phi * x[:, t - 1] + noise[:, t]
    return x


def test_iid_draws_have_ess_near_their_count():
    x = torch.randn(8, 2000, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert effective_sample_size(x) == pytest.approx(16000, rel=0.1)


@pytest.mark.parametrize("phi", [0.5, 0.9])
def test_ar1_chains_match_the_integrated_autocorrelation_time(phi):
    tau = (1 + phi) / (1 - phi)  # closed form for AR(1)
    x = ar1(8, 4000, phi)
    assert effective_sample_size(x) == pytest.approx(8 * 4000 / tau, rel=0.2)


def test_chains_stuck_in_their_start_modes_count_about_once_each():
    modes = torch.tensor([0.0, 1.0] * 10, dtype=torch.float64)
    x = modes[:, None].expand(20, 500).clone()
    assert effective_sample_size(x) <= 20


def test_bad_shape():
    with pytest.raises(ValueError, match="chains, draws"):
        effective_sample_size(torch.zeros(5))
