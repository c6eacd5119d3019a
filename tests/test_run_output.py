"""What a run shows and leaves for its user: the pre-run block, the progress bar, no library noise, the
closing lines, the uncertainty figures, Fig. 1's figures only where they mean something, TensorBoard's
hparams / learning rate / no epoch chart, and a --help that imports nothing heavy."""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys
import warnings
from contextlib import nullcontext
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny runs: a second thread only adds contention on 2 cores

REPO = Path(__file__).resolve().parents[1]
LABELS = "background=#000000,cat=#808080,lion=#ffffff"
# the library lines a run must not show (regexes, searched anywhere in the output)
NOISE = (
    r"💡 Tip", r"LeafSpec", r"`weights_only` was not set", r"exists and is not empty", r"resuming from a checkpoint that ended",
    r"GPU available", r"TPU available", r"all_gather is deprecated", r"`Trainer.fit` stopped", r"Restor(ing|ed all) states",
)


def _tiny(path, h=8, w=10, colours=((0, 0, 0), (128, 128, 128))):
    """A background with a block of the second colour (and a strip of the third, if given)."""
    arr = np.zeros((h, w, 3), np.uint8) + np.array(colours[0], np.uint8)
    arr[2:6, 2:7] = colours[1]
    if len(colours) > 2:
        arr[:, -2:] = colours[2]
    Image.fromarray(arr, "RGB").save(path)
    return path


def _argv(tmp_path, *extra, image=None, steps=3, root="runs"):
    image = image or _tiny(tmp_path / "tiny.png")
    samples = [] if "meanfield" in extra else ["--samples", "4"]  # mean field has no samples per step
    return ["--image", str(image), "--max-steps", str(steps), *samples, "--log-every", "2",
            "--summary-samples", "64", "--root-dir", str(tmp_path / root), *extra]


def _summary(tmp_path, root="runs", version=0) -> dict:
    return json.loads((tmp_path / root / "lightning_logs" / f"version_{version}" / "summary.json").read_text())


