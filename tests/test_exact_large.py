"""Exact references beyond enumeration: Kaufman's torus formula, periodic grid Potts energies, and the row
transfer matrix — each against a brute force written here (itertools over all labelings)."""

import functools
import itertools
import math
import time

import pytest
import torch

from energies import GridPottsEnergy, PairwiseEnergy
from energies.exact import exact_inference
from energies.kaufman import (
    BETA_C,
    ising_torus_energy,
    kaufman_energy_per_site,
    kaufman_log_z,
    potts_log_z,
    potts_mean_energy,
)
from energies.transfer_matrix import transfer_matrix_inference, transfer_matrix_log_z

BETAS = [0.1, 0.3, 0.4407, BETA_C, 0.6, 1.0, 2.0]
F64 = torch.float64


@functools.lru_cache(maxsize=4)
def all_states(n: int, c: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product(range(c), repeat=n)))


def torus_bonds(M: int, N: int) -> list[tuple[int, int]]:
    """Right and lower neighbour of every site, wrapping around: 2MN bonds (a 2-wide torus repeats a pair)."""
    bonds = [(r * N + q, r * N + (q + 1) % N) for r in range(M) for q in range(N)]
    return bonds + [(r * N + q, ((r + 1) % M) * N + q) for r in range(M) for q in range(N)]


def brute_force(E: torch.Tensor, states: torch.Tensor, c: int):
    """log Z, marginals (n, c) and mean energy of the energies ``E`` of all ``states``."""
    E = E.double()
    log_z = torch.logsumexp(-E, 0)
    p = torch.exp(-E - log_z)
    marginals = torch.stack([p @ (states == a).double() for a in range(c)], 1)
    return float(log_z), marginals, float(p @ E)


# -- Kaufman ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("M, N", [(1, 3), (2, 2), (2, 3), (3, 3), (3, 4), (4, 3), (4, 4), (2, 5)])
def test_kaufman_matches_enumeration(M, N):
    states = all_states(M * N, 2).double() * 2 - 1  # spins ±1
    bonds = torch.tensor(torus_bonds(M, N))
    coupling = (states[:, bonds[:, 0]] * states[:, bonds[:, 1]]).sum(1)  # Σ_<ij> s_i s_j
    for beta in BETAS:
        log_z = torch.logsumexp(beta * coupling, 0)
        energy = float(-(torch.exp(beta * coupling - log_z) @ coupling) / (M * N))
        assert kaufman_log_z(M, N, beta) == pytest.approx(float(log_z), abs=1e-9), beta
        assert kaufman_energy_per_site(M, N, beta) == pytest.approx(energy, abs=1e-9), beta


@pytest.mark.parametrize("beta", [0.3, 0.4407, 0.6])
def test_kaufman_energy_is_the_derivative_of_log_z_and_symmetric_in_the_sides(beta):
    h = 1e-5  # central difference: error ~h² ≈ 1e-10 per site plus rounding 1e-16·log Z / h
    fd = -(kaufman_log_z(16, 16, beta + h) - kaufman_log_z(16, 16, beta - h)) / (2 * h) / 256
    assert kaufman_energy_per_site(16, 16, beta) == pytest.approx(fd, abs=1e-6)
    assert kaufman_log_z(5, 8, beta) == pytest.approx(kaufman_log_z(8, 5, beta), abs=1e-9)
    assert kaufman_energy_per_site(5, 8, beta) == pytest.approx(kaufman_energy_per_site(8, 5, beta), abs=1e-9)


def test_kaufman_approaches_onsager_at_the_critical_point():
    """Infinite lattice at β_c: log Z / site = 2G/π + ½ log 2 (G: Catalan's constant), energy −√2."""
    L = 256
    onsager = 2 * 0.915965594177219015 / math.pi + 0.5 * math.log(2)
    assert kaufman_log_z(L, L, BETA_C) / L**2 == pytest.approx(onsager, abs=1e-4)
    assert kaufman_energy_per_site(L, L, BETA_C) == pytest.approx(-math.sqrt(2), abs=2 / L)


