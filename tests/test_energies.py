"""Contract tests run over every energy, plus an independent second implementation of each."""

import itertools

import pytest
import torch

from energies import GridPottsEnergy, PairwiseEnergy, ising_energy, table1_energy
from energies.base import Energy


def random_pairwise_shared(seed=0):
    g = torch.Generator().manual_seed(seed)
    edges = torch.tensor([[0, 1], [1, 2], [2, 3], [3, 0], [0, 2], [4, 1]])
    return PairwiseEnergy(torch.randn(5, 3, generator=g), edges, torch.randn(3, 3, generator=g))


def random_pairwise_per_edge(seed=1):
    g = torch.Generator().manual_seed(seed)
    edges = torch.tensor([[0, 1], [1, 2], [3, 2], [4, 0]])
    return PairwiseEnergy(torch.randn(5, 3, generator=g), edges, torch.randn(4, 3, 3, generator=g))


def random_grid_potts(seed=2):
    g = torch.Generator().manual_seed(seed)
    return GridPottsEnergy(
        torch.randn(2, 3, 3, generator=g),
        beta=0.7,
        weights_h=torch.rand(2, 2, generator=g),
        weights_v=torch.rand(1, 3, generator=g),
    )


ENERGIES = {
    "pairwise_shared": random_pairwise_shared,
    "pairwise_per_edge": random_pairwise_per_edge,
    "grid_potts": random_grid_potts,
    "ising_2x4": lambda: ising_energy(2, 4, coupling=1.3),
    "table1": table1_energy,
}


@pytest.fixture(params=list(ENERGIES), ids=list(ENERGIES))
def energy(request) -> Energy:
    return ENERGIES[request.param]()


def random_labels(energy, B=16, seed=0):
    return torch.randint(0, energy.c, (B, energy.n), generator=torch.Generator().manual_seed(seed))


def test_contract_shapes_and_dtypes(energy):
    x = random_labels(energy)
    E = energy.energy(x)
    assert E.shape == (16,) and E.dtype == torch.get_default_dtype()
    S = torch.softmax(torch.randn(7, energy.n, energy.c), -1)
    assert energy.expected_energy(S).shape == (7,)
    assert energy.n >= 1 and energy.c >= 2
    if energy.grid is not None:
        assert energy.grid[0] * energy.grid[1] == energy.n


def test_expected_energy_of_one_hot_equals_exact_energy(energy):
    x = random_labels(energy, B=32, seed=3)
    one_hot = torch.nn.functional.one_hot(x, energy.c).to(torch.get_default_dtype())
    torch.testing.assert_close(energy.expected_energy(one_hot), energy.energy(x))


def test_expected_energy_is_the_mean_over_the_product_distribution(energy):
    """Independent reference: average the exact energy over all labelings weighted by T(S), eq. (17)."""
    if energy.c**energy.n > 5000:
        pytest.skip("too many states for this reference")
    S = torch.softmax(torch.randn(2, energy.n, energy.c, dtype=torch.float64), -1)
    states = torch.tensor(list(itertools.product(range(energy.c), repeat=energy.n)))
    E = energy.energy(states).double()
    weights = S[:, torch.arange(energy.n), states].prod(-1)  # (2, N)
    torch.testing.assert_close(energy.expected_energy(S.float()).double(), weights @ E, rtol=1e-4, atol=1e-4)


def test_gradients_are_finite(energy):
    V = torch.randn(3, energy.n, energy.c, requires_grad=True)
    energy.expected_energy(torch.softmax(V, -1)).sum().backward()
    assert V.grad is not None and torch.isfinite(V.grad).all() and V.grad.abs().sum() > 0


def test_factors_reproduce_the_energy(energy):
    unary, edges, tables = energy.factors()
    x = random_labels(energy, B=8, seed=5)
    ref = torch.stack(
        [
            sum(unary[i, xb[i]] for i in range(energy.n))
            + sum(tables[e, xb[i], xb[j]] for e, (i, j) in enumerate(edges.tolist()))
            for xb in x
        ]
    )
    torch.testing.assert_close(energy.energy(x), ref)


def test_grid_potts_matches_a_hand_built_pairwise_model():
    """Second implementation: the grid's 4-neighbour edges listed by hand in a PairwiseEnergy."""
    H, W, c = 3, 4, 3
    unary = torch.randn(H, W, c)
    grid = GridPottsEnergy(unary, beta=1.7)
    edges = [(r * W + q, r * W + q + 1) for r in range(H) for q in range(W - 1)]
    edges += [(r * W + q, (r + 1) * W + q) for r in range(H - 1) for q in range(W)]
    pair = PairwiseEnergy(unary.reshape(-1, c), torch.tensor(edges), 1.7 * (1 - torch.eye(c)))
    x = torch.randint(0, c, (50, H * W))
    torch.testing.assert_close(grid.energy(x), pair.energy(x))
    S = torch.softmax(torch.randn(5, H * W, c), -1)
    torch.testing.assert_close(grid.expected_energy(S), pair.expected_energy(S))


def test_table1_instance_layout():
    e = table1_energy()
    unary, _, tables = e.factors()
    u = unary.view(3, 8, 2)
    assert (u[:, 0, 0] == -3).all() and (u[:, -1, 0] == 3).all() and (u[:, 1:-1] == 0).all() and (u[..., 1] == 0).all()
    assert torch.allclose(tables[:, 0, 1], torch.tensor(2.1)) and (tables[:, 0, 0] == 0).all()
    assert len(tables) == 3 * 7 + 2 * 8


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: PairwiseEnergy(torch.zeros(4, 1), torch.tensor([[0, 1]]), torch.zeros(1, 1)), "at least 2 labels"),
        (lambda: PairwiseEnergy(torch.zeros(4), torch.tensor([[0, 1]]), torch.zeros(2, 2)), "shape"),
        (lambda: PairwiseEnergy(torch.zeros(4, 2), torch.tensor([[0, 9]]), torch.zeros(2, 2)), "endpoints"),
        (lambda: PairwiseEnergy(torch.zeros(4, 2), torch.tensor([[0, 1]]), torch.zeros(3, 3)), "pairwise must have shape"),
        (lambda: PairwiseEnergy(torch.tensor([[0.0, float("nan")]]), torch.zeros(0, 2), torch.zeros(2, 2)), "NaN"),
        (lambda: GridPottsEnergy(torch.zeros(2, 2, 1)), "at least 2 labels"),
        (lambda: GridPottsEnergy(torch.zeros(2, 2)), "shape"),
        (lambda: GridPottsEnergy(torch.zeros(2, 2, 2), beta=float("inf")), "NaN or infinite"),
        (lambda: GridPottsEnergy(torch.zeros(2, 2, 2), weights_h=torch.zeros(3, 3)), "edge weights"),
        (lambda: GridPottsEnergy(torch.full((2, 2, 2), float("-inf"))), "NaN or infinite"),
    ],
)
def test_bad_parameters_raise_clear_errors(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_bad_labelings_raise_clear_errors():
    e = ising_energy(2, 3)
    with pytest.raises(ValueError, match=r"shape \(B, 6\)"):
        e.energy(torch.zeros(4, 5, dtype=torch.long))
    with pytest.raises(TypeError, match="integer"):
        e.energy(torch.zeros(4, 6))
    with pytest.raises(ValueError, match=r"shape \(B, 6, 2\)"):
        e.expected_energy(torch.zeros(4, 6, 3))
