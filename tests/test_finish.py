"""The finish's kernels against independent brute force on tiny grids: exact invariance of P*, the torch
kernels' empirical transitions against the exact rows, and data processing of the KL.

The references here share no code with ``models/finish/schedule.py``, ``models/kernels/heat_bath.py`` or ``models/kernels/line.py``:
states, edges, energies, clusters (a Python union-find over each bond subset), heat-bath conditionals (energy
differences of whole states) and line conditionals (whole states normalised over a line's labelings) are all
enumerated from the definitions.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from energies.grid_potts import GridPottsEnergy
import models.kernels as kernels_package
from models.finish.schedule import Finish, finish
from models.kernels import KERNELS as REGISTRY
from models.kernels import kernel_class
from models.kernels.base import Kernel
from models.kernels.swendsen_wang import PottsSwendsenWang, cluster_ids
from models.kernels.heat_bath import CheckerboardGibbs
from models.kernels.line import LineGibbs, resample_lines

H, W = 2, 3
BETA = 1.0


# -- brute force ----------------------------------------------------------------------------------------

def chi2_sf(statistic: float, dof: int) -> float:
    """P(χ²_dof ≥ statistic): the regularized upper incomplete gamma function Q(dof/2, statistic/2)."""
    return float(torch.special.gammaincc(torch.tensor(dof / 2, dtype=torch.float64), torch.tensor(statistic / 2, dtype=torch.float64)))

def grid_edges(h: int, w: int, periodic: bool = False) -> list[tuple[int, int]]:
    """4-neighbour edges of the ``h × w`` grid, node ``r·w + q``; a torus adds the wrap-around ones (on a
    side of 2 the wrap-around edge repeats the ordinary one, as in ``GridPottsEnergy``)."""
    edges = []
    for r in range(h):
        for q in range(w):
            if q + 1 < w or periodic:
                edges.append((r * w + q, r * w + (q + 1) % w))
            if r + 1 < h or periodic:
                edges.append((r * w + q, ((r + 1) % h) * w + q))
    return edges


class Brute:
    """P* and exact transition matrices of an ``h × w`` Potts model by enumeration (float64 numpy)."""

    def __init__(self, unary: np.ndarray, beta: float, h: int = H, w: int = W, periodic: bool = False) -> None:
        self.unary, self.beta, self.h, self.w, self.periodic = unary, beta, h, w, periodic
        self.n, self.c = unary.shape
        self.edges = grid_edges(h, w, periodic)
        self.states = np.array(list(itertools.product(range(self.c), repeat=self.n)))  # (S, n), row-major index
        self.E = self.energy(self.states)
        p = np.exp(-(self.E - self.E.min()))
        self.p_star = p / p.sum()

    def energy(self, states: np.ndarray) -> np.ndarray:
        e = self.unary[np.arange(self.n), states].sum(-1)
        for i, j in self.edges:
            e = e + self.beta * (states[..., i] != states[..., j])
        return e

    def index(self, states: np.ndarray) -> np.ndarray:
        return states @ (self.c ** np.arange(self.n - 1, -1, -1))

    def swendsen_wang(self) -> np.ndarray:
        """``T[x, y]``: Σ over bond subsets A of P(A | x) · Π_{clusters C of A} [y const on C] e^{−U_C(y_C)} / Z_C."""
        E, S = len(self.edges), len(self.states)
        p = 1 - np.exp(-self.beta)
        subsets = np.array(list(itertools.product([0, 1], repeat=E)), dtype=bool)  # (2^E, E)
        ends = np.array(self.edges)
        equal = self.states[:, ends[:, 0]] == self.states[:, ends[:, 1]]  # (S, E)
        # an active bond needs equal ends (prob p); an inactive one has prob 1 − p if equal, 1 if not
        factor = np.where(subsets[None], np.where(equal[:, None], p, 0.0), np.where(equal[:, None], 1 - p, 1.0))
        bond_probs = factor.prod(-1)  # (S, 2^E)
        Q = np.empty((len(subsets), S))
        for k, active in enumerate(subsets):
            parent = list(range(self.n))

            def root(i):
                while parent[i] != i:
                    i = parent[i]
                return i

            for (i, j), on in zip(self.edges, active):
                if on:
                    parent[root(i)] = root(j)
            q = np.ones(S)
            for r in set(root(i) for i in range(self.n)):
                members = [i for i in range(self.n) if root(i) == r]
                u = self.unary[members].sum(0)  # (c,)
                w = np.exp(-(u - u.min()))
                first = self.states[:, members[0]]
                const = (self.states[:, members] == first[:, None]).all(1)
                q *= const * (w / w.sum())[first]
            Q[k] = q
        return bond_probs @ Q

    def half_sweep(self, parity: int) -> np.ndarray:
        """Heat-bath update of every pixel with ``(r + q) % 2 == parity`` at once, from conditionals
        ``∝ exp(−E(x with x_i = a))`` of whole states."""
        colour = [i for i in range(self.n) if (i // self.w + i % self.w) % 2 == parity]
        S = len(self.states)
        cond = np.ones((S, self.n, self.c))
        for i in colour:
            variants = np.repeat(self.states[:, None], self.c, 1)  # (S, c, n)
            variants[:, :, i] = np.arange(self.c)
            e = self.energy(variants)
            w = np.exp(-(e - e.min(1, keepdims=True)))
            cond[:, i] = w / w.sum(1, keepdims=True)
        others = [i for i in range(self.n) if i not in colour]
        same = (self.states[:, None, others] == self.states[None, :, others]).all(-1)  # (S, S)
        probs = np.ones((S, S))
        for i in colour:
            probs *= cond[:, i][:, self.states[:, i]]  # cond[x, i, y_i]
        return same * probs

    def heat_bath(self) -> np.ndarray:
        return self.half_sweep(0) @ self.half_sweep(1)

    def block(self, free: list[int]) -> np.ndarray:
        """Gibbs update of the pixels ``free`` jointly: ``T[x, y] ∝ [y = x off free] · exp(−E(y))``."""
        others = [i for i in range(self.n) if i not in free]
        same = (self.states[:, None, others] == self.states[None, :, others]).all(-1)  # (S, S)
        T = same * self.p_star[None, :]
        return T / T.sum(1, keepdims=True)

    def line(self) -> np.ndarray:
        """Rows of even, then odd index, then columns alike, each set of lines drawn jointly given the rest."""
        rows = [[r * self.w + q for r in range(parity, self.h, 2) for q in range(self.w)] for parity in (0, 1)]
        columns = [[r * self.w + q for q in range(parity, self.w, 2) for r in range(self.h)] for parity in (0, 1)]
        T = np.eye(len(self.states))
        for free in rows + columns:
            if free:
                T = T @ self.block(free)
        return T

    def kernel(self, name: str) -> np.ndarray:
        if name == "sw":
            return self.swendsen_wang()
        if name == "hb":
            return self.heat_bath()
        if name == "line":
            return self.line()
        # the finish with one sweep of each kind, in the order it runs them (a torus has no line sweep)
        return self.swendsen_wang() @ (np.eye(len(self.states)) if self.periodic else self.line()) @ self.heat_bath()


def kl(p: np.ndarray, q: np.ndarray) -> float:
    mask = p > 0
    return float((p[mask] * np.log(p[mask] / q[mask])).sum())


def random_unary(c: int, seed: int, h: int = H, w: int = W) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 2, size=(h * w, c))


def torch_kernel(name: str, unary: np.ndarray, beta: float = BETA, h: int = H, w: int = W, periodic: bool = False,
                 device: str = "cpu"):
    energy = GridPottsEnergy(torch.tensor(unary.reshape(h, w, -1)), beta=beta, periodic=periodic, dtype=torch.float64).to(device)
    if name == "sw":
        sw = PottsSwendsenWang(energy)
        return lambda x, g: sw.sweep(x.view(-1, h, w), g).view(len(x), -1)
    if name == "hb":
        hb = CheckerboardGibbs(energy)
        return lambda x, g: hb.sweep(x.view(-1, h, w), g).view(len(x), -1)
    if name == "line":
        line = LineGibbs(energy)
        return lambda x, g: line.sweep(x.view(-1, h, w), g).view(len(x), -1)
    return lambda x, g: finish(energy, x, "sw,hb" if periodic else "sw,line,hb", generator=g)


def chi_square(counts: np.ndarray, expected: np.ndarray) -> tuple[float, int]:
    """Pearson's statistic and degrees of freedom, bins with expected count < 5 pooled into one."""
    small = expected < 5
    obs = np.append(counts[~small], counts[small].sum())
    exp = np.append(expected[~small], expected[small].sum())
    keep = exp > 0
    if (obs[~keep] > 0).any():
        return float("inf"), int(keep.sum()) - 1
    return float(((obs[keep] - exp[keep]) ** 2 / exp[keep]).sum()), int(keep.sum()) - 1