def test_kaufman_is_stable_at_extreme_couplings():
    M, N = 4, 4
    for beta in (1e-300, 1e-12, 1e-6):  # high temperature: log Z ≈ MN log 2 + 2MN log cosh β, e ≈ −2 tanh β
        assert kaufman_log_z(M, N, beta) == pytest.approx(M * N * math.log(2) + 2 * M * N * math.log(math.cosh(beta)), abs=1e-12)
        assert kaufman_energy_per_site(M, N, beta) == pytest.approx(-2 * math.tanh(beta), abs=1e-14)
    for beta in (50.0, 400.0, 1e4):  # low temperature: the two ground states, e = −2
        assert kaufman_log_z(M, N, beta) - 2 * M * N * beta == pytest.approx(math.log(2), abs=1e-9 * beta)
        assert kaufman_energy_per_site(M, N, beta) == pytest.approx(-2, abs=1e-9)
    assert kaufman_log_z(M, N, 0.0) == M * N * math.log(2)
    for bad in (dict(M=0, N=3, beta=0.3), dict(M=3, N=3, beta=-0.1), dict(M=3, N=3, beta=float("nan"))):
        with pytest.raises(ValueError, match="M, N ≥ 1|beta ≥ 0"):
            kaufman_log_z(**bad)


@pytest.mark.parametrize("M, N", [(2, 3), (3, 3), (3, 4)])
def test_potts_form_of_the_ising_torus(M, N):
    states = all_states(M * N, 2)
    for beta in (0.3, 0.4407, 1.0):
        energy = ising_torus_energy(M, N, beta)
        log_z, _, mean_energy = brute_force(energy.energy(states), states, 2)
        assert potts_log_z(M, N, beta) == pytest.approx(log_z, abs=1e-9)
        assert potts_mean_energy(M, N, beta) == pytest.approx(mean_energy, abs=1e-8)


@pytest.mark.parametrize("M, N", [(4, 5), (2, 7)])
def test_split_enumeration_of_periodic_energies_matches_kaufman(M, N):
    """The exact engine reads the wrap-around (and, 2 wide, doubled) edges from ``factors()``."""
    for beta in (0.3, 0.6):
        r = exact_inference(ising_torus_energy(M, N, beta))
        assert r.log_z == pytest.approx(potts_log_z(M, N, beta), abs=1e-9)
        assert r.mean_energy == pytest.approx(potts_mean_energy(M, N, beta), abs=1e-8)


# -- periodic grid Potts --------------------------------------------------------------------------------
def random_torus(H, W, c, seed=0):
    g = torch.Generator().manual_seed(seed)
    return GridPottsEnergy(
        torch.randn(H, W, c, generator=g, dtype=F64),
        weights_h=torch.randn(H, W, generator=g, dtype=F64),
        weights_v=torch.randn(H, W, generator=g, dtype=F64),
        periodic=True,
        dtype=F64,
    )


def torus_energy_by_hand(e: GridPottsEnergy, x: torch.Tensor) -> torch.Tensor:
    """Loop over the explicit edge list: weights_h[r, q] joins (r, q)–(r, q+1 mod W), weights_v[r, q] (r, q)–(r+1 mod H, q)."""
    H, W = e.grid
    unary, wh, wv = e.unary.view(H * W, -1).tolist(), e.weights_h.tolist(), e.weights_v.tolist()
    out = []
    for labels in x.tolist():
        total = sum(unary[i][a] for i, a in enumerate(labels))
        for r, q in itertools.product(range(H), range(W)):
            here = labels[r * W + q]
            total += wh[r][q] * (here != labels[r * W + (q + 1) % W])
            total += wv[r][q] * (here != labels[((r + 1) % H) * W + q])
        out.append(total)
    return torch.tensor(out, dtype=F64)


