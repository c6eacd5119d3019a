"""The large-Ising benchmark (benchmarks/ising_large.py) end to end on tiny settings, and its
Swendsen–Wang reference (models/baselines/ising_swendsen_wang.py) against exact figures of the 4×4 torus."""

import itertools
import json
import math
import re

import numpy as np
import pytest

from benchmarks import ising_large
from energies.kaufman import ising_torus_energy, kaufman_energy_per_site, kaufman_log_z
from models.baselines.ising_swendsen_wang import SwendsenWang, ising_observables, mean_and_stderr


@pytest.fixture(scope="module")
def torus4():
    """All 2^16 states of the 4×4 torus with their energy per site and |m|."""
    spins = np.array(list(itertools.product([-1, 1], repeat=16)), dtype=np.int8).reshape(-1, 4, 4)
    return ising_observables(spins)


def exact_means(torus4, beta):
    e, m = torus4
    log_w = -beta * 16 * e
    w = np.exp(log_w - log_w.max())
    w /= w.sum()
    return float((w * e).sum()), float((w * m).sum()), float(np.log(np.exp(log_w - log_w.max()).sum()) + log_w.max())


def test_observables_match_kaufman_by_enumeration(torus4):
    e, m, log_z = exact_means(torus4, 0.4)
    assert e == pytest.approx(kaufman_energy_per_site(4, 4, 0.4), abs=1e-12)
    assert log_z == pytest.approx(kaufman_log_z(4, 4, 0.4), abs=1e-10)


@pytest.mark.parametrize("beta", [0.3, 0.6])
def test_swendsen_wang_reproduces_the_exact_4x4_figures(torus4, beta):
    exact_e, exact_m, _ = exact_means(torus4, beta)
    assert exact_e == pytest.approx(kaufman_energy_per_site(4, 4, beta), abs=1e-12)
    run = SwendsenWang(4, 4, beta, chains=64, seed=1).run(1500, burn_in=50)
    e, de = mean_and_stderr(run["energy"])
    m, dm = mean_and_stderr(run["abs_m"])
    assert abs(e - exact_e) < 4 * de, (e, exact_e, de)
    assert abs(m - exact_m) < 4 * dm, (m, exact_m, dm)
    assert de < 0.01 and dm < 0.01  # the check has teeth


def test_swendsen_wang_clusters_follow_the_active_bonds():
    sw = SwendsenWang(3, 4, 0.5, chains=2, seed=0)
    right = np.zeros((2, 3, 4), bool)
    down = np.zeros((2, 3, 4), bool)
    right[0, 0, 3] = True  # wrap-around: (0,3)–(0,0)
    down[0, 2, 1] = True  # wrap-around: (2,1)–(0,1)
    right[0, 0, 0] = True  # (0,0)–(0,1): joins both into one cluster
    down[1] = True  # chain 1: every column is one cluster
    label = sw.clusters(right, down)
    assert label[0, 0, 3] == label[0, 0, 0] == label[0, 0, 1] == label[0, 2, 1] == 0
    assert len(np.unique(label[0])) == 12 - 3
    assert [len(np.unique(label[1, :, q])) for q in range(4)] == [1, 1, 1, 1]
    assert len(np.unique(label[1])) == 4