KERNELS = ["sw", "hb", "line", "finish"]


# -- (a) exact invariance -------------------------------------------------------------------------------
@pytest.mark.parametrize("c", [2, 3])
@pytest.mark.parametrize("name", KERNELS)
def test_exact_kernel_leaves_p_star_invariant(name, c):
    brute = Brute(random_unary(c, seed=c), BETA)
    T = brute.kernel(name)
    np.testing.assert_allclose(T.sum(1), 1, atol=1e-12)
    assert np.abs(brute.p_star @ T - brute.p_star).max() < 1e-10
    # failing controls: the kernel of another β, or without the data term, does not keep this P*
    for other in (Brute(brute.unary, 2 * BETA), Brute(np.zeros_like(brute.unary), BETA)):
        assert np.abs(brute.p_star @ other.kernel(name) - brute.p_star).max() > 1e-3


def test_exact_swendsen_wang_leaves_the_torus_invariant():
    """Periodic 2×3 grid: the vertical wrap-around edges repeat the ordinary ones and count twice."""
    brute = Brute(random_unary(2, seed=5), BETA, periodic=True)
    assert len(brute.edges) == 12
    assert np.abs(brute.p_star @ brute.swendsen_wang() - brute.p_star).max() < 1e-10


def test_exact_heat_bath_leaves_the_torus_invariant():
    """Periodic 2×4 grid (even sides: two colours); the open grid's kernel is the failing control."""
    brute = Brute(random_unary(2, seed=6, w=4), BETA, w=4, periodic=True)
    assert np.abs(brute.p_star @ brute.heat_bath() - brute.p_star).max() < 1e-10
    assert np.abs(brute.p_star @ Brute(brute.unary, BETA, w=4).heat_bath() - brute.p_star).max() > 1e-3


