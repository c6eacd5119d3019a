"""Checkpoints saved before the layout of ``models/`` changed still load, sample and resume.

``tests/data/legacy_flow_step3.ckpt`` was written by the code before the change (``tests/data/README.md``): its
hyperparameters hold the per-kernel counts ``sw_sweeps = line_sweeps = heat_bath_sweeps = 1`` that the finish's
schedule of named kernels (``finish_round``) replaced. The expected schedule is the one those counts ran: one
Swendsen–Wang, one line and one heat-bath sweep per round."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

import sample
import train
from data import ImageDataModule
from models.flow.randomized_flow import RandomizedFlow, legacy_settings

LEGACY = Path(__file__).parent / "data" / "legacy_flow_step3.ckpt"
IMAGE = ["--image", "cat_lion.png", "--max-size", "12"]


def test_the_old_counts_become_the_schedule_they_ran():
    assert legacy_settings({"sw_sweeps": 1, "line_sweeps": 1, "heat_bath_sweeps": 1})["finish_round"] == "sw,line,hb"
    assert legacy_settings({"sw_sweeps": 1, "heat_bath_sweeps": 4})["finish_round"] == "hb,hb,hb,sw,hb"  # interleaved, hb last
    assert legacy_settings({"sw_sweeps": 0, "line_sweeps": 0, "heat_bath_sweeps": 0})["finish_round"] == ""
    assert legacy_settings({"lr": 0.1}) == {"lr": 0.1}  # a new checkpoint passes unchanged


def test_an_old_checkpoint_loads_and_samples():
    ckpt = torch.load(LEGACY, map_location="cpu", weights_only=False)
    assert ckpt["hyper_parameters"]["sw_sweeps"] == 1 and "finish_round" not in ckpt["hyper_parameters"]
    model = RandomizedFlow.load_from_checkpoint(LEGACY, map_location="cpu")
    assert model.hparams.finish_round == "sw,line,hb" and model.hparams.finish_rounds == 0
    assert "sw_sweeps" not in model.hparams
    datamodule = ImageDataModule(image=str(Path(__file__).parents[1] / "data" / "cat_lion.png"), max_size=12)
    datamodule.setup("fit")
    model.attach_energy(datamodule.energy)
    x = model.eval().sample(16, torch.Generator().manual_seed(0))
    assert x.shape == (16, 144) and int(x.min()) >= 0 and int(x.max()) < 3
    assert model.finisher().schedule() == ["sw", "line", "hb"]


def test_an_old_checkpoint_resumes_and_samples_from_the_command_line(tmp_path, capsys):
    ckpt = tmp_path / "old.ckpt"
    shutil.copy(LEGACY, ckpt)
    root = tmp_path / "run"
    assert train.main([*IMAGE, "--resume", str(ckpt), "--max-steps", "5", "--root-dir", str(root), "--summary-samples", "64",
                       "--quiet"]) == 0
    last = next(root.rglob("last.ckpt"))
    resumed = torch.load(last, map_location="cpu", weights_only=False)
    assert resumed["global_step"] == 5 and resumed["hyper_parameters"]["finish_round"] == "sw,line,hb"
    capsys.readouterr()
    assert sample.main([str(ckpt), "--samples", "64", "--out", str(tmp_path / "samples")]) == 0
    assert (tmp_path / "samples" / "samples.npy").exists()
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines() if line.startswith("  ")]
    assert "summary.json" in listed and "samples.npy" in listed  # the report names the files it wrote
    assert all((tmp_path / "samples" / name).exists() for name in listed)


def test_old_settings_build_a_model_for_a_new_image():
    """``sample.py OLD.ckpt --image new.png`` rebuilds a stationary flow with ``from_recipe`` from the saved settings."""
    from energies.grid_potts import GridPottsEnergy

    energy = GridPottsEnergy(torch.rand(6, 5, 3, generator=torch.Generator().manual_seed(0)), beta=1.0)
    model = RandomizedFlow.from_recipe("image-stationary", energy, sw_sweeps=1, line_sweeps=0, heat_bath_sweeps=2)
    assert model.hparams.finish_round == "hb,sw,hb" and model.finisher().schedule() == ["hb", "sw", "hb"]
