"""Every benchmark runs end to end on tiny settings and writes the JSON the README is filled from, with its
provenance (commit, command, date, machine). Tiny settings prove that the code runs and the schema holds,
not the figures."""

import datetime
import importlib
import json
import logging
import re
import subprocess
import sys

import pytest
import torch

from benchmarks import output  # each test imports its benchmark: one that breaks fails alone
from conftest import REPO

COMMIT = re.compile(r"[0-9a-f]{40}(-dirty)?")


def check_provenance(result: dict, script: str) -> None:
    prov = result["provenance"]
    assert prov["commit"] is None or COMMIT.fullmatch(prov["commit"]), prov["commit"]
    assert prov["command"].startswith(f"python benchmarks/{script}.py"), prov["command"]
    assert datetime.datetime.fromisoformat(prov["date"]).utcoffset() == datetime.timedelta(0)
    assert set(prov["machine"]) == {"platform", "cpus", "torch", "threads", "load_average_1min", "freed_memory_kept"}
    assert prov["machine"]["torch"] == torch.__version__


def test_write_json_adds_the_provenance(tmp_path):
    out = tmp_path / "sub" / "r.json"
    output.write_json(out, {"x": 1, "provenance": "stale"}, output.command_line(REPO / "benchmarks" / "table1.py", ["--json", "a b"]))
    result = json.loads(out.read_text())
    assert result["x"] == 1
    check_provenance(result, "table1")
    assert result["provenance"]["command"] == "python benchmarks/table1.py --json 'a b'"  # as a user retypes it


