"""The KL upper bound of models/flow/kl_bound.py against the exact KL of a flow on a tiny grid.

On a 2×3 grid with 2 labels (64 labelings) the flow's distribution ``P(x) = E_Ω[Π_i S(Ω)_{i,x_i}]`` is
computed by averaging over 2^16 components for every labeling, so ``KL[P : P*]`` is known to ~1e-3.
"""

import itertools
import math

import pytest
import torch

from energies import GridPottsEnergy, table1_energy
from energies.exact import exact_inference
from models import RandomizedFlow
from models.flow.kl_bound import kl_upper_bound


@pytest.fixture(scope="module")
def tiny():
    """An untrained flow (the bound holds for any model), its energy, log Z* and the exact P and KL."""
    g = torch.Generator().manual_seed(0)
    energy = GridPottsEnergy(torch.randn(2, 3, 2, generator=g), beta=1.0, dtype=torch.float64)
    log_z = exact_inference(energy).log_z
    model = RandomizedFlow(6, 2, seed=0)
    states = torch.tensor(list(itertools.product(range(2), repeat=6)))
    onehot = torch.nn.functional.one_hot(states, 2).double().reshape(64, 12)
    gen, total, components = torch.Generator().manual_seed(1), torch.zeros(64, dtype=torch.float64), 2**16
    with torch.no_grad():
        for _ in range(components // 2**13):
            log_S = model.log_soft_samples(2**13, gen).double()
            total += torch.exp(onehot @ log_S.reshape(2**13, 12).T).sum(1)
    P = total / components
    E = energy.energy(states).double()
    kl = float((P * (E + P.log())).sum()) + log_z
    entropy = float(-(P * P.log()).sum())
    return model, energy, log_z, P, kl, entropy


def bound(tiny, M, samples=16384, seed=2):
    model, energy, log_z = tiny[:3]
    return kl_upper_bound(model, energy, log_z, samples=samples, components=M, groups=16, chunk=1024,
                          generator=torch.Generator().manual_seed(seed))


def test_enumerated_model_distribution_is_normalised(tiny):
    P, kl = tiny[3], tiny[4]
    assert float(P.sum()) == pytest.approx(1.0, abs=1e-6)
    assert kl > 0.5  # far from P*: the bound has something to bound


@pytest.mark.parametrize("M", [1, 2, 16, 1024])
def test_bound_lies_above_the_exact_kl(tiny, M):
    kl = tiny[4]
    r = bound(tiny, M)
    assert r.bound >= kl - 3 * r.stderr - 2e-3, (M, r.bound, kl, r.stderr)
    assert r.bound == pytest.approx(r.mean_energy + r.mean_log_p + r.log_z, abs=1e-9)


def test_bound_tightens_with_M_and_approaches_the_kl(tiny):
    kl, entropy = tiny[4], tiny[5]
    r1, r16, r4096 = bound(tiny, 1), bound(tiny, 16), bound(tiny, 4096)
    # same seed: same samples, so the energy parts agree and the differences are those of log P̂_M
    assert r1.mean_energy == r16.mean_energy == r4096.mean_energy
    assert r1.mean_log_p > r16.mean_log_p + 0.1  # M = 1 is the loose "own component only" figure
    assert r16.bound >= r4096.bound - 3 * math.hypot(r16.stderr, r4096.stderr)
    # large M: tight up to sampling error, and the entropy lower bound −⟨log P̂⟩ close to H(P)
    assert abs(r4096.bound - kl) < 3 * r4096.stderr + 0.03, (r4096.bound, kl, r4096.stderr)
    assert -r4096.mean_log_p == pytest.approx(entropy, abs=0.05)
    assert -r4096.mean_log_p <= entropy + 0.02


def test_bound_on_table1_is_finite_and_not_below_zero():
    """KL ≥ 0 always, so the bound of any model must not fall below 0 beyond its noise."""
    energy = table1_energy()
    model = RandomizedFlow(energy.n, energy.c, seed=0)
    r = kl_upper_bound(model, energy, exact_inference(energy).log_z, samples=1024, components=256, groups=8,
                       generator=torch.Generator().manual_seed(0))
    assert math.isfinite(r.bound) and math.isfinite(r.stderr) and r.stderr > 0
    assert r.bound >= -3 * r.stderr


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(samples=100, groups=16), "multiple of groups"),
        (dict(samples=16, groups=1), "groups ≥ 2"),
        (dict(components=0), "components and chunk"),
    ],
)
def test_bad_arguments_raise_clear_errors(tiny, kwargs, match):
    model, energy, log_z = tiny[:3]
    with pytest.raises(ValueError, match=match):
        kl_upper_bound(model, energy, log_z, **kwargs)


def test_argmax_rounding_and_mismatched_energy_are_refused(tiny):
    model, energy, log_z = tiny[:3]
    with pytest.raises(ValueError, match="argmax rounding"):
        kl_upper_bound(RandomizedFlow(6, 2, recipe="paper"), energy, log_z)
    with pytest.raises(ValueError, match="n=24"):
        kl_upper_bound(model, table1_energy(), log_z)
