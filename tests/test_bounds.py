"""The figures that hold at any size (metrics/bounds.py), against exact answers.

* The law of the finish's last heat-bath sweep, against conditionals computed from whole-labeling energies.
* ``log Z`` at other weights (transfer matrix, Kaufman) against enumeration, and the Donsker–Varadhan bound
  against the exact KL of distributions in its family.
* On a tiny image (3⁸ labelings), the KL bounds of three samplers bracket their KL measured from 2¹⁸ samples
  against exact enumeration (10⁶ samples in the slow suite).
* In training: the bounds logged on a 6-row strip (transfer matrix), the plug-in entropy withheld once the
  samples are all distinct.
"""

from __future__ import annotations

import itertools

import pytest
import torch

from callbacks import SampleMetrics
from callbacks.common import try_kl_lower
from conftest import gen, quiet_trainer
from data.energy_datamodule import GivenEnergy
from energies import GridPottsEnergy, ising_energy
from energies.exact import exact_inference
from energies.kaufman import ising_torus_energy
from energies.log_partition import LogPartition, data_term
from metrics.bounds import bound_figures
from metrics.kl_lower import DonskerVaradhan
from models import MeanField, RandomizedFlow
from models.kernels.heat_bath import CheckerboardGibbs

H, W, C = 2, 4, 3


def tiny_energy(seed: int = 0, h: int = H, w: int = W) -> GridPottsEnergy:
    return GridPottsEnergy(1.5 * torch.randn(h, w, C, generator=gen(seed)), beta=1.0, dtype=torch.float64)


def all_labelings(n: int, c: int = C) -> torch.Tensor:
    return torch.tensor(list(itertools.product(range(c), repeat=n)))


# -- the law of the last heat-bath sweep -------------------------------------------------------------------
def brute_conditional(energy, x: torch.Tensor, i: int) -> torch.Tensor:
    """p*(x_i = · | the rest of x), from the energies of whole labelings."""
    trial = x.repeat(energy.c, 1)
    trial[:, i] = torch.arange(energy.c)
    return torch.softmax(-energy.energy(trial).double(), 0)


