"""The convergence check (models/finish/convergence.py) and the automatic finish (models/finish/adaptive.py).

Exact samples come from the transfer matrix, an independent sampler: on them the check must stay quiet (at its
nominal rate); samples of a wrong β, with no sweeps, or a chain stopped early must raise it."""

from __future__ import annotations

import pytest
import torch

from benchmarks.exact_suite_images import generate_suite
from conftest import gen
from energies.grid_potts import GridPottsEnergy
from energies.transfer_matrix import transfer_matrix_sample
from models.finish.adaptive import AdaptiveFinish, FinishReport
from models.finish.convergence import ALPHA, LEAST_SAMPLES, check_with, drift_check, uncertain_regions
from models.finish.schedule import Finish


@pytest.fixture(scope="module")
def instances():
    return generate_suite(6)


def one_round(energy):
    return Finish(energy, "sw,line,hb")


def with_beta(energy: GridPottsEnergy, factor: float) -> GridPottsEnergy:
    return GridPottsEnergy(energy.unary, beta=energy.beta * factor, weights_h=energy.weights_h * factor,
                           weights_v=energy.weights_v * factor)


@pytest.mark.parametrize("index", range(6))
def test_exact_samples_pass(instances, index):
    energy = instances[index].energy
    x = transfer_matrix_sample(energy, 512, gen(index))
    _, check = check_with(one_round(energy), energy, x, 2, gen(100 + index))
    assert check.converged, check.line()


def test_false_alarms_on_exact_samples_stay_near_alpha(instances):
    """60 checks of 64 exact samples of one instance: alarms are Binomial(60, ≤ α); 4 or more has probability < 0.3 %
    at α = 0.01."""
    energy = instances[1].energy
    kernel = one_round(energy)
    alarms = 0
    for k in range(60):
        _, check = check_with(kernel, energy, transfer_matrix_sample(energy, 64, gen(k)), 2, gen(1000 + k))
        alarms += not check.converged
    assert ALPHA <= 0.01 and alarms <= 3


@pytest.mark.parametrize("index", range(3))
def test_a_wrong_beta_is_flagged(instances, index):
    """Exact samples of the same image at 0.6 β: the right kernel moves them back towards P*."""
    energy = instances[index].energy
    x = transfer_matrix_sample(with_beta(energy, 0.6), 512, gen(index))
    _, check = check_with(one_round(energy), energy, x, 2, gen(7))
    assert not check.converged, check.line()


@pytest.mark.parametrize("index", range(3))
def test_no_sweeps_and_one_sweep_from_random_labelings_are_flagged(instances, index):
    energy = instances[index].energy
    random = torch.randint(0, energy.c, (512, energy.n), generator=gen(index))
    for x in (random, Finish(energy, "hb")(random, gen(1))):
        _, check = check_with(one_round(energy), energy, x, 2, gen(2))
        assert not check.converged, check.line()


def test_too_few_samples_give_no_verdict(instances):
    energy = instances[0].energy
    x = transfer_matrix_sample(energy, LEAST_SAMPLES - 1, gen())
    assert drift_check(energy, x, x, 3) is None
    with pytest.raises(ValueError, match="before and after"):
        drift_check(energy, x, x[:, :-1], 3)


def test_regions_are_the_connected_uncertain_pixels():
    energy = GridPottsEnergy(torch.zeros(3, 4, 2))
    uncertain = torch.tensor([[1, 1, 0, 1], [0, 0, 0, 1], [1, 0, 0, 0]], dtype=torch.bool).view(-1)
    assert uncertain_regions(energy, uncertain).view(3, 4).tolist() == [[0, 0, -1, 1], [-1, -1, -1, 1], [-1, -1, -1, -1]]
    torus = GridPottsEnergy(torch.zeros(3, 4, 2), periodic=True)  # the corner pixel joins the first region across the wrap
    assert uncertain_regions(torus, uncertain).view(3, 4)[2, 0] == 0


