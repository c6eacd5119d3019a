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
from conftest import REPO, write_tiny_image

# the library lines a run must not show (regexes, searched anywhere in the output)
NOISE = (
    r"💡 Tip", r"LeafSpec", r"`weights_only` was not set", r"exists and is not empty", r"resuming from a checkpoint that ended",
    r"GPU available", r"TPU available", r"all_gather is deprecated", r"`Trainer.fit` stopped", r"Restor(ing|ed all) states",
)


def _summary(folder: Path) -> dict:
    return json.loads((folder / "summary.json").read_text())


# -- --help and import are light -----------------------------------------------------------------------
def test_import_and_help_load_no_heavy_module():
    code = (
        "import sys, contextlib, io\n"
        "import train\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert train.main(['--help']) == 0\n"
        "light = {'data', 'data.defaults', 'models', 'models.flow', 'models.flow.recipes', 'models.flow.settings',  # the help's defaults\n"
        "         'models.finish', 'models.kernels',  # the finish's cap and the kernels' names: no imports\n"
        "         'run', 'run.config', 'run.errors', 'run.threads'}  # the config the flags set, the threads' policy: no imports\n"
        "heavy = sorted(m for m in set(sys.modules) - light if m.split('.')[0] in\n"
        "               {'torch', 'lightning', 'numpy', 'PIL', 'data', 'models', 'callbacks', 'energies', 'run', 'metrics', 'pictures'})\n"
        "print(heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# -- before and after the run ---------------------------------------------------------------------------
def test_the_run_says_what_it_does_and_where_the_results_are(tiny_run, tiny_run_stdout):
    out, lines, root = tiny_run_stdout, tiny_run_stdout.splitlines(), tiny_run.folder.parent
    block = lines[: lines.index(f"  run folder  {root / 'version_0'} (new)") + 1]
    assert block[0] == "train.py: RandomizedFlow on 20 nodes × 3 labels"
    assert f"  image       {tiny_run.summary['args']['image']}" in block
    assert "  size        5×4 pixels (width × height), as is (within --max-size 512)" in block
    assert "  labels      background #000000, cat #808080, lion #ffffff" in block
    assert any(line.startswith("  model       randomized flow (recipe image), conv Ω, label-tied, local randomness, m = 4 samples per step") for line in block)
    assert "  steps       3" in block
    # the end: figures, the run folder and its files, how to open TensorBoard
    assert lines[-1] == f"TensorBoard: tensorboard --logdir {root}"
    assert f"run folder: {root / 'version_0'}" in lines
    for name in ("summary.json", "marginals.png", "uncertainty.png", "map.png", "entropy.npy", "fig1.png", "checkpoints/last.ckpt"):
        assert any(line.startswith(f"  {name} ") for line in lines), name
    assert "label changes between two samples:" in out
    assert "training:" not in out and "\r" not in out  # stdout is not a terminal: no bar
    # what a resume says: tests/test_train_cli.py, test_a_resume_continues_its_own_folder_and_a_new_run_gets_the_next


def test_a_larger_image_is_downscaled_to_max_size(tmp_path, capsys, argv):
    image = write_tiny_image(tmp_path / "8x10.png", 8, 10)
    assert train.main(argv("--max-size", "5", "--model", "meanfield", "--restarts", "2", image=image, steps=1)) == 0
    out = capsys.readouterr().out
    assert "  size        10×8 → 5×4 pixels (width × height; --max-size 5, 0 keeps the size)" in out
    assert "  model       mean field, 2 restarts" in out
    assert np.load(tmp_path / "runs" / "lightning_logs" / "version_0" / "samples.npy").shape == (64, 4, 5)


def _find(big: np.ndarray, small: np.ndarray, tol: float = 1.5) -> bool:
    """Whether ``small`` (h, w, 3) appears somewhere in ``big`` (uint8 RGB), each channel within ``tol``."""
    h, w, _ = small.shape
    windows = np.lib.stride_tricks.sliding_window_view(big.astype(np.int16), (h, w, 3))[:, :, 0]
    return bool((np.abs(windows - small.astype(np.int16)).max(axis=(-1, -2, -3)) <= tol).any())


def test_the_overview_shows_the_image_beside_the_map_at_the_grid_size(tmp_path, argv):
    from data.image_io import load_image
    from pictures.rendering import auto_scale

    image = write_tiny_image(tmp_path / "8x10.png", 8, 10, colours=((20, 40, 200), (230, 180, 10), (0, 160, 90)))
    assert train.main(argv("--max-size", "5", "--model", "meanfield", "--restarts", "2", image=image, steps=1)) == 0
    run = tmp_path / "runs" / "lightning_logs" / "version_0"
    overview = np.asarray(Image.open(run / "overview.png").convert("RGB"))
    scale = auto_scale((4, 5), 192)
    photo = (load_image(image, 5).numpy() * 255 + 0.5).astype(np.uint8)  # the photo as the grid saw it: 5×4
    assert _find(overview, photo.repeat(scale, 0).repeat(scale, 1))
    assert not _find(overview, np.ascontiguousarray(photo[:, ::-1]).repeat(scale, 0).repeat(scale, 1))  # the control: mirrored
    labels = np.load(run / "marginals.npy").argmax(-1)
    colours = np.array([[int(h[i:i + 2], 16) for i in (1, 3, 5)] for h in _summary(run)["label_colours"]], np.uint8)
    assert _find(overview, colours[labels].repeat(scale, 0).repeat(scale, 1))  # the most probable label beside it


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


def test_progress_bar_in_a_terminal_and_quiet(capsys, monkeypatch, argv):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert train.main(argv()) == 0
    out = capsys.readouterr().out
    assert re.search(r"training: +100%\|.*\| 3/3 \[", out) and "free energy" in out
    assert "\x1b[48;2;0;0;0m" in out  # the label colours as swatches in a terminal
    assert train.main(argv("--resume", "last", steps=5)) == 0
    out = capsys.readouterr().out
    assert "3/5 [" in out and "5/5 [" in out and "0/5 [" not in out  # starts at the checkpoint's step
    assert train.main(argv("--quiet", root="quiet")) == 0
    out = capsys.readouterr().out
    assert "training:" not in out and "run folder:" in out
    assert train.main(argv("--progress", root="old")) == 0  # the old switch is still accepted


# -- no library noise ----------------------------------------------------------------------------------
def _noise(argv, capfd, caplog, root, resume=True) -> list[str]:
    """The :data:`NOISE` patterns found in what a run (and its resume) printed, logged or warned."""
    caplog.set_level(logging.INFO)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert train.main(argv(root=root)) == 0
        if resume:
            assert train.main(argv("--resume", "last", root=root, steps=5)) == 0
    out, err = capfd.readouterr()
    text = "\n".join([out, err, caplog.text, *(str(w.message) for w in caught)])
    caplog.clear()
    return [p for p in NOISE if re.search(p, text)]


def test_a_run_shows_no_library_noise(argv, capfd, caplog, monkeypatch):
    assert _noise(argv, capfd, caplog, "runs") == []
    # the check sees log lines and warnings when the filter is off (so it cannot pass by not looking)
    import run.console

    monkeypatch.setattr(run.console, "library_noise_filtered", nullcontext)
    assert {r"💡 Tip", r"GPU available", r"LeafSpec"} <= set(_noise(argv, capfd, caplog, "noisy", resume=False))


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
    from metrics.coherence import fig1_labels

    assert fig1_labels(["background", "cat", "lion"], 3) == (0, 1, 2)
    assert fig1_labels(["lion", "Background", "cat"], 3) == (1, 2, 0)
    assert fig1_labels(["background", "dog", "horse"], 3) == (0, 1, 2)
    for names, c in ((["class0", "class1", "class2"], 3), (["background", "cat"], 2), (["background", "a", "b", "c"], 4),
                     (["background", "background", "cat"], 3), (None, 3)):
        assert fig1_labels(names, c) is None, names


def test_fig1_figures_absent_for_kmeans_classes_present_for_the_default(tmp_path, capsys, argv, tiny_run, tiny_run_stdout):
    photo = write_tiny_image(tmp_path / "photo.png", 8, 10, colours=((20, 40, 200), (200, 40, 20), (40, 200, 20)))
    assert train.main(argv(image=photo, labels=None)) == 0  # no labels given: a photo's own colours
    out = capsys.readouterr().out
    assert "(k-means colours; --labels names them)" in out
    folder = tmp_path / "runs" / "lightning_logs" / "version_0"
    summary = _summary(folder)
    assert summary["labels"] == ["class0", "class1", "class2"]
    assert "fig1" not in summary and "Fig. 1" not in out and "hp/cat_share" not in _scalar_tags(folder)
    assert "eval/cat_share" not in _scalar_tags(folder) and "eval/label_changes" in _scalar_tags(folder)
    # a run with background/cat/lion labels has them
    assert "Fig. 1: subject coherence" in tiny_run_stdout
    assert {"subject_coherence", "cat_share", "pixelwise_coherence"} <= set(tiny_run.summary["fig1"])
    assert "eval/cat_share" in _scalar_tags(tiny_run.folder)


def test_uncertainty_and_label_changes_in_the_run_folder(tmp_path, argv):
    # mean field: its samples are drawn from exactly its marginals, so the two label-change figures agree
    image = write_tiny_image(tmp_path / "8x10.png", 8, 10)
    assert train.main(argv("--model", "meanfield", "--restarts", "4", "--summary-samples", "1024", image=image)) == 0
    run = tmp_path / "runs" / "lightning_logs" / "version_0"
    summary = _summary(run)
    assert (run / "uncertainty.png").is_file() and "uncertainty.png" in summary["files"]
    measured, formula = summary["samples"]["label_changes"], summary["marginals"]["label_changes"]
    marginals = torch.from_numpy(np.load(run / "marginals.npy")).reshape(-1, 3).double()
    assert formula == pytest.approx(float((1 - (marginals**2).sum(-1)).sum()), rel=1e-5)
    assert formula > 1  # 3 steps from random logits: far from certain, so the check below has something to check
    assert measured == pytest.approx(formula, abs=1.0)  # 1024 samples of 80 pixels: a standard error of ≈ 0.15
    ent = summary["marginals"]
    assert 0 < ent["pixel_entropy_mean"] <= ent["pixel_entropy_max"] <= ent["pixel_entropy_limit"] == pytest.approx(np.log(3))


# -- TensorBoard -----------------------------------------------------------------------------------------
def _events(folder: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    return acc


def _scalar_tags(folder: Path) -> set[str]:
    return set(_events(folder).Tags()["scalars"])


def test_tensorboard_has_hparams_learning_rate_uncertainty_and_no_epoch(tiny_run):
    from tensorboard.plugins.hparams import plugin_data_pb2

    acc = _events(tiny_run.folder)
    scalars = set(acc.Tags()["scalars"])
    assert "epoch" not in scalars
    assert "lr-Adam" in scalars and acc.Scalars("lr-Adam")[0].value == pytest.approx(0.01, rel=0.5)
    assert {"hp/free_energy", "hp/label_changes", "eval/label_changes"} <= scalars
    assert {"images/overview", "images/uncertainty", "images/marginals"} <= set(acc.Tags()["images"])
    content = acc.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    assert {"lr", "max_steps", "samples_per_step", "image", "labels", "sigma", "beta"} <= set(start.hparams)
    assert start.hparams["max_steps"].number_value == 3
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    assert {"hp/free_energy", "hp/label_changes"} <= {m.name.tag for m in experiment.metric_infos}
    # the hp/ figures sit at the final step and equal the summary's
    summary = tiny_run.summary
    (point,) = acc.Scalars("hp/label_changes")
    assert point.step == 3 and point.value == pytest.approx(summary["samples"]["label_changes"], rel=1e-5)
