"""The sample figures under DDP: two real processes (gloo on the CPU), each with its own samples, give the
figures of the union of their samples, as one process fed the union would and as the plain functions of
energies.sample_stats / metrics.uncertainty do; without syncing, a process sees only its own."""

from __future__ import annotations

import time

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from callbacks.evaluation import Evaluation, evaluate, evaluating, noise, share
from energies import ising_energy
from energies.exact import exact_inference
from energies.sample_stats import miller_madow, plugin_entropy, sample_figures, sample_marginals
from metrics.sample_metrics import SampleFigures
from metrics.uncertainty import label_changes_from_samples

SIZES = (37, 27)  # uneven: the "cat" state is padded and trimmed across processes
EVAL_SAMPLES, SEED = 41, 5


def _energy():
    return ising_energy(2, 3)


def _union() -> torch.Tensor:
    """All samples, the same on every process; process r owns rows [Σ SIZES[:r], Σ SIZES[:r+1])."""
    return torch.randint(0, 2, (sum(SIZES), 6), generator=torch.Generator().manual_seed(0))


def _model():
    from models.flow.randomized_flow import RandomizedFlow

    torch.manual_seed(0)  # the same parameters on every process
    return RandomizedFlow(6, 2, grid=(2, 3), seed=0).attach_energy(_energy())


def _worker(rank: int, world: int, init_file: str, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        energy = _energy()
        exact = exact_inference(energy)
        lo = sum(SIZES[:rank])
        mine = _union()[lo : lo + SIZES[rank]]
        results = {}
        for name, kwargs in (("synced", {}), ("local", {"sync_on_compute": False})):
            metric = SampleFigures(energy.c, exact, **kwargs)
            metric.update(mine, energy.energy(mine))
            results[name] = metric.compute()
        # a process with no samples at all still takes part
        empty = SampleFigures(energy.c, exact)
        first = _union()[:5] if rank == 0 else torch.zeros(0, 6, dtype=torch.long)
        empty.update(first, energy.energy(first))
        results["one_empty"] = empty.compute()
        # the evaluation helper: each process draws its share with its own noise; exact only on rank zero
        results["evaluation"] = evaluate(_model(), EVAL_SAMPLES, SEED, exact if rank == 0 else None)
        torch.save(results, f"{out}/rank{rank}.pt")
        dist.barrier()  # a rank that exits while the other still tears gloo down can abort it (models/energy_model.py)
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def ranks(tmp_path_factory) -> list[dict]:
    tmp = tmp_path_factory.mktemp("ddp")
    ctx = mp.start_processes(_worker, args=(2, str(tmp / "init"), str(tmp)), nprocs=2, join=False, start_method="spawn")
    deadline = time.time() + 180
    while not ctx.join(timeout=1):
        if time.time() > deadline:
            for p in ctx.processes:
                p.kill()
            pytest.fail("the two processes hung (killed after 180 s)")
    return [torch.load(tmp / f"rank{r}.pt", weights_only=False) for r in range(2)]


FLOATS = ("energy", "entropy", "entropy_plugin", "free_energy", "label_changes", "kl", "marginal_diff")


def _assert_same(got: dict, want: dict, keys=FLOATS) -> None:
    for key in keys:
        assert got[key] == pytest.approx(want[key], rel=1e-9, abs=1e-9), key
    assert got["support"] == want["support"] and got["samples"] == want["samples"]


def test_two_processes_give_the_figures_of_one_process_fed_the_union(ranks):
    energy, union = _energy(), _union()
    exact = exact_inference(energy)
    one = SampleFigures(energy.c, exact)
    one.update(union, energy.energy(union))
    one = one.compute()
    for rank in ranks:  # every process gets the figures of all samples
        _assert_same(rank["synced"], one)
        assert torch.equal(rank["synced"]["labelings"], union)
        torch.testing.assert_close(rank["synced"]["marginals"], one["marginals"], rtol=0, atol=1e-12)
    # and the plain functions on the concatenated samples
    plain = sample_figures(union, energy, exact)
    _assert_same(one, plain, ("energy", "entropy", "entropy_plugin", "kl", "marginal_diff"))
    plugin, support = plugin_entropy(union, 2)
    assert one["support"] == support and one["entropy"] == pytest.approx(miller_madow(plugin, support, len(union)), abs=1e-12)
    assert one["label_changes"] == pytest.approx(label_changes_from_samples(union, 2), abs=1e-12)
    assert one["energy"] == pytest.approx(float(energy.energy(union).double().mean()), rel=1e-9)


def test_without_syncing_a_process_sees_only_its_own_samples(ranks):
    energy, union = _energy(), _union()
    exact = exact_inference(energy)
    for r, rank in enumerate(ranks):
        lo = sum(SIZES[:r])
        own = union[lo : lo + SIZES[r]]
        _assert_same(rank["local"], sample_figures(own, energy, exact), ("energy", "entropy", "kl", "marginal_diff"))
        assert rank["local"]["samples"] == SIZES[r] != rank["synced"]["samples"]
        assert rank["local"]["entropy"] != pytest.approx(rank["synced"]["entropy"], abs=1e-6)


def test_a_process_without_samples_takes_part(ranks):
    energy, first = _energy(), _union()[:5]
    want = sample_figures(first, energy, exact_inference(energy))
    for rank in ranks:
        _assert_same(rank["one_empty"], want, ("energy", "entropy", "kl", "marginal_diff"))


def test_the_evaluation_helper_draws_distinct_shares_and_scores_them_all(ranks):
    """The helper's samples are the two processes' shares (each from its own noise), its figures theirs."""
    energy, exact = _energy(), exact_inference(_energy())
    model = _model()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the workers: the same flow computation, so the same labels (compared exactly)
    try:
        with evaluating(model):
            shares = [model.sample(share(EVAL_SAMPLES, 2, r), generator=noise(SEED, "samples", "cpu", r)) for r in range(2)]
            soft = [model.soft_samples(share(EVAL_SAMPLES, 2, r), generator=noise(SEED, "integrality", "cpu", r)) for r in range(2)]
    finally:
        torch.set_num_threads(threads)
    union = torch.cat(shares)
    assert [len(s) for s in shares] == [21, 20] and not torch.equal(shares[0][:20], shares[1])
    ev0, ev1 = (rank["evaluation"] for rank in ranks)
    assert isinstance(ev0, Evaluation) and torch.equal(ev0.samples, union) and torch.equal(ev1.samples, union)
    want = sample_figures(union, energy, exact)
    for key in ("energy", "entropy", "kl", "marginal_diff"):
        assert ev0.figures[key] == pytest.approx(want[key], rel=1e-9, abs=1e-9), key
    assert ev0.figures["support"] == want["support"] and "kl" not in ev1.figures  # exact given on rank zero only
    assert ev0.figures["label_changes"] == pytest.approx(label_changes_from_samples(union, 2), abs=1e-12)
    torch.testing.assert_close(ev0.marginals, sample_marginals(union, 2))
    integrality = float(torch.cat(soft).max(-1).values.double().mean())
    assert ev0.figures["integrality"] == pytest.approx(integrality, abs=1e-6) == ev1.figures["integrality"]
    # one process draws all the samples with rank zero's noise
    alone = evaluate(model, EVAL_SAMPLES, SEED)
    with evaluating(model):
        assert torch.equal(alone.samples, model.sample(EVAL_SAMPLES, generator=noise(SEED, "samples", "cpu")))