@pytest.mark.parametrize("H, W, c", [(3, 4, 3), (2, 3, 2), (4, 2, 3), (2, 2, 2)])
def test_periodic_energy_matches_the_explicit_torus(H, W, c):
    e = random_torus(H, W, c)
    x = torch.randint(0, c, (40, H * W), generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(e.energy(x), torus_energy_by_hand(e, x), atol=1e-12, rtol=0)
    one_hot = torch.nn.functional.one_hot(x, c).to(F64)
    torch.testing.assert_close(e.expected_energy(one_hot), e.energy(x), atol=1e-12, rtol=0)
    unary, edges, tables = e.factors()
    assert len(edges) == 2 * H * W  # 2 wide: the wrap-around edge repeats the pair and counts twice
    by_factors = unary[torch.arange(H * W), x].sum(1) + tables[torch.arange(len(edges)), x[:, edges[:, 0]], x[:, edges[:, 1]]].sum(1)
    torch.testing.assert_close(by_factors, e.energy(x), atol=1e-12, rtol=0)


def test_periodic_expected_energy_is_the_mean_over_the_product_distribution():
    e = random_torus(2, 3, 2, seed=3)
    states = all_states(6, 2)
    S = torch.softmax(torch.randn(3, 6, 2, dtype=F64, generator=torch.Generator().manual_seed(4)), -1)
    weights = S[:, torch.arange(6), states].prod(-1)
    torch.testing.assert_close(e.expected_energy(S), weights @ e.energy(states), atol=1e-12, rtol=0)
    V = torch.randn(2, 6, 2, dtype=F64, requires_grad=True)
    e.expected_energy(torch.softmax(V, -1)).sum().backward()
    assert torch.isfinite(V.grad).all() and V.grad.abs().sum() > 0


def test_periodic_with_zero_wrap_weights_equals_the_open_grid():
    open_grid = GridPottsEnergy(torch.randn(3, 4, 3, dtype=F64), weights_h=torch.rand(3, 3, dtype=F64),
                                weights_v=torch.rand(2, 4, dtype=F64), dtype=F64)
    torus = GridPottsEnergy(open_grid.unary, weights_h=torch.cat([open_grid.weights_h, torch.zeros(3, 1, dtype=F64)], 1),
                            weights_v=torch.cat([open_grid.weights_v, torch.zeros(1, 4, dtype=F64)]), periodic=True, dtype=F64)
    x = torch.randint(0, 3, (30, 12))
    torch.testing.assert_close(torus.energy(x), open_grid.energy(x), atol=1e-12, rtol=0)
    S = torch.softmax(torch.randn(5, 12, 3, dtype=F64), -1)
    torch.testing.assert_close(torus.expected_energy(S), open_grid.expected_energy(S), atol=1e-12, rtol=0)
    assert not open_grid.periodic and open_grid.weights_h.shape == (3, 3)


def test_periodic_exact_inference_matches_brute_force():
    e = random_torus(3, 3, 3, seed=5)
    states = all_states(9, 3)
    log_z, marginals, mean_energy = brute_force(torus_energy_by_hand(e, states), states, 3)
    r = exact_inference(e)
    assert r.log_z == pytest.approx(log_z, abs=1e-9)
    assert r.mean_energy == pytest.approx(mean_energy, abs=1e-8)
    torch.testing.assert_close(r.marginals, marginals, atol=1e-9, rtol=0)


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: GridPottsEnergy(torch.zeros(1, 4, 2), periodic=True), r"at least 2 rows and 2 columns, got 1×4"),
        (lambda: GridPottsEnergy(torch.zeros(3, 1, 2), periodic=True), r"at least 2 rows and 2 columns, got 3×1"),
        (lambda: GridPottsEnergy(torch.zeros(3, 4, 2), weights_h=torch.zeros(3, 3), periodic=True),
         r"periodic edge weights must have shapes \(3, 4\) and \(3, 4\)"),
        (lambda: GridPottsEnergy(torch.zeros(3, 4, 2), weights_v=torch.zeros(2, 4), periodic=True), "periodic edge weights"),
        (lambda: GridPottsEnergy(torch.zeros(3, 4, 2), weights_h=torch.zeros(3, 4)), r"edge weights must have shapes \(3, 3\)"),
    ],
)
def test_periodic_shapes_are_validated(build, match):
    with pytest.raises(ValueError, match=match):
        build()


