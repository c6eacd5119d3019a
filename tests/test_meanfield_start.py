"""The flow that starts where mean field ends (recipe ``ising-meanfield``): its start solves the mean-field equations
as the mean-field baseline does, and at step 0 its certified bound is mean field's exact KL, or that of the mixture of
mean field and its mirror image when labels are permuted. References by enumeration of every state of a 4×4 torus."""

from __future__ import annotations

import itertools
import math

import lightning as L
import numpy as np
import pytest
import torch

from conftest import quiet_trainer
from data.energy_datamodule import GivenEnergy
from energies import PairwiseEnergy
from energies.base import label_symmetric
from energies.exact import exact_inference
from energies.grid_potts import GridPottsEnergy
from energies.kaufman import ising_torus_energy, potts_log_z
from models import MeanField
from models.flow.kl_bound import kl_upper_bound
from models.baselines.mean_field import mean_field_solution
from models.flow.randomized_flow import RandomizedFlow

BETA = 0.6  # magnetized mean field: its two mirror images barely overlap on 16 spins


def free_energy(energy, log_M: torch.Tensor) -> float:
    M = log_M.exp()
    return float(energy.expected_energy(M[None]) + (M * log_M).sum())


def test_mean_field_solution_matches_the_trained_baseline():
    """The damped fixed point against MeanField's Adam restarts on a random-field Potts grid: the same free energy,
    and above −log Z (KL ≥ 0) by enumeration."""
    g = torch.Generator().manual_seed(3)
    energy = GridPottsEnergy(torch.randn(3, 3, 3, generator=g, dtype=torch.float64), beta=1.2, dtype=torch.float64)
    solution = free_energy(energy, mean_field_solution(energy, generator=torch.Generator().manual_seed(0)))
    L.seed_everything(0)
    baseline = MeanField(energy.n, energy.c, restarts=64)
    quiet_trainer(600).fit(baseline, GivenEnergy(energy))
    with torch.no_grad():
        trained = float(baseline.free_energies().min())
    assert solution == pytest.approx(trained, abs=1e-4)
    assert solution >= -exact_inference(energy).log_z - 1e-9


@pytest.fixture(scope="module")
def torus():
    """The 4×4 Ising torus at BETA, every state, its exact log Z, and the mean-field solution."""
    energy = ising_torus_energy(4, 4, BETA)
    states = torch.tensor(list(itertools.product([0, 1], repeat=16)))
    log_M = mean_field_solution(energy, generator=torch.Generator().manual_seed(0))
    return energy, states, potts_log_z(4, 4, BETA), log_M


def exact_kl(log_q: torch.Tensor, energy, states, log_z: float) -> float:
    """KL[q : P*] = Σ q (log q + E) + log Z over every state."""
    q = log_q.exp()
    return float((q * (log_q + energy.energy(states))).sum() + log_z)


def test_at_step_0_the_bound_is_mean_fields_kl_or_its_mirror_mixtures(torus):
    energy, states, log_z, log_M = torus
    one = log_M.gather(1, states.T).sum(0)  # log Π_i M_i(x_i)
    mirror = log_M.flip(1).gather(1, states.T).sum(0)
    kl_mf = exact_kl(one, energy, states, log_z)
    kl_mix = exact_kl(torch.logaddexp(one, mirror) - math.log(2), energy, states, log_z)
    assert kl_mf - kl_mix == pytest.approx(math.log(2), abs=0.01)  # the mirror images barely overlap here
    for permute, expected in ((False, kl_mf), (True, kl_mix)):
        model = RandomizedFlow.from_recipe("ising-meanfield", energy, seed=0, finish_round="", permute_labels=permute)
        bound = kl_upper_bound(model, energy, log_z, samples=4096, components=512, groups=16, chunk=512,
                               generator=torch.Generator().manual_seed(1))
        assert abs(bound.bound - expected) < 3 * bound.stderr + 0.02, (permute, bound.bound, expected)
        # the samples' label-1 share: mean field's lean, or ½ once the mirror image has equal weight
        share = float(model.sample(4000, torch.Generator().manual_seed(2)).double().mean())
        lean = float(log_M[:, 1].exp().mean())
        assert share == pytest.approx(0.5 if permute else lean, abs=0.03)


def test_the_heat_bath_finish_certifies_less_than_mean_field_minus_log_2(torus):
    """One heat-bath sweep after the start: its own bound is below the mirror mixture's exact KL."""
    energy, states, log_z, log_M = torus
    one, mirror = log_M.gather(1, states.T).sum(0), log_M.flip(1).gather(1, states.T).sum(0)
    kl_mix = exact_kl(torch.logaddexp(one, mirror) - math.log(2), energy, states, log_z)
    model = RandomizedFlow.from_recipe("ising-meanfield", energy, seed=0)
    assert model.hparams.finish_round == "hb" and model.hparams.permute_labels
    bound = kl_upper_bound(model, energy, log_z, samples=4096, components=512, groups=16, chunk=512,
                           generator=torch.Generator().manual_seed(1))
    assert bound.bound + 2 * bound.stderr < kl_mix


def test_label_symmetry_is_read_off_the_energy():
    assert label_symmetric(ising_torus_energy(4, 4, 0.4))
    assert label_symmetric(GridPottsEnergy(torch.zeros(2, 3, 3), beta=0.7))
    assert label_symmetric(GridPottsEnergy(torch.full((2, 3, 3), 0.5), beta=0.7))  # a constant per node is no field
    field = torch.zeros(2, 3, 3)
    field[1, 2, 0] = 0.1
    assert not label_symmetric(GridPottsEnergy(field, beta=0.7))
    table = torch.tensor([[[0.0, 1.0], [2.0, 0.0]]])  # pays 1 for (0, 1) and 2 for (1, 0): a swap changes it
    assert not label_symmetric(PairwiseEnergy(torch.zeros(2, 2), torch.tensor([[0, 1]]), table))
    # the recipe permutes only where the energy allows it; asked for explicitly on a field, a one-line error
    assert not RandomizedFlow.from_recipe("ising-meanfield", GridPottsEnergy(field, beta=0.7)).hparams.permute_labels
    with pytest.raises(ValueError, match="^permute_labels needs an energy that every relabelling leaves unchanged"):
        RandomizedFlow.from_recipe("ising-meanfield", GridPottsEnergy(field, beta=0.7), permute_labels=True)


def test_a_frozen_omega_keeps_its_draw_while_the_start_trains():
    energy = ising_torus_energy(4, 4, BETA, dtype=torch.float32)
    L.seed_everything(0)
    model = RandomizedFlow.from_recipe("ising-meanfield", energy, seed=0, samples_per_step=16)
    omega = {k: v.clone() for k, v in model.omega.state_dict().items()}
    logits = model.start.logits.detach().clone()
    quiet_trainer(5).fit(model, GivenEnergy(energy))
    for key, value in model.omega.state_dict().items():
        assert torch.equal(value, omega[key]), key  # the same tensors, untouched: no gradient, no optimizer group
    assert not torch.allclose(model.start.logits.detach(), logits)
    assert np.isfinite(float(model.free_energy_terms(16)["free_energy"]))