# -- --help and import are light -----------------------------------------------------------------------
def test_import_and_help_load_no_heavy_module():
    code = (
        "import sys, contextlib, io\n"
        "import train\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert train.main(['--help']) == 0\n"
        "light = {'data', 'data.defaults', 'models', 'models.recipes', 'models.flow_settings',  # the defaults the help shows\n"
        "         'run', 'run.config', 'run.errors'}  # the config the flags set: no imports\n"
        "heavy = sorted(m for m in set(sys.modules) - light if m.split('.')[0] in\n"
        "               {'torch', 'lightning', 'numpy', 'PIL', 'data', 'models', 'callbacks', 'energies', 'run', 'figures'})\n"
        "print(heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# -- before and after the run ---------------------------------------------------------------------------
def test_the_run_says_what_it_does_and_where_the_results_are(tmp_path, capsys):
    image = _tiny(tmp_path / "tiny.png", 8, 10)
    assert train.main(_argv(tmp_path, "--max-size", "5", "--labels", LABELS, image=image)) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    root = tmp_path / "runs" / "lightning_logs"
    block = lines[: lines.index(f"  run folder  {root / 'version_0'} (new)") + 1]
    assert block[0] == "train.py: RandomizedFlow on 20 nodes × 3 labels"
    assert f"  image       {image}" in block
    assert "  size        10×8 → 5×4 pixels (--max-size 5; 0 keeps the size)" in block
    assert "  labels      background #000000, cat #808080, lion #ffffff" in block
    assert any(line.startswith("  model       randomized flow (recipe image), conv Ω, label-tied, local randomness, m = 4 samples per step") for line in block)
    assert "  steps       3" in block
    # the end: figures, the run folder and its files, how to open TensorBoard
    assert lines[-1] == f"TensorBoard: tensorboard --logdir {root}"
    assert f"run folder: {root / 'version_0'}" in lines
    for name in ("summary.json", "marginals.png", "uncertainty.png", "fig1.png", "checkpoints/last.ckpt"):
        assert any(line.startswith(f"  {name} ") for line in lines), name
    assert "label changes between two samples:" in out
    assert "training:" not in out and "\r" not in out  # stdout is not a terminal: no bar

    # a resume names the checkpoint and the folder it continues
    assert train.main(_argv(tmp_path, "--max-size", "5", "--labels", LABELS, "--resume", "last", image=image, steps=5)) == 0
    out = capsys.readouterr().out
    assert f"  steps       5, continuing from step 3 of {root / 'version_0' / 'checkpoints' / 'last.ckpt'}" in out
    assert f"  run folder  {root / 'version_0'} (continued)" in out


def test_an_image_that_fits_is_used_as_is(tmp_path, capsys):
    assert train.main(_argv(tmp_path, "--labels", LABELS, "--model", "meanfield", "--restarts", "2", steps=1)) == 0
    out = capsys.readouterr().out
    assert "  size        10×8 pixels, as is (within --max-size 64)" in out
    assert "  model       mean field, 2 restarts" in out


def test_the_original_size_follows_the_exif_orientation(tmp_path):
    from data.image_io import image_size

    img = Image.new("RGB", (30, 20))
    exif = img.getexif()
    exif[0x0112] = 6  # rotated by 90°: shown 20 wide, 30 high
    img.save(tmp_path / "rotated.jpg", exif=exif)
    assert image_size(tmp_path / "rotated.jpg") == (20, 30)
    img.save(tmp_path / "plain.jpg")
    assert image_size(tmp_path / "plain.jpg") == (30, 20)


# -- the progress bar -----------------------------------------------------------------------------------
def _fake_trainer(step, max_steps=10, free_energy=1.5):
    return SimpleNamespace(global_step=step, max_steps=max_steps, progress_bar_metrics={"train/free_energy": torch.tensor(free_energy)})


def test_progress_bar_counts_the_whole_run_from_the_resumed_step():
    from run.console import RunProgressBar

    file = io.StringIO()
    bar = RunProgressBar(file=file)
    trainer = _fake_trainer(4)
    bar.on_train_start(trainer, None)
    assert bar.bar.total == 10 and bar.bar.n == 4 and bar.bar.initial == 4
    trainer.global_step = 6
    bar.on_train_batch_end(trainer, None, None, None, 0)
    assert bar.bar.n == 6 and "free energy 1.5" in str(bar.bar)
    trainer.global_step = 10
    bar.on_train_batch_end(trainer, None, None, None, 0)
    assert bar.bar is None  # closed at the last step
    text = file.getvalue()
    assert "4/10" in text and "10/10" in text and "free energy 1.5" in text
    bar.on_train_end(trainer, None)  # nothing left to close

    quiet = RunProgressBar(file=io.StringIO())
    quiet.disable()
    quiet.on_train_start(_fake_trainer(0), None)
    assert quiet.bar is None and not quiet.is_enabled


def test_progress_bar_in_a_terminal_and_quiet(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert train.main(_argv(tmp_path, "--labels", LABELS)) == 0
    out = capsys.readouterr().out
    assert re.search(r"training: +100%\|.*\| 3/3 \[", out) and "free energy" in out
    assert "\x1b[48;2;0;0;0m" in out  # the label colours as swatches in a terminal
    assert train.main(_argv(tmp_path, "--labels", LABELS, "--resume", "last", steps=5)) == 0
    out = capsys.readouterr().out
    assert "3/5 [" in out and "5/5 [" in out and "0/5 [" not in out  # starts at the checkpoint's step
    assert train.main(_argv(tmp_path, "--labels", LABELS, "--quiet", root="quiet")) == 0
    out = capsys.readouterr().out
    assert "training:" not in out and "run folder:" in out
    assert train.main(_argv(tmp_path, "--labels", LABELS, "--progress", root="old")) == 0  # the old switch is still accepted


# -- no library noise ----------------------------------------------------------------------------------
def _noise(tmp_path, capfd, caplog, root, resume=True) -> list[str]:
    """The :data:`NOISE` patterns found in what a run (and its resume) printed, logged or warned."""
    caplog.set_level(logging.INFO)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert train.main(_argv(tmp_path, "--labels", LABELS, root=root)) == 0
        if resume:
            assert train.main(_argv(tmp_path, "--labels", LABELS, "--resume", "last", root=root, steps=5)) == 0
    out, err = capfd.readouterr()
    text = "\n".join([out, err, caplog.text, *(str(w.message) for w in caught)])
    caplog.clear()
    return [p for p in NOISE if re.search(p, text)]


def test_a_run_shows_no_library_noise(tmp_path, capfd, caplog, monkeypatch):
    assert _noise(tmp_path, capfd, caplog, "runs") == []
    # the check sees log lines and warnings when the filter is off (so it cannot pass by not looking)
    import run.console

    monkeypatch.setattr(run.console, "library_noise_filtered", nullcontext)
    assert {r"💡 Tip", r"GPU available", r"LeafSpec"} <= set(_noise(tmp_path, capfd, caplog, "noisy", resume=False))


def test_other_warnings_still_show():
    from run.console import library_noise_filtered

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with library_noise_filtered():
            warnings.warn("something the user must see", UserWarning)
            warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated, use ...", FutureWarning)
    assert [str(w.message) for w in caught] == ["something the user must see"]


# -- Fig. 1 only where it means something; uncertainty for every image -----------------------------------
def test_fig1_rule():
    from figures.fig1 import fig1_labels

    assert fig1_labels(["background", "cat", "lion"], 3) == (0, 1, 2)
    assert fig1_labels(["lion", "Background", "cat"], 3) == (1, 2, 0)
    assert fig1_labels(["background", "dog", "horse"], 3) == (0, 1, 2)
    for names, c in ((["class0", "class1", "class2"], 3), (["background", "cat"], 2), (["background", "a", "b", "c"], 4),
                     (["background", "background", "cat"], 3), (None, 3)):
        assert fig1_labels(names, c) is None, names


def test_fig1_figures_absent_for_kmeans_classes_present_for_the_default(tmp_path, capsys):
    photo = _tiny(tmp_path / "photo.png", colours=((20, 40, 200), (200, 40, 20), (40, 200, 20)))
    assert train.main(_argv(tmp_path, image=photo, root="classes")) == 0  # no labels given: a photo's own colours
    out = capsys.readouterr().out
    assert "(k-means colours; --labels names them)" in out
    summary = _summary(tmp_path, "classes")
    assert summary["labels"] == ["class0", "class1", "class2"]
    assert "fig1" not in summary and "Fig. 1" not in out and "hp/cat_share" not in _scalar_tags(tmp_path, "classes")
    assert "eval/cat_share" not in _scalar_tags(tmp_path, "classes") and "eval/label_changes" in _scalar_tags(tmp_path, "classes")
    # the same image with the default-style labels has them
    assert train.main(_argv(tmp_path, "--labels", "background=#1428c8,cat=#c82814,lion=#28c814", image=photo, root="default")) == 0
    assert "Fig. 1: subject coherence" in capsys.readouterr().out
    assert {"subject_coherence", "cat_share"} <= set(_summary(tmp_path, "default")["fig1"])
    assert "eval/cat_share" in _scalar_tags(tmp_path, "default")


def test_uncertainty_and_label_changes_in_the_run_folder(tmp_path):
    # mean field: its samples are drawn from exactly its marginals, so the two label-change figures agree
    argv = _argv(tmp_path, "--labels", LABELS, "--model", "meanfield", "--restarts", "4", "--summary-samples", "1024", steps=3)
    assert train.main(argv) == 0
    run = tmp_path / "runs" / "lightning_logs" / "version_0"
    summary = _summary(tmp_path)
    assert (run / "uncertainty.png").is_file() and "uncertainty.png" in summary["files"]
    measured, formula = summary["samples"]["label_changes"], summary["marginals"]["label_changes"]
    marginals = torch.from_numpy(np.load(run / "marginals.npy")).reshape(-1, 3).double()
    assert formula == pytest.approx(float((1 - (marginals**2).sum(-1)).sum()), rel=1e-5)
    assert formula > 1  # 3 steps from random logits: far from certain, so the check below has something to check
    assert measured == pytest.approx(formula, abs=1.0)  # 1024 samples of 80 pixels: a standard error of ≈ 0.15
    ent = summary["marginals"]
    assert 0 < ent["pixel_entropy_mean"] <= ent["pixel_entropy_max"] <= ent["pixel_entropy_limit"] == pytest.approx(np.log(3))


# -- TensorBoard -----------------------------------------------------------------------------------------
def _events(tmp_path, root="runs"):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tmp_path / root / "lightning_logs" / "version_0"), size_guidance={"scalars": 0})
    acc.Reload()
    return acc