def test_sweep_law_matches_brute_force_conditionals():
    energy = tiny_energy(1, 2, 3)
    n = energy.n
    even = [i for i in range(n) if (i // 3 + i % 3) % 2 == 0]
    is_even = torch.tensor([i in even for i in range(n)])
    z = torch.randint(0, C, (64, 2, 3), generator=gen(2))
    x, table, rest = CheckerboardGibbs(energy).sweep_as_draw(z, gen(3))
    x, z = x.reshape(64, n), z.reshape(64, n)
    for k in range(64):
        # even pixels drawn given z's (odd) neighbours, then odd pixels given x's (even) ones
        before = torch.where(is_even, x[k], z[k])  # z with x's even pixels: their own values never enter their conditionals
        want_table = sum(float(brute_conditional(energy, before, i)[x[k, i]].log()) for i in even)
        got_table = float(table[k].gather(1, x[k][:, None]).sum())
        want_rest = sum(float(brute_conditional(energy, x[k], i)[x[k, i]].log()) for i in range(n) if i not in even)
        assert got_table == pytest.approx(want_table, abs=1e-9)
        assert float(rest[k]) == pytest.approx(want_rest, abs=1e-9)
        assert (table[k][~is_even] == 0).all()


def test_sweep_draws_from_its_law():
    """Sweeps from one fixed z: the frequencies of the 3⁶ results match q(x | z) from the tables."""
    energy = tiny_energy(4, 2, 3)
    z = torch.randint(0, C, (1, 2, 3), generator=gen(5)).expand(200_000, 2, 3)
    x, table, rest = CheckerboardGibbs(energy).sweep_as_draw(z, gen(6))
    x = x.reshape(len(x), -1)
    codes = (x * C ** torch.arange(5, -1, -1)).sum(1)
    freq = torch.bincount(codes, minlength=C**6).double() / len(x)
    law = torch.zeros(C**6, dtype=torch.float64)
    law[codes] = (table.gather(2, x[..., None]).squeeze(2).sum(1) + rest).exp()
    assert 0.999 < float(law.sum()) <= 1 + 1e-9  # the results never seen are rare under the law too
    assert 0.5 * float((freq - law).abs().sum()) < 0.02


# -- log Z at other weights, and the Donsker–Varadhan bound --------------------------------------------------
def test_log_partition_methods_agree_with_enumeration():
    strip = GridPottsEnergy(torch.randn(3, 5, C, generator=gen(7)), beta=1.2, dtype=torch.float64)
    exact, transfer = LogPartition(strip), LogPartition(strip)
    assert transfer.method == "transfer matrix"  # the fastest that applies
    exact.method = "enumeration"
    torus = ising_torus_energy(4, 4, 0.35)
    kaufman = LogPartition(torus)
    kaufman.method = "Kaufman"
    for s, t in ((1.0, 1.0), (0.4, 2.5), (1.6, 0.7)):
        assert transfer(s, t) == pytest.approx(exact(s, t), abs=1e-9)
        direct = GridPottsEnergy(strip.unary * s, beta=1.2 * t, dtype=torch.float64)
        assert exact(s, t) == pytest.approx(exact_inference(direct).log_z, abs=1e-9)
        assert kaufman(s, t) == pytest.approx(exact_inference(LogPartition(torus).scaled(s, t)).log_z, abs=1e-9)
    assert LogPartition(GridPottsEnergy(torch.zeros(40, 40, C))).method is None


@pytest.mark.parametrize("s, t", [(1.3, 0.7), (0.7, 1.6), (2.0, 2.0)])
def test_donsker_varadhan_bound_against_exact_kl(s, t):
    """Q = P* at other weights: the exact KL is known, the bound lies below it, and is tight when (s, t) is on
    the grid of scales."""
    energy = tiny_energy(8)
    log_partition = LogPartition(energy)
    X = all_labelings(energy.n)
    E = energy.energy(X)
    U = data_term(energy, X)
    log_q = -(s * U + t * (E - U))
    log_q -= torch.logsumexp(log_q, 0)
    kl = float((log_q.exp() * (log_q + E + log_partition())).sum())
    draws = torch.multinomial(log_q.exp(), 40_000, replacement=True, generator=gen(9))
    low = DonskerVaradhan(log_partition)(U[draws], (E - U)[draws])
    assert low.bound - 2 * low.stderr <= kl
    if [s, t] in DonskerVaradhan(log_partition).scales.tolist():
        assert low.bound == pytest.approx(kl, abs=4 * low.stderr + 0.01)


def test_donsker_varadhan_is_zero_at_p_star():
    energy = tiny_energy(10)
    log_partition = LogPartition(energy)
    X = all_labelings(energy.n)
    p = torch.softmax(-energy.energy(X), 0)
    x = X[torch.multinomial(p, 20_000, replacement=True, generator=gen(11))]
    U = data_term(energy, x)
    low = DonskerVaradhan(log_partition)(U, energy.energy(x) - U)
    assert abs(low.bound) < 4 * low.stderr + 1e-3


# -- the bounds bracket the KL of samplers on a tiny image ---------------------------------------------------
SAMPLERS = {
    "flow + 1 heat-bath sweep": dict(finish_round="hb"),
    "flow + the recipe's finish": {},
    "flow alone, drawn labels": dict(finish_round="", rounding="draw"),
}


def measured_kl(model, energy, samples: int) -> tuple[float, float]:
    """KL[Q : P*] from ``samples`` samples' frequencies against exact P*, and its plug-in bias bound (s − 1)/2N."""
    log_p = -energy.energy(all_labelings(energy.n)) - exact_inference(energy).log_z
    x = torch.cat([model.sample(min(2**16, samples - k), gen(12 + k)) for k in range(0, samples, 2**16)])
    counts = torch.bincount((x * C ** torch.arange(energy.n - 1, -1, -1)).sum(1), minlength=C**energy.n).double()
    q = counts / samples
    seen = q > 0
    return float((q[seen] * (q[seen].log() - log_p[seen])).sum()), (int(seen.sum()) - 1) / (2 * samples)


def check_bracket(name: str, samples: int) -> dict:
    energy = tiny_energy()
    model = RandomizedFlow.from_recipe("image", energy, seed=0, **SAMPLERS[name])
    kl, bias = measured_kl(model, energy, samples)
    figures = bound_figures(model, model.sample(256, gen(1)), exact_inference(energy).log_z, try_kl_lower(energy), gen(2))
    assert figures["kl_lower"] <= kl + 0.01, (name, figures["kl_lower"], kl)
    assert figures["kl_upper"] >= kl - bias - 0.01, (name, figures["kl_upper"], kl)
    return {"kl": kl, **figures}


@pytest.mark.parametrize("name", SAMPLERS)
def test_bounds_bracket_the_measured_kl(name):
    out = check_bracket(name, 2**18)
    if name == "flow alone, drawn labels":  # controls: a sampler far from P* is seen as such from both sides
        assert out["kl"] > 0.5 and out["kl_lower"] > 0.1 and out["kl_upper"] > out["kl"]


@pytest.mark.slow
@pytest.mark.parametrize("name", SAMPLERS)
def test_bounds_bracket_the_kl_from_a_million_samples(name):
    check_bracket(name, 10**6)


# -- in training ----------------------------------------------------------------------------------------------
def fit(model, energy, metrics, steps=2):
    quiet_trainer(steps, callbacks=[metrics]).fit(model, datamodule=GivenEnergy(energy))


def test_both_kl_bounds_logged_on_a_six_row_strip():
    """6×16 pixels, 3 labels: beyond enumeration, solved by the transfer matrix."""
    energy = GridPottsEnergy(torch.randn(6, 16, C, generator=gen(13)), beta=1.0)
    metrics = SampleMetrics(every_n_steps=2, samples=64)
    fit(RandomizedFlow.from_recipe("image", energy, seed=0), energy, metrics, steps=4)
    assert len(metrics.logged) >= 2
    for row in metrics.logged:
        assert {"eval/kl_upper", "eval/kl_lower", "eval/marginal_diff", "eval/free_energy_upper", "eval/exact_free_energy"} <= set(row)
        assert 0 <= row["eval/kl_lower"] <= row["eval/kl_upper"]


def test_plugin_entropy_withheld_once_samples_are_distinct():
    big, small = ising_energy(8, 8), ising_energy(2, 2)
    for energy, distinct in ((big, True), (small, False)):
        metrics = SampleMetrics(every_n_steps=1, samples=128)
        fit(MeanField(energy.n, energy.c, restarts=4), energy, metrics, steps=1)
        last = metrics.latest
        assert ("eval/entropy" in last) is not distinct and ("eval/free_energy" in last) is not distinct
        assert (metrics.withheld is not None) is distinct
        assert "eval/entropy_lower" in last and "eval/free_energy_upper" in last  # mean field gives its law
        if distinct:
            assert "coverage" in metrics.withheld