# -- (b) the torch kernels against the exact rows -------------------------------------------------------
DRAWS = 20_000
P_MIN = 1e-4  # a correct kernel fails one of these runs with probability ~1e-4 (seeds are fixed)


def empirical_check(kernel, brute: Brute, controls: list[Brute], name: str, seed: int = 0, device: str = "cpu") -> None:
    starts = np.stack([np.zeros(brute.n, dtype=int), np.arange(brute.n) % brute.c, brute.states[len(brute.states) // 3]])
    x = torch.tensor(np.repeat(starts, DRAWS, 0), device=device)
    y = kernel(x, torch.Generator(device=device).manual_seed(seed)).cpu().numpy()
    idx = brute.index(y).reshape(len(starts), DRAWS)
    counts = [np.bincount(row, minlength=len(brute.states)) for row in idx]
    rows = brute.index(starts)

    def combined(T: np.ndarray) -> float:  # p-value of the chi-square statistic summed over the starts
        stats = [chi_square(cnt, DRAWS * T[r]) for cnt, r in zip(counts, rows)]
        return chi2_sf(sum(s for s, _ in stats), sum(d for _, d in stats))

    assert combined(brute.kernel(name)) > P_MIN
    for control in controls:
        assert combined(control.kernel(name)) < 1e-12


@pytest.mark.parametrize("c", [2, 3])
@pytest.mark.parametrize("name", KERNELS)
def test_kernel_matches_exact_rows(name, c, implementation):
    unary = random_unary(c, seed=c)
    brute = Brute(unary, BETA)
    controls = [Brute(unary, 1.5 * BETA), Brute(np.zeros_like(unary), BETA)]
    empirical_check(torch_kernel(name, unary), brute, controls, name)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
@pytest.mark.parametrize("name", KERNELS)
def test_torch_kernel_on_the_gpu_matches_exact_rows(name):
    unary = random_unary(3, seed=3)
    brute = Brute(unary, BETA)
    controls = [Brute(unary, 1.5 * BETA), Brute(np.zeros_like(unary), BETA)]
    empirical_check(torch_kernel(name, unary, device="cuda"), brute, controls, name, device="cuda")


def test_swendsen_wang_on_the_torus_matches_exact_rows(implementation):
    unary = random_unary(2, seed=5)
    brute = Brute(unary, BETA, periodic=True)
    controls = [Brute(unary, BETA)]  # the open grid: the wrap-around bonds must be there, each with its weight
    empirical_check(torch_kernel("sw", unary, periodic=True), brute, controls, "sw")


@pytest.mark.parametrize("name", ["hb", "finish"])
def test_heat_bath_on_the_torus_matches_exact_rows(name, implementation):
    unary = random_unary(2, seed=6, w=4)
    brute = Brute(unary, BETA, w=4, periodic=True)
    controls = [Brute(unary, BETA, w=4)]  # the open grid: the wrap-around edges must be there, each with its weight
    empirical_check(torch_kernel(name, unary, w=4, periodic=True), brute, controls, name)


# -- (c) data processing --------------------------------------------------------------------------------
@pytest.mark.parametrize("c", [2, 3])
@pytest.mark.parametrize("name", KERNELS)
def test_kl_to_p_star_never_increases(name, c):
    brute = Brute(random_unary(c, seed=c), BETA)
    T = brute.kernel(name)
    rng = np.random.default_rng(1)
    pixel = rng.dirichlet(np.full(c, 0.5), size=brute.n)  # a product start distribution, far from P*
    mu = pixel[np.arange(brute.n), brute.states].prod(1)
    kls = [kl(mu, brute.p_star)]
    for _ in range(4):
        mu = mu @ T
        kls.append(kl(mu, brute.p_star))
    assert all(b <= a + 1e-12 for a, b in zip(kls, kls[1:]))
    assert kls[-1] < 0.5 * kls[0]
    # failing control: a kernel of another β moves P* itself away from P*
    assert kl(brute.p_star @ Brute(brute.unary, 2 * BETA).kernel(name), brute.p_star) > 1e-4


# -- the pieces -----------------------------------------------------------------------------------------
def union_find_partition(right: np.ndarray, down: np.ndarray) -> np.ndarray:
    """Smallest node index of each node's cluster, ``(h, w)``, by a Python union-find."""
    h, w = right.shape
    parent = list(range(h * w))

    def root(i):
        while parent[i] != i:
            i = parent[i]
        return i

    for r in range(h):
        for q in range(w):
            for on, other in ((right[r, q], r * w + (q + 1) % w), (down[r, q], ((r + 1) % h) * w + q)):
                if on:
                    a, b = root(r * w + q), root(other)
                    parent[max(a, b)] = min(a, b)
    return np.array([root(i) for i in range(h * w)]).reshape(h, w)


@pytest.mark.parametrize("shape", [(1, 7), (5, 1), (2, 2), (4, 9), (7, 5)])
@pytest.mark.parametrize("p", [0.3, 0.6, 0.9])
def test_cluster_ids_match_union_find(shape, p):
    g = torch.Generator().manual_seed(0)
    B = 40
    right, down = torch.rand(B, *shape, generator=g) < p, torch.rand(B, *shape, generator=g) < p
    ids = cluster_ids(right, down)
    n = shape[0] * shape[1]
    for b in range(B):
        expected = union_find_partition(right[b].numpy(), down[b].numpy()) + b * n
        np.testing.assert_array_equal(ids[b].numpy(), expected)


def test_finish_schedule_and_checks():
    energy = GridPottsEnergy(torch.zeros(2, 3, 2), beta=1.0)
    assert Finish(energy, "sw,sw,sw,hb").schedule() == ["sw", "sw", "sw", "hb"]
    assert Finish(energy, ("sw", "line", "hb")).schedule() == ["sw", "line", "hb"]
    assert Finish(energy, " SW , Line,hb ").schedule() == ["sw", "line", "hb"]  # one spelling
    assert Finish(energy, "sw,line").ends_with_draw() is False
    assert Finish(energy, "line,hb").ends_with_draw() is True
    assert Finish(energy, "").schedule() == [] and not Finish(energy, "none").ends_with_draw()
    x = torch.randint(0, 2, (5, 6))
    assert torch.equal(finish(energy, x, ""), x)
    assert finish(energy, x, "sw,hb,sw,hb", torch.Generator().manual_seed(0)).shape == (5, 6)
    with pytest.raises(ValueError, match="unknown kernel 'gibbs'.*kernels: sw, line, hb"):
        Finish(energy, "sw,gibbs")
    with pytest.raises(ValueError, match="finish kernel 'hb': .*even number of rows.*; drop 'hb'"):
        Finish(GridPottsEnergy(torch.zeros(2, 3, 2), periodic=True), "sw,hb")
    with pytest.raises(ValueError, match="finish kernel 'line': .*open grid.*; drop 'line'"):
        Finish(GridPottsEnergy(torch.zeros(2, 4, 2), periodic=True), "line")
    with pytest.raises(ValueError, match="finish kernel 'sw': .*ferromagnetic"):
        Finish(GridPottsEnergy(torch.zeros(2, 3, 2), beta=-1.0), "sw")
    with pytest.raises(TypeError, match="GridPottsEnergy"):
        PottsSwendsenWang(object())
    with pytest.raises(ValueError, match=r"shape \(m, 6\)"):
        finish(energy, x.view(-1), "sw")


def test_the_registry_names_every_kernel_file_once():
    """Each file in models/kernels/ (but the interface) holds one registered kernel, under the name it says."""
    folder = Path(kernels_package.__file__).parent
    files = {p.stem for p in folder.glob("*.py")} - {"__init__", "base"}
    assert {kernel.module for kernel in REGISTRY.values()} == files
    for name in REGISTRY:
        cls = kernel_class(name)
        assert issubclass(cls, Kernel) and cls.name == name and cls.title


# -- line sweeps with edge weights of their own ---------------------------------------------------------
def test_torch_line_sweep_matches_exact_block_conditionals_with_uneven_weights():
    """3 × 3 grid, 3 labels, every edge its own weight: each set of lines drawn from a fixed state against its
    exact conditional (whole states enumerated); the weights swapped between rows and columns are the failing
    control (a transposed weight would pass with one β everywhere)."""
    h, w, c = 3, 3, 3
    rng = np.random.default_rng(7)
    unary, wh, wv = rng.uniform(0, 2, (h, w, c)), rng.uniform(0, 2.5, (h, w - 1)), rng.uniform(0, 2.5, (h - 1, w))
    states = np.array(list(itertools.product(range(c), repeat=h * w))).reshape(-1, h, w)

    def log_p(wh, wv):  # log P* up to a constant, from the definition
        e = unary[np.arange(h)[:, None], np.arange(w)[None], states].sum((1, 2))
        e = e + (wh * (states[:, :, 1:] != states[:, :, :-1])).sum((1, 2)) + (wv * (states[:, 1:] != states[:, :-1])).sum((1, 2))
        return -e

    energy = GridPottsEnergy(torch.tensor(unary), weights_h=torch.tensor(wh), weights_v=torch.tensor(wv), dtype=torch.float64)
    line = LineGibbs(energy)
    start = rng.integers(0, c, (h, w))
    draws, g = 20_000, torch.Generator().manual_seed(0)
    for direction, parity in (("rows", 0), ("rows", 1), ("columns", 0), ("columns", 1)):
        free = np.zeros((h, w), dtype=bool)
        (free[parity::2] if direction == "rows" else free[:, parity::2]).fill(True)
        lines = torch.tensor(start).repeat(draws, 1, 1)
        lines = (lines.permute(2, 1, 0) if direction == "rows" else lines.permute(1, 2, 0)).contiguous()
        weights = line.rows if direction == "rows" else line.columns
        y = resample_lines(lines, parity, *weights, g)
        y = (y.permute(2, 1, 0) if direction == "rows" else y.permute(2, 0, 1)).numpy()
        assert (y[:, ~free] == start[~free]).all()
        reachable = (states[:, ~free] == start[~free]).all(1)
        index = {s.tobytes(): k for k, s in enumerate(states[reachable])}
        counts = np.bincount([index[s.tobytes()] for s in y.astype(states.dtype)], minlength=int(reachable.sum()))

        def p_value(wh, wv):
            lp = log_p(wh, wv)[reachable]
            p = np.exp(lp - lp.max())
            return chi2_sf(*chi_square(counts, draws * p / p.sum()))

        assert p_value(wh, wv) > P_MIN, (direction, parity)
        assert p_value(wv.T, wh.T) < 1e-12, (direction, parity)



# -- one sweep from P* with every edge its own weight ---------------------------------------------------
@pytest.mark.parametrize("kernel", list(REGISTRY))
def test_one_sweep_from_exact_draws_keeps_p_star_with_uneven_weights(kernel, implementation):
    """2 × 3 grid, 3 labels, every edge its own weight in [0.2, 2.5]: exact draws from P* (all 3⁶ labelings
    enumerated), one sweep of every registered kernel, and the result's distribution against P* by chi-square.
    The failing control is the kernel of the weights rotated by 180° (each edge takes its bond probability or its
    share of a conditional from the edge opposite it); on a 2-row grid an up–down flip of the vertical weights would
    change nothing."""
    h, w, c, draws = 2, 3, 3, 40_000
    rng = np.random.default_rng(11)
    unary, wh, wv = rng.uniform(0, 2, (h, w, c)), rng.uniform(0.2, 2.5, (h, w - 1)), rng.uniform(0.2, 2.5, (h - 1, w))
    states = np.array(list(itertools.product(range(c), repeat=h * w))).reshape(-1, h, w)
    e = unary[np.arange(h)[:, None], np.arange(w)[None], states].sum((1, 2))
    e = e + (wh * (states[:, :, 1:] != states[:, :, :-1])).sum((1, 2)) + (wv * (states[:, 1:] != states[:, :-1])).sum((1, 2))
    p_star = np.exp(-(e - e.min()))
    p_star /= p_star.sum()
    x = torch.tensor(states[rng.choice(len(states), draws, p=p_star)].reshape(draws, h * w))

    def p_value(wh, wv) -> float:
        energy = GridPottsEnergy(torch.tensor(unary), weights_h=torch.tensor(wh), weights_v=torch.tensor(wv), dtype=torch.float64)
        y = Finish(energy, kernel)(x, torch.Generator().manual_seed(0)).numpy()
        counts = np.bincount(y @ c ** np.arange(h * w - 1, -1, -1), minlength=len(states))  # states' row-major index
        return chi2_sf(*chi_square(counts, draws * p_star))

    assert p_value(wh, wv) > P_MIN
    assert p_value(wh[::-1, ::-1].copy(), wv[::-1, ::-1].copy()) < 1e-12


@pytest.mark.parametrize("spec, parsed", [
    ("auto", (0, None)), ("AUTO", (0, None)), ("3", (3, None)), ("sw,line,hb", (1, "sw,line,hb")),
    ("hb, hb", (1, "hb,hb")), ("auto:sw,hb", (0, "sw,hb")), ("4:line", (4, "line")), ("none", (1, "")), (None, (None, None)),
])
def test_the_finish_option_takes_rounds_a_schedule_or_both(spec, parsed):
    from run.config import parse_finish

    assert parse_finish(spec) == parsed


def test_a_finish_option_given_as_a_schedule_sets_the_flows_round():
    from run.build import build_model
    from run.config import RunConfig

    energy = GridPottsEnergy(torch.zeros(2, 4, 3), beta=1.0)
    model = build_model(RunConfig(image="x.png", finish="auto:sw,hb"), energy)
    assert model.hparams.finish_round == "sw,hb" and model.hparams.finish_rounds == 0
    assert model.finisher().schedule() == ["sw", "hb"] and model.finisher().automatic


def test_the_check_runs_one_sweep_of_each_kernel_in_the_registrys_order():
    from models.finish.convergence import check_kernel
    from models.baselines.chains import RandomStartChains

    energy = GridPottsEnergy(torch.zeros(2, 4, 2), beta=1.0)
    assert check_kernel(RandomStartChains(energy, "hb,hb,hb,sw,hb", sweeps=1)).schedule() == ["sw", "hb"]
    assert check_kernel(RandomStartChains(energy, "line", sweeps=2)).schedule() == ["line"]
    odd_torus = GridPottsEnergy(torch.zeros(3, 4, 2), beta=1.0, periodic=True)
    assert check_kernel(type("Plain", (), {"energy": odd_torus})()).schedule() == ["sw"]  # no line, no heat bath there
