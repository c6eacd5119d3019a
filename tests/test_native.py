"""The compiled kernels (models/kernels/native): where they run, how they fall back, and that a seed fixes their result.

Their laws are tested with the torch code's, against brute force and exact draws: tests/test_finish.py runs each
kernel test twice (the ``implementation`` fixture), tests/test_convergence.py checks exact samples after their sweeps.
"""

from __future__ import annotations

import pytest
import torch

from conftest import gen
from energies.grid_potts import GridPottsEnergy
from models.finish.schedule import Finish
from models.kernels import native


@pytest.fixture
def energy():
    g = gen(1)
    return GridPottsEnergy(torch.randn(7, 9, 3, generator=g), weights_h=torch.rand(7, 8, generator=g) * 2,
                           weights_v=torch.rand(6, 9, generator=g) * 2)


def test_the_compiled_kernels_run_on_cpu_labelings_unless_switched_off(monkeypatch, implementation):
    x = torch.zeros(2, 7, 9, dtype=torch.long)
    assert native.runs_on(x) == (implementation == "compiled")
    monkeypatch.setenv("RAF_NATIVE", "0")
    assert not native.runs_on(x)


@pytest.mark.parametrize("schedule", ["sw", "line", "hb"])
def test_a_seed_fixes_the_result_whatever_the_threads(energy, schedule, implementation):
    """One random stream per chain: the same computation with 1 and with 2 threads gives the same labelings."""
    if implementation == "torch":
        pytest.skip("the torch code's streams are its own")
    x = torch.randint(0, 3, (16, energy.n), generator=gen(2))
    finish = Finish(energy, schedule)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = finish(x, gen(3))
        torch.set_num_threads(2)
        two = finish(x, gen(3))
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, two) and not torch.equal(one, x)
    assert not torch.equal(finish(x, gen(4)), one)  # another seed, other labelings


def test_a_failed_build_falls_back_to_torch_with_one_warning(energy, tmp_path, monkeypatch):
    monkeypatch.setenv("RAF_NATIVE", "1")
    monkeypatch.setenv("RAF_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    monkeypatch.setattr(native.library, "loaded", None)
    x = torch.randint(0, 3, (4, energy.n), generator=gen(5))
    with pytest.warns(RuntimeWarning, match="could not be built"):
        y = Finish(energy, "sw,line,hb")(x, gen(6))
    assert y.shape == x.shape and not native.runs_on(x)
    monkeypatch.setattr(native.library, "loaded", None)  # the next test builds again


def test_the_tables_hold_exp_of_the_weights_and_one_where_an_open_grid_has_no_edge(energy):
    eu, wh, wv = native.factor_tables(energy)
    unary = energy.unary.double().reshape(energy.n, 3)
    assert torch.allclose(eu.log(), -(unary - unary.amin(1, keepdim=True)), atol=1e-12)
    assert torch.allclose(wh[:, :8].log(), energy.weights_h.double(), atol=1e-6) and torch.all(wh[:, 8] == 1)
    assert torch.allclose(wv[:6].log(), energy.weights_v.double(), atol=1e-6) and torch.all(wv[6] == 1)
