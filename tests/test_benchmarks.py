"""The benchmarks run end to end on tiny settings and write the JSON the README is filled from."""

import json

import pytest

from benchmarks import perf, table1


def test_table1_writes_its_rows_and_figures(tmp_path):
    out = tmp_path / "t1.json"
    argv = ["--samples", "2000", "--seeds", "2", "--flow-steps", "3", "--restarts", "4", "--meanfield-steps", "5",
            "--json", str(out), "--figures", str(tmp_path / "fig")]
    assert table1.main(argv) == 0
    result = json.loads(out.read_text())
    assert result["log_z"] == pytest.approx(5.1362, abs=1e-4)
    rows = {r["model"]: r for r in result["rows"]}
    for model in ("meanfield", "flow"):
        for key in ("kl", "energy", "entropy", "marginal_diff", "train_seconds", "samples"):
            assert key in rows[model], (model, key)
        assert rows[model]["kl"] >= -0.05  # a KL estimate: never far below 0
    assert len(rows["flow"]["seeds"]) == 2
    assert (tmp_path / "fig" / "fig2_samples.png").is_file() and (tmp_path / "fig" / "fig3_marginals.png").is_file()


def test_perf_quick_writes_the_speed_figures(tmp_path):
    out = tmp_path / "perf.json"
    assert perf.main(["--quick", "--sizes", "16", "--sample-batch", "4", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    for key in ("exact_seconds_2p24", "samples_per_second_16", "seconds_per_step_16", "machine"):
        assert key in result
    assert result["samples_per_second_16"] > 0