def test_energy_conventions_agree():
    """Ising energy per site from spins = Potts energy / (β N) − 2 (energies/kaufman.py)."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, size=(5, 16))
    e, _ = ising_observables((2 * x - 1).reshape(5, 4, 4))
    import torch

    potts = ising_torus_energy(4, 4, 0.7).energy(torch.from_numpy(x)).numpy()
    assert np.allclose(e, potts / (0.7 * 16) - 2)


def test_tiny_benchmark_writes_the_schema(tmp_path):
    out, fig = tmp_path / "ising_large.json", tmp_path / "ising_large.png"
    argv = ["--sizes", "4", "--betas", "0.3", "0.6", "--budget", "2", "--seeds", "1", "--eval-samples", "300",
            "--bound-samples", "64", "--bound-components", "16", "--bound-groups", "4", "--restarts", "10",
            "--meanfield-steps", "40", "--sw-sweeps", "40", "--sw-burn-in", "5", "--sw-chains", "8",
            "--van-channels", "8", "--van-blocks", "1", "--van-batch", "32", "--flow-samples", "32",
            "--potts-grid", "2", "4", "--json", str(out), "--figure", str(fig)]
    assert ising_large.main(argv) == 0
    result = json.loads(out.read_text())
    provenance = result["provenance"]  # written by benchmarks.output.write_json, as every benchmark's JSON
    assert provenance["command"].startswith("python benchmarks/ising_large.py --sizes 4 ")
    assert provenance["commit"] is None or re.fullmatch(r"[0-9a-f]{40}(-dirty)?", provenance["commit"])
    assert provenance["machine"]["threads"] == 1  # the benchmark's --threads while it ran
    assert result["budget_seconds"] == 2.0
    assert len(result["instances"]) == 3
    for inst in result["instances"]:
        assert isinstance(inst["L"], int) and isinstance(inst["beta"], float) and isinstance(inst["log_z"], float)
        assert inst["convention"] in ("ising", "potts")
        assert isinstance(inst["exact_energy_per_site"], float)
        rows = {r["model"]: r for r in inst["rows"]}
        assert set(rows) == {"meanfield", "flow", "flow-alone", "flow+5sw", "van", "reference"}
        for row in inst["rows"]:
            for key in ("kl", "kl_bound", "energy_per_site", "abs_magnetization", "train_seconds"):
                assert key in row, (row["model"], key)
            assert isinstance(row["energy_per_site"], float) and isinstance(row["train_seconds"], float)
            if inst["convention"] == "ising":
                assert 0 <= row["abs_magnetization"] <= 1 and row["susceptibility"] >= 0
            else:
                assert row["abs_magnetization"] is None
        assert rows["reference"]["kl"] is None and rows["flow"]["kl"] is None
        assert isinstance(rows["flow"]["kl_bound"], float) and rows["flow"]["kl_bound"] > -0.1
        assert isinstance(rows["meanfield"]["kl"], float) and rows["meanfield"]["kl"] > -1e-6
        assert isinstance(rows["van"]["kl"], float) and rows["van"]["kl"] > -0.2
        # both sides for every learned row: the Donsker–Varadhan lower bound below the upper figure (KL or bound + 2σ)
        for model in ("meanfield", "flow", "flow-alone", "flow+5sw", "van"):
            row = rows[model]
            assert 0 <= row["kl_lower"] <= row["kl_upper"] + 1e-9, model
            assert len(row["train_seconds_seeds"]) == 1
            assert row["train_seconds"] < 2.0 + 5.0  # the budget (plus one step's overrun)
        assert rows["meanfield"]["kl_upper"] == pytest.approx(rows["meanfield"]["kl"])  # exact, one seed: no σ
        upper = rows["flow"]["kl_bound"] + 2 * rows["flow"]["kl_bound_stderr"]
        assert rows["flow"]["kl_upper"] == pytest.approx(upper)
        # the swept samples carry the flow's bound (data processing), not one of their own
        assert rows["flow+5sw"]["kl_bound"] == rows["flow"]["kl_bound"] and rows["flow+5sw"]["kl_bound_from"] == "flow"
        assert 0 <= rows["flow"]["bound_gap_seeds"][0] <= rows["flow"]["log_components"] + 1e-9
        assert rows["flow"]["log_components"] == pytest.approx(math.log(16))
        goal = inst["target"]
        assert goal["mean_field_minus_log2"] == pytest.approx(rows["meanfield"]["kl"] - math.log(2))
        assert goal["met"] == (rows["flow"]["kl_upper"] <= goal["mean_field_minus_log2"])
    ising = result["instances"][0]
    assert ising["exact_energy_per_site"] == pytest.approx(kaufman_energy_per_site(4, 4, 0.3))
    assert ising["log_z"] == pytest.approx(kaufman_log_z(4, 4, 0.3))
    assert fig.is_file() and fig.stat().st_size > 1000
