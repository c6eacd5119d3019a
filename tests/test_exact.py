"""The exact engine against an itertools brute force, and Table 1's known figures."""

import itertools
import math

import pytest
import torch

from energies import GridPottsEnergy, PairwiseEnergy, ising_energy, table1_energy
from energies.base import Energy
from energies.exact import digits, exact_inference


def brute_force(energy: Energy):
    states = list(itertools.product(range(energy.c), repeat=energy.n))
    E = [float(energy.energy(torch.tensor([s])).double()) for s in states]
    m = min(E)
    weights = [math.exp(-(e - m)) for e in E]
    Z = sum(weights)
    log_z = math.log(Z) - m
    p = [w / Z for w in weights]
    marg = torch.zeros(energy.n, energy.c, dtype=torch.float64)
    for s, ps in zip(states, p):
        for i, a in enumerate(s):
            marg[i, a] += ps
    mean_e = sum(pi * ei for pi, ei in zip(p, E))
    entropy = -sum(pi * math.log(pi) for pi in p if pi > 0)
    return log_z, marg, entropy, mean_e


class WithoutFactors(Energy):
    """Hides the pairwise form, so the engine takes its generic path."""

    def __init__(self, inner):
        super().__init__(inner.n, inner.c, inner.grid)
        self.inner = inner

    def energy(self, labels):
        return self.inner.energy(labels)

    def expected_energy(self, S):
        return self.inner.expected_energy(S)


def tiny_models():
    g = torch.Generator().manual_seed(0)
    yield "grid_2x3_c3", GridPottsEnergy(torch.randn(2, 3, 3, generator=g), beta=0.9)
    edges = torch.tensor([[0, 1], [1, 2], [2, 3], [3, 4], [4, 0], [1, 3]])
    yield "cycle5_c3", PairwiseEnergy(torch.randn(5, 3, generator=g), edges, torch.randn(6, 3, 3, generator=g))
    yield "one_node_c3", PairwiseEnergy(torch.randn(1, 3, generator=g), torch.zeros(0, 2), torch.zeros(3, 3))
    yield "no_edges_c4", PairwiseEnergy(torch.randn(3, 4, generator=g), torch.zeros(0, 2), torch.zeros(4, 4))
    yield "ising_2x3", ising_energy(2, 3, coupling=1.5)


@pytest.mark.parametrize("name, energy", list(tiny_models()), ids=[n for n, _ in tiny_models()])
@pytest.mark.parametrize("generic", [False, True], ids=["split", "generic"])
def test_exact_matches_brute_force(name, energy, generic):
    model = WithoutFactors(energy) if generic else energy
    log_z, marg, entropy, mean_e = brute_force(energy)
    r = exact_inference(model, chunk_states=7)  # tiny chunks exercise the log-space merge
    assert r.log_z == pytest.approx(log_z, abs=1e-5)
    assert r.entropy == pytest.approx(entropy, abs=1e-5)
    assert r.mean_energy == pytest.approx(mean_e, abs=1e-5)
    torch.testing.assert_close(r.marginals, marg, atol=1e-6, rtol=0)
    torch.testing.assert_close(r.marginals.sum(1), torch.ones(energy.n, dtype=torch.float64))


def test_table1_figures():
    """log Z*, H(P*) and <E> quoted for the Table 1 instance (coupling 2.1), and 12.349 for 0.7."""
    r = exact_inference(table1_energy())
    assert r.log_z == pytest.approx(5.1362, abs=1e-4)
    assert r.entropy == pytest.approx(3.597, abs=1e-3)
    assert r.mean_energy == pytest.approx(-1.540, abs=1e-3)
    assert exact_inference(table1_energy(0.7)).log_z == pytest.approx(12.349, abs=1e-3)
    # the field is antisymmetric under a left-right mirror plus label swap
    m = r.marginals[:, 0].view(3, 8)
    torch.testing.assert_close(m, 1 - m.flip(1), atol=1e-9, rtol=0)


def test_too_large_to_enumerate_names_the_limit():
    with pytest.raises(ValueError, match=r"2\^56 states .* over the limit of 16,777,216"):
        exact_inference(ising_energy(7, 8))
    # halves of 2^20 states are fine, but a 2×20 grid split row-major crosses 20 boundary nodes each side
    with pytest.raises(ValueError, match=r"tables of up to 1,099,511,627,776 states"):
        exact_inference(ising_energy(2, 20))
    with pytest.raises(ValueError, match=r"2\^30 states, over the limit of 1,048,576"):
        exact_inference(WithoutFactors(ising_energy(5, 6)), max_states=2**20)


def test_split_enumeration_handles_models_beyond_the_generic_limit():
    """4×9 (2^36 states) through the split path equals a transfer-matrix computation over columns."""
    energy = ising_energy(4, 9, coupling=1.1)
    r = exact_inference(energy)
    unary, _, _ = energy.factors()
    u = unary.view(4, 9, 2).double()
    cols = digits(16, 4, 2)  # the 16 states of one column
    within = (cols[:, 1:] != cols[:, :-1]).sum(1).double() * 1.1
    between = (cols[:, None, :] != cols[None, :, :]).sum(-1).double() * 1.1
    log_m = -(u[:, 0][torch.arange(4), cols].sum(1) + within)
    for q in range(1, 9):
        node = -(u[:, q][torch.arange(4), cols].sum(1) + within)
        log_m = torch.logsumexp(log_m[:, None] - between, 0) + node
    assert r.log_z == pytest.approx(float(torch.logsumexp(log_m, 0)), abs=1e-5)  # float32 coupling
