"""The command line end to end on tiny inputs: a run's files, resume, input modes, bad input → exit 2."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

import train
from conftest import tiny_config, write_tiny_image
from models.flow.recipes import RECIPES


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "Traceback" not in err[0] and err[0].startswith("train.py: error:")
    return err[0]


def test_help_is_grouped_with_defaults(capsys):
    assert train.main(["--help"]) == 0
    out = capsys.readouterr().out
    for text in ("data (an image, your own --unary array, or --ising)", "model:", "training:", "--max-size", "(default: 512)",
                 "--resume PATH|last"):
        assert text in out


def test_nothing_happens_at_import():
    import importlib

    importlib.reload(train)  # no parsing, seeding or training at import time


def test_a_run_leaves_its_files(tiny_run):
    run = tiny_run.folder
    assert tiny_run.exit_code == 0 and (run.parent.name, run.name) == ("lightning_logs", "version_0")
    for name in ("summary.json", "samples.npy", "marginals.npy", "joint_samples.png", "pixelwise_samples.png", "marginals.png",
                 "uncertainty.png", "legend.png", "entropy.npy", "map.png"):
        assert (run / name).is_file(), name
    assert list(run.glob("events.out.tfevents.*"))
    assert np.load(run / "samples.npy").shape == (64, 4, 5)
    assert np.load(run / "marginals.npy").shape == (4, 5, 3)
    assert np.load(run / "entropy.npy").shape == (4, 5) and np.load(run / "entropy.npy").dtype == np.float32
    summary = json.loads((run / "summary.json").read_text())
    assert tiny_run.summary == summary  # the result holds what summary.json holds
    assert summary["steps"] == 3 and summary["labels"] == ["background", "cat", "lion"] and summary["image_size"] == [4, 5]
    assert summary["args"]["image"] == str(run.parents[2] / "tiny.png")
    assert {"free_energy", "energy", "entropy", "integrality"} <= set(summary["final"])
    ckpts = run / "checkpoints"
    assert torch.load(ckpts / "last.ckpt", weights_only=False)["global_step"] == 3
    # a checkpoint every step (checkpoint_every=1), and no last-v1.ckpt beside last.ckpt
    assert {p.name for p in ckpts.iterdir()} == {"step000001.ckpt", "step000002.ckpt", "step000003.ckpt", "last.ckpt"}


@pytest.mark.filterwarnings("ignore:The dirpath has changed")  # Lightning: the copy's checkpoints lie elsewhere
def test_a_resume_continues_its_own_folder_and_a_new_run_gets_the_next(tmp_path, capsys, argv, tiny_run):
    import run

    shutil.copytree(tiny_run.folder.parents[1], tmp_path / "runs")  # the shared run stays as it is
    folder = tmp_path / "runs" / "lightning_logs" / "version_0"
    ckpts = folder / "checkpoints"
    before = {p.name: p.stat().st_mtime_ns for p in ckpts.glob("step*.ckpt")}
    config = tiny_config(tiny_run.summary["args"]["image"], tmp_path / "runs")

    # resume: continues from step 3 in the same run folder, up to the new max_steps
    capsys.readouterr()
    resumed = run.train(dataclasses.replace(config, resume="last", max_steps=5))
    assert resumed.exit_code == 0 and resumed.folder == folder  # the result names the folder it continued
    out = capsys.readouterr().out  # the pre-run block names the checkpoint and the folder it continues
    assert f"  steps       5, continuing from step 3 of {ckpts / 'last.ckpt'}" in out
    assert f"  run folder  {folder} (continued)" in out
    after = {p.name: p.stat().st_mtime_ns for p in ckpts.glob("step*.ckpt")}
    assert set(after) == set(before) | {"step000004.ckpt", "step000005.ckpt"}
    assert all(after[k] == v for k, v in before.items())  # steps 1–3 were not trained again
    assert torch.load(ckpts / "last.ckpt", weights_only=False)["global_step"] == 5
    assert {p.name for p in ckpts.iterdir()} == set(after) | {"last.ckpt"}
    assert resumed.summary["steps"] == 5 == json.loads((folder / "summary.json").read_text())["steps"]
    assert not (folder.parent / "version_1").exists()

    # a new run beside it: the result says which folder (no globbing)
    fresh = run.train(config)
    assert fresh.folder == folder.parent / "version_1" and fresh.summary["steps"] == 3

    # a checkpoint of another image size is refused
    write_tiny_image(tmp_path / "other.png", 5, 5)
    capsys.readouterr()
    assert train.main(argv("--resume", str(ckpts / "last.ckpt"), image=tmp_path / "other.png", steps=9)) == 2
    assert "another model" in _error_line(capsys)


def test_a_one_pixel_image_trains(tmp_path, argv):
    # the file modes (RGBA, greyscale, palette, 16 bit) are load_image's: tests/test_image_data.py; here a grid
    # with no neighbours goes through the whole run
    Image.fromarray(np.full((1, 1, 3), 200, np.uint8), "RGB").save(tmp_path / "one.png")
    assert train.main(argv("--model", "meanfield", "--restarts", "2", image=tmp_path / "one.png", steps=1)) == 0


def test_classes_mode(tmp_path, argv):
    assert train.main(argv("--classes", "2", "--model", "meanfield", "--restarts", "2", labels=None, steps=2)) == 0
    summary = json.loads((tmp_path / "runs" / "lightning_logs" / "version_0" / "summary.json").read_text())
    assert summary["labels"] == ["class0", "class1"] and summary["label_colours"] == ["#000000", "#808080"]


def test_ising_mode_has_exact_metrics(tmp_path):
    # 1024 samples of 2^6 labelings: they repeat, so the plug-in KL is there beside the bounds
    argv = ["--ising", "2x3", "--max-steps", "2", "--samples", "8", "--summary-samples", "1024", "--root-dir", str(tmp_path)]
    assert train.main(argv) == 0
    summary = json.loads((tmp_path / "lightning_logs" / "version_0" / "summary.json").read_text())
    assert summary["n"] == 6 and "fig1" not in summary
    assert {"kl", "entropy", "kl_lower", "kl_upper", "marginal_diff"} <= set(summary["samples"])


@pytest.mark.parametrize("side, period", [(64, 50), (128, 50), (129, 100), (512, 100)])
def test_the_default_evaluation_period_keeps_the_evaluations_share_of_a_run(tmp_path, side, period):
    # an evaluation draws 256 samples, at most 2^23 node-samples; the training step works on a 128² crop: above 128²
    # pixels an evaluation costs up to twice the one at 128² (node-samples counted here by hand), so it comes half as often
    from run.build import build
    from run.config import RunConfig

    node_samples = min(256, max(16, 2**23 // side**2)) * side**2
    assert (node_samples > 256 * 128**2) == (period == 100)
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (side, side, 3), np.uint8), "RGB").save(tmp_path / "p.png")
    built = build(RunConfig(image=tmp_path / "p.png", classes=2, root_dir=tmp_path, quiet=True))
    periods = {type(cb).__name__: cb.every_n_steps for cb in built.trainer.callbacks if hasattr(cb, "every_n_steps")}
    assert periods == {"SampleMetrics": period, "SampleImages": 2 * period} and built.config.log_every == period
    given = build(RunConfig(image=tmp_path / "p.png", classes=2, root_dir=tmp_path, quiet=True, log_every=7))
    assert given.config.log_every == 7


def test_bare_image_name_resolves_in_data(monkeypatch):
    from run.build import REPO, resolve_image

    assert resolve_image("cat_lion.png") == str(REPO / "data" / "cat_lion.png")
    monkeypatch.chdir(REPO / "data")
    assert resolve_image("cat_lion.png") == "cat_lion.png"


# -- the library: run.train(RunConfig(...)), what train.py and the benchmarks call ------------------------
LIBRARY_BAD = [
    (dict(sigma=0), "sigma must be a positive finite number, got 0"),  # an owner's check: its argument's name
    (dict(max_steps=0), "max_steps must be ≥ 1, got 0"),  # the run's own checks: the config's field names
    (dict(ising="3x8", sigma=0.2), "ising trains a synthetic grid: drop sigma"),
    (dict(model="meanfield", omega="dense"), "omega does not apply to model meanfield"),
    (dict(model="flw"), "model must be one of flow, meanfield, van, got 'flw'"),
    (dict(summary_samples=10), "samples must be ≥ 64"),
    (dict(resume="last"), "resume last: no lightning_logs"),
    (dict(unary="probs.npy", contrast=0.1), "contrast needs image: with unary alone there is no image"),
]


@pytest.mark.parametrize("options, match", LIBRARY_BAD, ids=[str(o) for o, _ in LIBRARY_BAD])
def test_a_library_callers_bad_input_is_a_value_error_naming_the_argument(tmp_path, options, match):
    import run
    from run import RunConfig, UsageError

    with pytest.raises(ValueError, match=re.escape(match)) as caught:
        run.train(RunConfig(root_dir=tmp_path / "runs", **options))
    assert isinstance(caught.value, UsageError) and "--" not in str(caught.value)  # a field, never a flag
    assert not (tmp_path / "runs").exists()  # nothing written


# -- bad input: one line on stderr, exit code 2 --------------------------------------------------------
def _bad_files(tmp_path):
    (tmp_path / "dir.png").mkdir()
    (tmp_path / "text.png").write_text("not an image")
    (tmp_path / "empty.png").write_bytes(b"")
    Image.fromarray(np.zeros((64, 64, 3), np.uint8) + 7, "RGB").save(tmp_path / "t.png")
    data = (tmp_path / "t.png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(data[: len(data) // 2])
    Image.new("RGB", (600, 600)).save(tmp_path / "huge.png")
    (tmp_path / "fake.ckpt").write_text("not a checkpoint")
    # --unary arrays: 4×5 pixels, 3 labels
    p = np.full((4, 5, 3), 1 / 3)
    np.save(tmp_path / "p.npy", p)
    np.save(tmp_path / "nan.npy", np.where(np.arange(3) == 1, np.nan, p))
    np.save(tmp_path / "inf.npy", np.where(np.arange(3) == 1, np.inf, p))
    np.save(tmp_path / "negative.npy", p * np.array([-1, 2, 2]))
    np.save(tmp_path / "off.npy", p * 1.01)
    np.save(tmp_path / "rank2.npy", p[..., 0])
    np.save(tmp_path / "c1.npy", p[..., :1] * 3)
    np.save(tmp_path / "huge.npy", np.zeros((1, 512 * 512 + 1, 2), np.uint8))
    objects = np.empty((4, 5, 3), dtype=object)
    np.save(tmp_path / "objects.npy", objects, allow_pickle=True)
    np.savez(tmp_path / "two.npz", a=p, b=p)


def test_images_train_the_label_tied_flow_unless_asked_not_to(tmp_path, capsys, argv, tiny_run):
    ckpt = tiny_run.folder / "checkpoints" / "last.ckpt"  # a run of the default recipe
    state = torch.load(ckpt, weights_only=False)["state_dict"]
    assert state["omega.mean"].shape == (2, 3, 3) and "start.scale" in state  # tied: same-label / other-label
    capsys.readouterr()
    # the untied model is another model: its checkpoint cannot continue the tied run, and vice versa
    assert train.main(argv("--recipe", "image-untied", "--resume", str(ckpt), steps=5)) == 2  # refused before anything is written
    assert "--recipe image;" in _error_line(capsys)
    assert train.main(argv("--recipe", "image-untied")) == 0
    untied = torch.load(next((tmp_path / "runs").rglob("last.ckpt")), weights_only=False)["state_dict"]
    assert untied["omega.mean"].shape == (3, 3, 3, 3) and untied["start.logits"].shape == (20, 3)


def test_local_randomness_is_the_image_default_and_global_stays_reachable(tmp_path, capsys, argv):
    # a subject exactly midway between cat #808080 and lion #c0c0c0: ambiguous
    ambiguous = write_tiny_image(tmp_path / "ambiguous.png", colours=((0, 0, 0), (0xA0, 0xA0, 0xA0)))
    assert train.main(argv(image=ambiguous, labels="background=#000000,cat=#808080,lion=#c0c0c0")) == 0
    local = next((tmp_path / "runs").rglob("last.ckpt"))
    hp = torch.load(local, weights_only=False)["hyper_parameters"]
    assert hp["omega_noise"] == "role" and hp["offset"] == "region"
    state = torch.load(local, weights_only=False)["state_dict"]
    # the subject (a 2×3 block) is one uncertain region, named by its first pixel (row 1, col 1: node 6)
    assert sorted(set(state["start.representative"].tolist())) == [-1, 6]
    assert train.main(argv("--recipe", "image-global", root="global")) == 0
    old = next((tmp_path / "global").rglob("last.ckpt"))
    hp = torch.load(old, weights_only=False)["hyper_parameters"]
    assert hp["omega_noise"] == "entry" and hp["offset"] == "global"
    capsys.readouterr()
    assert train.main(argv("--resume", str(old), steps=5)) == 2  # another model: say which flag continues it
    assert "--recipe image-global" in _error_line(capsys)


def test_learn_offset_trains_the_offset_mean_at_a_tenth_of_the_lr(tmp_path, argv):
    assert train.main(argv("--learn-offset", "--recipe", "image-global", steps=4)) == 0
    ckpt = torch.load(next((tmp_path / "runs").rglob("last.ckpt")), weights_only=False)
    assert ckpt["state_dict"]["start.offset_mean"].shape == (1, 3)
    groups = ckpt["optimizer_states"][0]["param_groups"]
    assert len(groups) == 2 and groups[1]["initial_lr"] == pytest.approx(groups[0]["initial_lr"] / 10)


BAD = [
    (["--image", "{tmp}/missing.png"], "not found"),
    (["--image", "{tmp}/dir.png"], "directory"),
    (["--image", "{tmp}/text.png"], "cannot read image"),
    (["--image", "{tmp}/empty.png"], "empty"),
    (["--image", "{tmp}/truncated.png"], "cannot read image"),
    (["--image", "{tmp}/huge.png", "--max-size", "0"], "--max-size"),
    (["--labels", "a=#zzzzzz,b=#000000"], "bad colour"),
    (["--labels", "a=#000000,a=#ffffff"], "twice"),
    (["--labels", "a=#000000"], "at least 2"),
    (["--classes", "1"], "--classes"),
    (["--sigma", "0"], "--sigma"),
    (["--beta", "-1"], "--beta"),
    (["--max-steps", "0"], "--max-steps"),
    (["--samples", "0"], "--samples"),
    (["--resume", "{tmp}/missing.ckpt"], "not found"),
    (["--resume", "{tmp}/fake.ckpt"], "checkpoint"),
    (["--resume", "last", "--root-dir", "{tmp}"], "no lightning_logs"),
    (["--ising", "3by8"], "HxW"),
    (["--ising", "8x8", "--exact", "on"], "limit"),
    (["--max-steps", "ten"], "invalid int"),
    (["--no-such-option"], "unrecognized"),
    (["--beta", "nan"], "--beta"),
    (["--sigma", "inf"], "--sigma"),
    (["--strategy", "bogus"], "invalid strategy"),
    (["--lr", "inf"], "--lr"),
    (["--omega", "dense"], "--omega dense needs a recipe without label tying, e.g. --recipe image-untied ("),
    (["--recipe", "image-untied", "--learn-offset"], "--learn-offset needs a recipe with the global tied label offset, e.g. --recipe image-global"),
    (["--learn-offset"], "--learn-offset needs a recipe with the global tied label offset, e.g. --recipe image-global"),
    (["--recipe", "everywhere"], "--recipe"),
    (["--model", "meanfield", "--omega", "dense"], "--omega does not apply to --model meanfield"),
    (["--model", "meanfield", "--samples", "8"], "--samples does not apply to --model meanfield"),
    (["--restarts", "5"], "--restarts does not apply to --model flow"),
    (["--ising", "3x8", "--sigma", "0.2"], "--ising trains a synthetic grid: drop --sigma"),
    (["--recipe", "image-untied", "--omega", "dense", "--kernel-size", "5"], "--kernel-size applies to the conv Ω; this run's Ω is dense"),
    (["--kernel-size", "4"], "--kernel-size must be odd"),
    (["--end-time", "0"], "--end-time must be positive"),
    (["--anneal", "2"], "--anneal must be in [0, 1]"),
    (["--summary-samples", "10"], "--summary-samples must be ≥ 64"),
    (["--model", "meanfield", "--restarts", "0"], "--restarts must be ≥ 1"),
    (["--model", "van", "--samples", "1"], "--samples must be ≥ 2"),
    (["--model", "meanfield", "--lr", "inf"], "--lr must be positive and finite"),
    (["--accelerator", "cpu", "--devices", "2", "--strategy", "ddp", "--samples", "3"], "divisible"),
    # your own data term (--unary) and edges that follow the image (--contrast)
    (["--unary", "{tmp}/missing.npy"], "--unary file not found"),
    (["--unary", "{tmp}/dir.png"], "--unary path is a directory"),
    (["--unary", "{tmp}/text.png"], "is not a .npy or .npz file"),
    (["--unary", "{tmp}/nan.npy"], "has 20 NaN or ±inf values"),
    (["--unary", "{tmp}/inf.npy", "--unary-kind", "energies"], "has 20 NaN or ±inf values"),
    (["--unary", "{tmp}/negative.npy"], "has negative probabilities"),
    (["--unary", "{tmp}/off.npy"], "do not sum to 1 within 0.001"),
    (["--unary", "{tmp}/rank2.npy"], "must be an H × W × c array"),
    (["--unary", "{tmp}/c1.npy"], "it needs at least 2"),
    (["--unary", "{tmp}/huge.npy"], "over the limit of 262,144; arrays are not resized"),
    (["--unary", "{tmp}/objects.npy"], "holds an array of Python objects; they are never loaded"),
    (["--unary", "{tmp}/two.npz"], "name one with --unary-key NAME"),
    (["--unary", "{tmp}/two.npz", "--unary-key", "c"], "--unary-key 'c' is not in"),
    (["--unary", "{tmp}/p.npy", "--image", "{tmp}/t.png"], "is 4×5 but image"),
    (["--unary", "{tmp}/p.npy", "--labels", "a,b"], "--labels gives 2 names but the unary array has 3 labels"),
    (["--unary", "{tmp}/p.npy", "--unary-scale", "0"], "--unary-scale must be a positive finite number"),
    (["--unary", "{tmp}/p.npy", "--unary-kind", "odds"], "invalid choice"),
    (["--unary", "{tmp}/p.npy", "--max-size", "32"], "--max-size does not apply to --unary"),
    (["--contrast", "0"], "--contrast must be a positive finite number"),
    (["--contrast", "nan"], "--contrast must be a positive finite number"),
    (["--contrast", "0.1", "--contrast-floor", "-1"], "--contrast-floor must be in [0, 1]"),
    (["--ising", "3x8", "--contrast", "0.1"], "--ising trains a synthetic grid: drop --contrast"),
]


# whole lines: the owner's argument names become flags where they name an argument, and stay words elsewhere
WHOLE = [
    (["--labels", "a=#000000"], "--labels needs at least 2 labels, got 1"),
    (["--summary-samples", "10"], "--summary-samples must be ≥ 64 (samples.npy holds at least 64), got 10"),
    (["--labels", "a=#000000,b=#ffffff", "--classes", "3"], "give --labels … or --classes …, not both"),
    (["--ising", "3x8", "--coupling", "nan"], "--coupling must be finite, got nan"),
    (["--end-time", "0"], "--end-time must be positive, got 0.0"),
    (["--omega-variance", "-1"], "--omega-variance must be positive, got -1.0"),
    (["--finish", "0"], "--finish must be 'auto', a number of rounds ≥ 1, a schedule such as 'sw,line,hb', 'ROUNDS:SCHEDULE' or "
     "'none', got '0'"),
    (["--finish", "often"], "--finish must be 'auto', a number of rounds ≥ 1, a schedule such as 'sw,line,hb', 'ROUNDS:SCHEDULE' "
     "or 'none': unknown kernel 'often' in 'often' (kernels: sw, line, hb; e.g. 'sw,line,hb')"),
    (["--finish", "2:sw,gibbs"], "--finish must be 'auto', a number of rounds ≥ 1, a schedule such as 'sw,line,hb', "
     "'ROUNDS:SCHEDULE' or 'none': unknown kernel 'gibbs' in 'sw,gibbs' (kernels: sw, line, hb; e.g. 'sw,line,hb')"),
    (["--finish", "auto:"], "--finish 'auto:': rounds of no sweeps; give a schedule after ':' or 'none'"),
    (["--finish-cap", "0"], "--finish-cap must be an integer ≥ 1, got 0"),
    (["--unary", "probs.npy", "--contrast", "0.1"],
     "--contrast needs --image: with --unary alone there is no image to take the edge weights from"),
    (["--unary", "probs.npy", "--sigma", "0.2", "--classes", "3"],
     "--classes, --sigma do not apply to --unary: the array is the data term (its last axis the labels), and neither it nor --image is resized"),
    (["--unary-key", "a"], "--unary-key applies to --unary only"),
    (["--contrast-floor", "0.2"], "--contrast-floor applies to --contrast only"),
    (["--ising", "3x8", "--recipe", "image", "--coupling", "-1"],
     "--finish: finish kernel 'sw': Swendsen–Wang needs edge weights ≥ 0 (a ferromagnetic Potts model); drop 'sw' from the "
     "finish"),
]


@pytest.mark.parametrize("flags, line", WHOLE, ids=[" ".join(a) for a, _ in WHOLE])
def test_bad_input_messages_name_the_flags(tmp_path, capsys, flags, line):
    assert train.main([*flags, "--root-dir", str(tmp_path / "runs")]) == 2
    assert _error_line(capsys) == f"train.py: error: {line}"


@pytest.mark.parametrize("flags, match", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, flags, match):
    _bad_files(tmp_path)
    flags = [a.format(tmp=tmp_path) for a in flags]
    assert train.main([*flags, "--root-dir", str(tmp_path / "runs")] if "--root-dir" not in flags else flags) == 2
    assert match in _error_line(capsys)
    assert not (tmp_path / "runs").exists()  # nothing written


def test_a_failure_during_training_is_a_bug_with_its_traceback_not_bad_input(argv, monkeypatch):
    from models.flow.randomized_flow import RandomizedFlow

    def broken(self, batch, batch_idx):
        raise ValueError("a bug inside training")

    monkeypatch.setattr(RandomizedFlow, "training_step", broken)
    with pytest.raises(ValueError, match="a bug inside training"):  # not "exit 2, one line"
        train.main(argv())


def test_van_trains_through_the_command_line(tmp_path, capsys, argv):
    assert train.main(argv("--model", "van", steps=2)) == 0
    out = capsys.readouterr().out
    assert "VAN (PixelCNN" in out
    run = tmp_path / "runs" / "lightning_logs" / "version_0"
    assert np.load(run / "samples.npy").shape == (64, 4, 5)
    assert json.loads((run / "summary.json").read_text())["model"] == "VAN"