def test_the_automatic_finish_doubles_until_the_check_passes(instances):
    energy = instances[2].energy
    random = torch.randint(0, energy.c, (512, energy.n), generator=gen())
    x, report = AdaptiveFinish(one_round(energy), None, cap=64).run(random, gen(1))
    assert report.converged and not report.capped
    assert report.rounds in (4, 8, 16, 32, 64) and report.sweeps == 3 * report.rounds  # two passing windows: 4 at least
    _, again = check_with(one_round(energy), energy, x, 2, gen(3))  # an independent check agrees
    assert again.converged, again.line()


def test_the_automatic_finish_stops_after_two_passing_windows_in_a_row(instances):
    """Exact samples pass every window (at the check's rate): the finish compares 1→2 and 2→4 rounds and stops at 4; a
    finish that stopped at the first pass would return after 2."""
    energy = instances[1].energy
    x = transfer_matrix_sample(energy, 512, gen(7))
    seen = []

    class Counting(Finish):
        def __call__(self, labels, generator=None):
            seen.append(1)
            return super().__call__(labels, generator)

    _, report = AdaptiveFinish(Counting(energy, "sw,line,hb"), None, cap=64).run(x, gen(8))
    assert report.converged and report.rounds == 4 and len(seen) == 4


def test_the_cap_stops_the_finish_and_says_which_option_raises_it(instances):
    energy = instances[2].energy
    random = torch.randint(0, energy.c, (512, energy.n), generator=gen())
    finish = AdaptiveFinish(Finish(energy, "hb"), None, cap=2)  # two heat-bath sweeps cannot bring random labelings to P*
    _, report = finish.run(random, gen(1))
    assert report.capped and report.rounds == 2 and report.converged is False
    assert "cap of 2 rounds" in finish.cap_message() and "finish_cap" in finish.cap_message()


def test_a_fixed_finish_runs_its_rounds_without_a_check(instances):
    energy = instances[0].energy
    x = torch.randint(0, energy.c, (16, energy.n), generator=gen())
    fixed = AdaptiveFinish(one_round(energy), 3)
    out, report = fixed.run(x, gen(5))
    assert report == FinishReport(3, 9, None) and report.converged is None
    expected = x
    g = gen(5)
    for _ in range(3):
        expected = one_round(energy)(expected, g)
    assert torch.equal(out, expected)  # the same computation twice on one machine
    with pytest.raises(ValueError, match="rounds"):
        AdaptiveFinish(one_round(energy), 0)


def test_a_run_reports_its_check(tiny_run, tiny_run_stdout):
    check = tiny_run.summary["convergence"]
    assert check["converged"] in (True, False) and check["sweeps"] > 0 and "finish_rounds" in check
    assert "convergence check" in tiny_run_stdout


def test_a_small_images_finish_decides_on_all_its_samples_and_a_large_ones_on_a_bounded_number():
    """The check's power grows with its chains: on a small image the automatic finish checks every sample it returns,
    not the first 64, and at least DECIDE_CHAINS (drawing more for the decision where a sampling asks for fewer, and
    returning what was asked for); on a large one as many as an evaluation draws (NODE_SAMPLES // n)."""
    from callbacks.evaluation import convergence_figures
    from models.flow.randomized_flow import DECIDE_CHAINS, NODE_SAMPLES, SETTLE_SAMPLES, RandomizedFlow

    energy = GridPottsEnergy(torch.randn(4, 5, 3, generator=gen(3)), beta=1.0)
    model = RandomizedFlow.from_recipe("image-stationary", energy, finish_rounds=0)
    x = model.sample(DECIDE_CHAINS + 300, gen(4))
    assert len(x) == DECIDE_CHAINS + 300 and model.finish_report().check.samples == DECIDE_CHAINS + 300
    model = RandomizedFlow.from_recipe("image-stationary", energy, finish_rounds=0)  # nothing settled yet
    x = model.sample(100, gen(5))
    assert x.shape == (100, energy.n) and model.finish_report().check.samples == DECIDE_CHAINS
    verdict = convergence_figures(model, x, seed=0)  # the decision's check covers the 100 returned: it is the verdict
    assert verdict["by"] == "finish" and verdict["samples"] == DECIDE_CHAINS
    assert model.decide_samples() == NODE_SAMPLES // energy.n and model.settle_samples() == SETTLE_SAMPLES
    large = RandomizedFlow.from_recipe("image-stationary", GridPottsEnergy(torch.zeros(512, 512, 3), beta=1.0), finish_rounds=0)
    assert large.decide_samples() == large.settle_samples() == NODE_SAMPLES // (512 * 512)