def test_commit_is_null_without_git_and_dirty_with_changed_code(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))  # even where the temporary folder lies in a clone
    assert output.git_commit(tmp_path) is None  # not a repository
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    try:
        subprocess.run([*git, "init", "-q"], check=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("no git")
    (tmp_path / "f").write_text("1")
    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    (tmp_path / "benchmarks" / "results" / "r.json").write_text("{}")
    subprocess.run([*git, "add", "f", "benchmarks"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "m"], check=True)
    (tmp_path / "untracked").write_text("ignored: not a tracked file")
    clean = output.git_commit(tmp_path)
    assert re.fullmatch(r"[0-9a-f]{40}", clean)
    (tmp_path / "benchmarks" / "results" / "r.json").write_text('{"new": 1}')
    assert output.git_commit(tmp_path) == clean  # a regenerated result is not a change of the code
    (tmp_path / "f").write_text("2")
    assert output.git_commit(tmp_path) == f"{clean}-dirty"


def test_table1_writes_its_rows_and_figures(tmp_path):
    from benchmarks import table1

    out = tmp_path / "t1.json"
    argv = ["--samples", "2000", "--seeds", "2", "--flow-steps", "3", "--restarts", "4", "--meanfield-steps", "5",
            "--json", str(out), "--pictures", str(tmp_path / "fig")]
    assert table1.main(argv) == 0
    result = json.loads(out.read_text())
    check_provenance(result, "table1")
    assert result["log_z"] == pytest.approx(5.1362, abs=1e-4)
    rows = {r["model"]: r for r in result["rows"]}
    for model in ("meanfield", "flow"):
        for key in ("kl", "energy", "entropy", "marginal_diff", "train_seconds", "samples"):
            assert key in rows[model], (model, key)
        assert rows[model]["kl"] >= -0.05  # a KL estimate: never far below 0
    assert len(rows["flow"]["seeds"]) == 2
    assert (tmp_path / "fig" / "fig2_samples.png").is_file() and (tmp_path / "fig" / "fig3_marginals.png").is_file()


def test_perf_writes_the_speed_figures_and_the_ess_comparison(tmp_path):
    from benchmarks import perf

    out = tmp_path / "perf.json"
    argv = ["--sizes", "8", "--sample-batch", "4", "--kl-every", "1", "--kl-max-steps", "2", "--kl-samples", "1000",
            "--flow-steps", "2", "--flow-samples", "64", "--gibbs-chains", "4", "--gibbs-burn-in", "2", "--gibbs-sweeps", "8",
            "--json", str(out)]
    assert perf.main(argv) == 0
    result = json.loads(out.read_text())
    check_provenance(result, "perf")
    for key in ("exact_seconds_2p24", "samples_per_second_8", "samples_per_second_flow_alone_8", "seconds_per_step_8", "machine", "seconds_to_kl_0599",
                "kl_history", "mode_ess_ratio_af_over_gibbs", "mode_ess"):
        assert key in result
    assert result["samples_per_second_8"] > 0
    assert result["mode_ess"]["flow_samples"] == 64 and result["mode_ess"]["gibbs_chains"] == 4
    if result["peak_ops_per_ns"] is not None:  # /proc/cpuinfo gave the clock: no kernel runs faster than its bound
        assert set(result["kernel_bound_ns"]) == set(result["kernel_ns_8"])
        for name, bound in result["kernel_bound_ns"].items():
            assert 0 < bound < result["kernel_ns_8"][name], name


def test_flow_search_runs_as_the_documented_command(tmp_path):
    """A real subprocess: the command form of the docs works from a clone."""
    out = tmp_path / "fs.json"
    proc = subprocess.run([sys.executable, "benchmarks/flow_search.py", '{"steps": 2, "samples_per_step": 16}', "500", "--json", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    printed = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("{")))
    result = json.loads(out.read_text())
    check_provenance(result, "flow_search")
    assert result["provenance"]["command"] == f"""python benchmarks/flow_search.py '{{"steps": 2, "samples_per_step": 16}}' 500 --json {out}"""
    assert result["provenance"]["machine"]["threads"] == 1  # the thread it ran with
    for key in ("cfg", "steps", "seed", "kl", "marg", "E", "H", "support", "integrality", "train_s", "evals"):
        assert result[key] == printed[key], key
    assert result["cfg"] == {"samples_per_step": 16} and result["steps"] == 2 and result["evals"] == 500


def test_fig1_writes_default_reference_and_small_exact_rows(tmp_path):
    from benchmarks import fig1

    out = tmp_path / "fig1.json"
    argv = ["--seeds", "1", "--small-seeds", "1", "--max-steps", "2", "--max-size", "8", "--gibbs-chains", "4", "--gibbs-sweeps", "3",
            "--small-grid", "3x4", "--small-samples", "64", "--root", str(tmp_path / "runs"), "--json", str(out),
            "--figure", str(tmp_path / "fig" / "fig1_default.png")]
    assert fig1.main(argv) == 0
    assert (tmp_path / "fig" / "fig1_default.png").stat().st_size > 100
    result = json.loads(out.read_text())
    check_provenance(result, "fig1")
    (default,) = result["default"]
    for key in ("seed", "seconds", "subject_coherence", "cat_share", "pixelwise_coherence", "energy"):
        assert key in default, key
    assert {"chains", "sweeps", "seconds", "subject_coherence", "energy"} <= set(result["gibbs_reference"])
    assert len(result["small_exact"]) == 4
    for rows in result["small_exact"].values():
        assert {"kl", "energy", "entropy", "marginal_diff", "support"} <= set(rows[0])
        assert rows[0]["kl"] > -0.05
    # the small image is scored with the bundled labels, not k-means colours of its own
    assert result["labels"] == "background=#2f4f2f,cat=#8c8c8c,lion=#d2a03c" and result["small_grid"] == [3, 4]
    summaries = list((tmp_path / "runs").glob("small_*/lightning_logs/version_*/summary.json"))
    assert summaries and all(json.loads(p.read_text())["labels"] == ["background", "cat", "lion"] for p in summaries)


def run_benchmark(name: str, tmp_path, *argv: str) -> dict:
    """``python benchmarks/<name>.py *argv --json …`` in process; its JSON, provenance checked."""
    module = importlib.import_module(f"benchmarks.{name}")
    out = tmp_path / f"{name}.json"
    assert module.main([*argv, "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    check_provenance(result, name)
    return result


def test_independence_writes_one_row_per_model(tmp_path):
    result = run_benchmark("independence", tmp_path, "--k", "2", "--samples", "64", "--models", "default", "--max-steps", "2",
                           "--root", str(tmp_path / "runs"))
    assert result["k"] == 2 and result["samples"] == 64
    (row,) = result["rows"]
    assert row["model"] == "default"
    for key in ("tv_to_uniform", "p_value", "chi2", "frequencies", "coherence", "train_seconds"):
        assert key in row, key
    assert len(row["frequencies"]) == 4 and sum(row["frequencies"]) == pytest.approx(1)
    assert len(row["coherence"]) == 2 and 0 <= row["p_value"] <= 1


def test_photos_writes_rows_figures_and_keeps_its_reference(tmp_path):
    from benchmarks import photos

    out = tmp_path / "photos.json"
    argv = ["--photos", "coffee", "--max-size", "12", "--max-steps", "2", "--samples", "64", "--gibbs-chains", "4",
            "--gibbs-burn-in", "2", "--gibbs-sweeps", "4", "--references", str(tmp_path / "refs"),
            "--pictures", str(tmp_path / "fig"), "--root", str(tmp_path / "runs"), "--json", str(out)]
    assert photos.main(argv) == 0
    result = json.loads(out.read_text())
    check_provenance(result, "photos")
    assert result["reference"] == {"chains": 4, "burn_in": 2, "sweeps": 4, "thin": 1,
                                   "runs": [{"seed": 0, "start": "random"}, {"seed": 1, "start": "data"}]}
    (row,) = result["rows"]
    for key in ("photo", "grid", "randomness", "tv_all", "tv_uncertain", "uncertain_pixels", "entropy_sum_flow",
                "entropy_sum_reference", "references_tv_all", "references_tv_uncertain", "train_seconds", "reference_sha256"):
        assert key in row, key
    assert max(row["grid"]) == 12 and row["references_tv_all"] > 0  # 4 chains of 4 sweeps: two references that differ
    assert (tmp_path / "fig" / "uncertainty_coffee_local.png").is_file()
    assert sorted(p.name for p in (tmp_path / "refs").iterdir()) == sorted(f"gibbs-{key[:24]}.pt" for key in row["reference_sha256"])


def test_photos_reuse_samples_each_photo_with_the_other_photos_model(tmp_path):
    from benchmarks import photos

    out = tmp_path / "photos.json"
    argv = ["--photos", "coffee", "chelsea", "--max-size", "10", "--max-steps", "2", "--samples", "64", "--gibbs-chains", "4",
            "--gibbs-burn-in", "2", "--gibbs-sweeps", "2", "--references", str(tmp_path / "refs"), "--reuse", "--randomness", "local", "stationary",
            "--pictures", str(tmp_path / "fig"), "--root", str(tmp_path / "runs"), "--json", str(out)]
    assert photos.main(argv) == 0
    rows = json.loads(out.read_text())["rows"]
    reused = [row for row in rows if "trained_on" in row]
    assert {row["randomness"] for row in reused} == {"stationary"}
    assert sorted((row["photo"], row["trained_on"]) for row in reused) == [("chelsea", "coffee"), ("coffee", "chelsea")]
    for row in reused:
        trained = next(r for r in rows if r["photo"] == row["photo"] and r["randomness"] == "stationary" and "trained_on" not in r)
        assert row["grid"] == trained["grid"] and row["tv_minus_trained"] == pytest.approx(row["tv_all"] - trained["tv_all"])


def test_full_size_reports_time_and_peak_memory(tmp_path):
    from benchmarks import full_size

    out = tmp_path / "full_size.json"
    assert full_size.main(["--sizes", "20", "--photos", "chelsea", "--max-steps", "2", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    check_provenance(result, "full_size")
    (row,) = result["rows"]
    assert row["size"] == 20 and row["steps"] == 2 and 0 < row["peak_rss_gb"] < 24 and row["rest_seconds"] > 0


def test_time_to_accuracy_races_every_sampler_on_every_instance(tmp_path):
    from benchmarks import time_to_accuracy

    out = tmp_path / "tta.json"
    assert time_to_accuracy.main(["--samples", "32", "--max-sweeps", "3", "--max-steps", "2", "--repeats", "2", "--photos",
                                  "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    check_provenance(result, "time_to_accuracy")
    assert result["repeats"] == 2
    assert {(r["instance"], r["sampler"]) for r in result["rows"]} == {
        (i, s) for i in ("lean", "soft", "lean-wide") for s in ("sw", "line", "hb", "flow", "flow reused")}
    for row in result["rows"]:
        assert set(row["reached"]) == {"tv_all", "odds_error"} and row["final"]["sweeps"] <= 3
        assert row["subjects"] == (8 if row["instance"] == "lean-wide" else 4)
        assert len(row["repeats"]) == 2
        for key, best in row["reached"].items():  # the fastest of the runs that reached it
            times = [r[key]["seconds"] for r in row["repeats"] if r[key] is not None]
            assert (best is None) == (not times) and (best is None or best["seconds"] == min(times))


def test_time_to_accuracy_refuses_no_repeats_in_one_line(capsys):
    from benchmarks import time_to_accuracy

    with pytest.raises(SystemExit) as stop:
        time_to_accuracy.main(["--repeats", "0"])
    assert stop.value.code == 2 and "--repeats and --samples must be ≥ 1" in capsys.readouterr().err


def test_time_to_accuracy_takes_each_target_at_its_fastest_run():
    from benchmarks.time_to_accuracy import best_of

    runs = [{"reached": {"tv_all": {"seconds": 2.0, "sweeps": 4}, "odds_error": None}, "final": {"sweeps": 4}},
            {"reached": {"tv_all": {"seconds": 1.5, "sweeps": 5}, "odds_error": {"seconds": 3.0, "sweeps": 9}}, "final": {"sweeps": 9}},
            {"reached": {"tv_all": None, "odds_error": {"seconds": 2.5, "sweeps": 8}}, "final": {"sweeps": 200}}]
    best = best_of(runs)
    assert best["reached"] == {"tv_all": {"seconds": 1.5, "sweeps": 5}, "odds_error": {"seconds": 2.5, "sweeps": 8}}
    assert best["final"] == {"sweeps": 4} and len(best["repeats"]) == 3
    assert best_of(runs[:1])["reached"]["odds_error"] is None


def test_stationary_compares_both_starts(tmp_path):
    from benchmarks import stationary

    out = tmp_path / "stationary.json"
    assert stationary.main(["--seeds", "1", "--images", "lean", "--samples", "64", "--max-steps", "2", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [r["stationary"] for r in rows] == [True, False]
    assert all(set(r["finished"]) == {"odds_error", "tv_all", "tv_uncertain"} for r in rows)


def test_photos_reference_is_keyed_by_the_energy_not_the_name(tmp_path, monkeypatch):
    from benchmarks import photos
    from energies import GridPottsEnergy

    computed = []

    def fake_gibbs(energy, **settings):
        computed.append(energy)
        return torch.full((energy.n, energy.c), float(len(computed)))

    monkeypatch.setattr(photos, "gibbs_marginals", fake_gibbs)
    unary = torch.rand(3, 4, 2, generator=torch.Generator().manual_seed(0))
    settings = {"chains": 4, "burn_in": 1, "sweeps": 2, "thin": 1, "seed": 0}
    first, key = photos.reference_marginals(GridPottsEnergy(unary, beta=1.0), tmp_path, **settings)
    again, key_again = photos.reference_marginals(GridPottsEnergy(unary.clone(), beta=1.0), tmp_path, **settings)
    assert len(computed) == 1 and key_again == key and torch.equal(again, first)  # the same energy: read back
    other_beta, key_beta = photos.reference_marginals(GridPottsEnergy(unary, beta=1.5), tmp_path, **settings)
    other_unary, key_unary = photos.reference_marginals(GridPottsEnergy(unary + 0.1, beta=1.0), tmp_path, **settings)
    longer, key_longer = photos.reference_marginals(GridPottsEnergy(unary, beta=1.0), tmp_path, **{**settings, "sweeps": 3})
    assert len(computed) == 4 and len({key, key_beta, key_unary, key_longer}) == 4
    assert len(list(tmp_path.glob("gibbs-*.pt"))) == 4


def test_exact_images_writes_rows_against_the_transfer_matrix(tmp_path):
    from benchmarks import exact_images

    out = tmp_path / "exact_images.json"
    threads, level = torch.get_num_threads(), logging.getLogger("lightning.pytorch").level
    assert exact_images.main(["--quick", "--samples", "64", "--threads", "2", "--json", str(out)]) == 0
    # it quiets Lightning and sets its threads for itself only: later runs in this process still show their lines
    assert (torch.get_num_threads(), logging.getLogger("lightning.pytorch").level) == (threads, level)
    result = json.loads(out.read_text())
    check_provenance(result, "exact_images")
    assert set(result["images"]) == set(exact_images.IMAGES)
    for image in result["images"].values():
        starts = {row["start"] for row in image["rows"]}
        assert {"flow", "meanfield", "random"} <= starts
        for row in image["rows"]:
            for key in ("sw", "hb", "odds_error", "tv_all", "tv_uncertain", "entropy_sum", "seconds_per_sample", "meets_targets"):
                assert key in row, key
    assert "fewest" in result["fewest_sweeps"]


def test_bounds_writes_the_three_instances(tmp_path):
    from benchmarks import bounds

    result = run_benchmark("bounds", tmp_path, "--max-steps", "2", "--every", "1", "--kl-samples", "4096", "--photo-size", "8",
                           "--references", str(tmp_path / "ref"))
    assert [r["sampler"] for r in result["tiny"]] == list(bounds.TINY_SAMPLERS)
    for instance, kind in (("strip", "kl_upper"), ("photo", "free_energy_upper")):
        rows = result[instance]["rows"]
        assert [r["model"] for r in rows] == list(bounds.MODELS)
        assert all(kind in logged for r in rows for logged in r["logged"])
        assert sorted(result[instance]["order_by_tv"]) == sorted(bounds.MODELS)


def test_exact_suite_writes_every_row_with_its_check(tmp_path):
    from benchmarks import exact_suite

    out = tmp_path / "exact_suite.json"
    assert exact_suite.main(["--quick", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    check_provenance(result, "exact_suite")
    assert len(result["instances"]) == 3
    rows = {"exact", "flow", "flow+1", "flow+auto", "meanfield+auto", "random+auto", "random+same"}
    for instance in result["instances"]:
        assert set(instance["rows"]) == rows
        for row in instance["rows"].values():
            for key in ("subject_error", "tv_all", "tv_uncertain", "entropy_sum", "sweeps", "seconds_per_sample", "check", "meets_targets"):
                assert key in row, key
    summary = result["summary"]
    assert set(summary["share_meeting_targets"]) == rows and 0 <= summary["exact_false_alarm_rate"] <= 1


def test_photo_suite_writes_the_flow_the_control_and_random_starts(tmp_path):
    from benchmarks import photo_suite

    out = tmp_path / "photo_suite.json"
    assert photo_suite.main(["--quick", "--references", str(tmp_path / "refs"), "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    check_provenance(result, "photo_suite")
    (row,) = result["rows"]
    assert {"flow", "control", "random+auto"} <= set(row) and row["control"]["converged"] is False
    assert list((tmp_path / "refs").glob("chains-*.pt"))  # the references are kept


@pytest.mark.slow
def test_gpu_check_runs_every_step_and_writes_its_json(tmp_path):
    # on the CPU and shrunk (GPU_CHECK_QUICK): the script's steps and its JSON, not the GPU's figures
    import os

    out = tmp_path / "gpu.json"
    env = {**os.environ, "GPU_CHECK_QUICK": "1", "GPU_CHECK_JSON": str(out), "PYTHON": sys.executable}
    done = subprocess.run(["bash", "benchmarks/gpu_check.sh", "cpu"], cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["provenance"]["command"] == "GPU_CHECK_QUICK=1 bash benchmarks/gpu_check.sh cpu"
    assert result["device"] == "cpu" and result["quick"] and result["full_size"] == 32
    for key in ("default_run_seconds", "full_size_seconds", "perf_seconds", "sample_line_chelsea_seconds", "finished_samples_per_second"):
        assert result[key] > 0, key


def test_sharing_times_runs_alone_and_together(tmp_path):
    from benchmarks import sharing

    out = tmp_path / "sharing.json"
    assert sharing.main(["--runs", "2", "--policies", "default", "--max-steps", "1", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    check_provenance(result, "sharing")
    (row,) = result["rows"]
    assert row["policy"] == "default" and len(row["together_seconds"]) == 2 and row["alone_seconds"] > 0
    assert row["worst_ratio"] == pytest.approx(max(row["together_seconds"]) / row["alone_seconds"])