# -- transfer matrix ------------------------------------------------------------------------------------
def random_open(H, W, c, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return GridPottsEnergy(
        scale * torch.randn(H, W, c, generator=g, dtype=F64),
        weights_h=scale * torch.randn(H, W - 1, generator=g, dtype=F64),  # negative weights too
        weights_v=scale * torch.randn(H - 1, W, generator=g, dtype=F64),
        dtype=F64,
    )


@pytest.mark.parametrize(
    "H, W, c, scale",
    [(3, 4, 3, 1.0), (4, 3, 3, 1.0), (2, 6, 3, 1.0), (6, 2, 3, 1.0), (4, 4, 2, 1.0), (1, 5, 3, 1.0), (5, 1, 2, 1.0),
     (1, 1, 4, 1.0), (3, 3, 3, 300.0)],
)
def test_transfer_matrix_matches_brute_force(H, W, c, scale):
    e = random_open(H, W, c, seed=H * 10 + W, scale=scale)
    states = all_states(H * W, c)
    log_z, marginals, mean_energy = brute_force(e.energy(states), states, c)
    r = transfer_matrix_inference(e)
    assert r.log_z == pytest.approx(log_z, abs=1e-9 * max(1.0, scale))
    torch.testing.assert_close(r.marginals, marginals, atol=1e-9, rtol=0)
    assert r.mean_energy == pytest.approx(mean_energy, abs=1e-8 * max(1.0, scale))
    assert r.entropy == pytest.approx(r.mean_energy + r.log_z, abs=1e-12)
    assert transfer_matrix_log_z(e) == pytest.approx(r.log_z, abs=1e-9 * max(1.0, scale))


@pytest.mark.parametrize("H, W, c", [(4, 6, 3), (5, 5, 2)])
def test_transfer_matrix_matches_split_enumeration(H, W, c):
    e = random_open(H, W, c, seed=7)
    r, ref = transfer_matrix_inference(e), exact_inference(e)
    assert r.log_z == pytest.approx(ref.log_z, abs=1e-9)
    assert r.mean_energy == pytest.approx(ref.mean_energy, abs=1e-9)
    assert r.entropy == pytest.approx(ref.entropy, abs=1e-9)
    torch.testing.assert_close(r.marginals, ref.marginals, atol=1e-9, rtol=0)


def test_transfer_matrix_wide_slices_agree_with_derivatives_of_log_z():
    """Slices of w = 12 nodes, c = 3 (531,441 states): marginals and mean energy are derivatives of log Z,
    and the transposed layout (slices = columns) gives the same figures."""
    H, W, c = 13, 12, 3
    e = random_open(H, W, c, seed=11)
    r = transfer_matrix_inference(e)
    h = 1e-4  # central differences: error ~h² · (third derivative) ≈ 1e-8

    def log_z_with(unary=None, factor=1.0):
        u = e.unary if unary is None else unary
        return transfer_matrix_log_z(GridPottsEnergy(factor * u, weights_h=factor * e.weights_h,
                                                     weights_v=factor * e.weights_v, dtype=F64))

    for node, label in ((0, 0), (77, 2), (155, 1)):
        bump = torch.zeros(H, W, c, dtype=F64)
        bump[node // W, node % W, label] = h
        fd = -(log_z_with(e.unary + bump) - log_z_with(e.unary - bump)) / (2 * h)
        assert float(r.marginals[node, label]) == pytest.approx(fd, abs=1e-6)
    fd_energy = -(log_z_with(factor=1 + h) - log_z_with(factor=1 - h)) / (2 * h)  # d log Z(λE)/dλ = −⟨E⟩
    assert r.mean_energy == pytest.approx(fd_energy, abs=1e-5)
    flipped = GridPottsEnergy(e.unary.transpose(0, 1), weights_h=e.weights_v.T, weights_v=e.weights_h.T, dtype=F64)
    t = transfer_matrix_inference(flipped)
    assert t.log_z == pytest.approx(r.log_z, abs=1e-9)
    assert t.mean_energy == pytest.approx(r.mean_energy, abs=1e-9)
    torch.testing.assert_close(t.marginals.view(W, H, c).transpose(0, 1).reshape(H * W, c), r.marginals, atol=1e-9, rtol=0)


def test_transfer_matrix_runs_a_wide_long_grid():
    e = random_open(20, 12, 3, seed=12)
    start = time.perf_counter()
    r = transfer_matrix_inference(e)
    seconds = time.perf_counter() - start
    assert math.isfinite(r.log_z) and math.isfinite(r.mean_energy)
    torch.testing.assert_close(r.marginals.sum(1), torch.ones(240, dtype=F64), atol=1e-12, rtol=0)
    assert 0 <= r.entropy <= 240 * math.log(3)
    assert seconds < 30, f"W=12, c=3, L=20 took {seconds:.1f} s"  # ~2 s on one core; generous for shared machines


def test_transfer_matrix_refuses_what_it_cannot_do():
    with pytest.raises(ValueError, match=r"3\^13 = 1,594,323 states .* over the limit of 1,048,576"):
        transfer_matrix_inference(GridPottsEnergy(torch.zeros(13, 40, 3)))
    with pytest.raises(ValueError, match="open boundaries only"):
        transfer_matrix_inference(GridPottsEnergy(torch.zeros(3, 3, 2), periodic=True))
    with pytest.raises(TypeError, match="needs a GridPottsEnergy"):
        transfer_matrix_inference(PairwiseEnergy(torch.zeros(3, 2), torch.tensor([[0, 1]]), torch.zeros(2, 2)))