def _scalar_tags(tmp_path, root="runs") -> set[str]:
    return set(_events(tmp_path, root).Tags()["scalars"])


def test_tensorboard_has_hparams_learning_rate_uncertainty_and_no_epoch(tmp_path):
    from tensorboard.plugins.hparams import plugin_data_pb2

    assert train.main(_argv(tmp_path, "--labels", LABELS)) == 0
    acc = _events(tmp_path)
    scalars = set(acc.Tags()["scalars"])
    assert "epoch" not in scalars
    assert "lr-Adam" in scalars and acc.Scalars("lr-Adam")[0].value == pytest.approx(0.01, rel=0.5)
    assert {"hp/free_energy", "hp/label_changes", "eval/label_changes"} <= scalars
    assert "images/uncertainty" in acc.Tags()["images"] and "images/marginals" in acc.Tags()["images"]
    content = acc.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    assert {"lr", "max_steps", "samples_per_step", "image", "labels", "sigma", "beta"} <= set(start.hparams)
    assert start.hparams["max_steps"].number_value == 3
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    assert {"hp/free_energy", "hp/label_changes"} <= {m.name.tag for m in experiment.metric_infos}
    # the hp/ figures sit at the final step and equal the summary's
    summary = _summary(tmp_path)
    (point,) = acc.Scalars("hp/label_changes")
    assert point.step == 3 and point.value == pytest.approx(summary["samples"]["label_changes"], rel=1e-5)