def test_the_worst_pixel_is_named_by_its_row_and_column():
    """One uncertain pixel at (2, 3) of a 4 × 5 grid, moved in every chain: the check names it there."""
    unary = torch.full((4, 5, 2), 0.0)
    unary[..., 1] = 30.0  # every pixel certain of label 0 …
    unary[2, 3] = 0.0  # … but this one
    energy = GridPottsEnergy(unary, beta=0.0)
    before = torch.zeros(64, 20, dtype=torch.long)
    after = before.clone()
    after[:, 2 * 5 + 3] = 1
    check = drift_check(energy, before, after, 1)
    assert not check.converged and "(row 2, column 3)" in {g.name: g.statistic for g in check.groups}["pixels"]


def test_the_worst_region_is_named_by_its_first_pixel_and_size():
    """A 2-pixel uncertain region at (1, 1)–(1, 2) of a 3 × 4 grid that turns all label 1 in every chain."""
    unary = torch.zeros(3, 4, 2)
    unary[..., 1] = 30.0
    unary[1, 1:3] = 0.0
    energy = GridPottsEnergy(unary, beta=0.0)
    before = torch.zeros(64, 12, dtype=torch.long)
    after = before.clone()
    after[:, [5, 6]] = 1
    check = drift_check(energy, before, after, 1)
    assert "the 2-pixel region from (row 1, column 1)" in {g.name: g.statistic for g in check.groups}["regions"]


def test_the_bounds_draws_keep_the_periodic_evaluations_cap():
    """Within ``finish_capped(1)`` (the evaluations during training) the bound's draws (``last_draw``) run one round of
    the automatic finish, as the samples do, not a decision of their own."""
    from models.flow.randomized_flow import RandomizedFlow

    energy = GridPottsEnergy(torch.randn(4, 5, 3, generator=gen(6)), beta=1.0)
    model = RandomizedFlow.from_recipe("image-stationary", energy, finish_rounds=0)
    finisher = model.finisher()
    calls = []

    class Counting(Finish):
        def __call__(self, labels, generator=None):
            calls.append(1)
            return super().__call__(labels, generator)

    finisher.round = Counting(energy, finisher.round.schedule())
    with model.finish_capped(1):
        model.last_draw(32, gen(7))
    assert len(calls) == 1
    calls.clear()
    model.last_draw(32, gen(7))  # uncapped: the automatic finish runs its windows (at least 4 rounds)
    assert len(calls) >= 4


def test_a_capped_evaluation_draws_no_chains_for_a_decision():
    """One capped round runs no check, so a capped sampling draws only the samples asked for; an uncapped one draws
    DECIDE_CHAINS for its decision."""
    from models.flow.randomized_flow import DECIDE_CHAINS, RandomizedFlow

    energy = GridPottsEnergy(torch.randn(4, 5, 3, generator=gen(8)), beta=1.0)
    model = RandomizedFlow.from_recipe("image-stationary", energy, finish_rounds=0)
    drawn, flow = [], model.log_soft_samples
    model.log_soft_samples = lambda m, generator=None: drawn.append(m) or flow(m, generator)
    with model.finish_capped(1):
        assert len(model.sample(100, gen(9))) == 100
    assert sum(drawn) == 100
    drawn.clear()
    assert len(model.sample(100, gen(9))) == 100
    assert sum(drawn) == DECIDE_CHAINS
