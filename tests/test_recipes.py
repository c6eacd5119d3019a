"""Named recipes (models/recipes.py): complete, used as they are by the command line, overridable one setting at a time."""

from __future__ import annotations

import inspect

import pytest
import torch

import train
from energies.grid_potts import GridPottsEnergy
from models.flow_start import FreeStart, RegionStart, TiedStart
from models.recipes import RECIPES, recipe
from models.randomized_flow import RandomizedFlow


def energy_2x3() -> GridPottsEnergy:
    unary = torch.zeros(2, 3, 3)
    unary[0, 0] = torch.tensor([0.0, 2.0, 2.0])
    return GridPottsEnergy(unary, beta=1.0)


@pytest.mark.parametrize("name", list(RECIPES))
def test_every_recipe_builds_with_exactly_its_settings(name):
    energy = energy_2x3()
    model = RECIPES[name].build(energy, seed=1)
    assert {k: model.hparams[k] for k in RECIPES[name].flow} == dict(RECIPES[name].flow)
    assert model.hparams.recipe == name and model.hparams.grid == (2, 3)
    # the same settings as a plain RandomizedFlow of that recipe: the recipe is the model's one source of defaults
    plain = RandomizedFlow(energy.n, energy.c, grid=energy.grid, recipe=name, seed=1)
    assert dict(plain.hparams) == dict(model.hparams)
    if RECIPES[name].start == "data":
        torch.testing.assert_close(model.start.logits, -energy.factors()[0])


def test_each_recipe_has_the_start_its_randomness_needs():
    energy = energy_2x3()
    kinds = {name: type(RECIPES[name].build(energy).start) for name in RECIPES}
    assert kinds == {"image": RegionStart, "image-global": TiedStart, "image-untied": FreeStart, "ising": FreeStart, "paper": FreeStart}


def test_overrides_change_one_setting_and_unknown_ones_fail():
    model = RECIPES["image"].build(energy_2x3(), samples_per_step=8, lr=None)  # None keeps the recipe's value
    assert model.hparams.samples_per_step == 8 and model.hparams.lr == RECIPES["image"].flow["lr"]
    with pytest.raises(TypeError, match="no setting tie_label"):
        RECIPES["image"].build(energy_2x3(), tie_label=False)
    with pytest.raises(ValueError, match="unknown recipe"):
        recipe("flow-of-the-day")


def test_settings_that_do_not_go_together_are_refused_by_the_model():
    with pytest.raises(ValueError, match="offset='region' needs tie_labels"):
        RandomizedFlow(6, 3, grid=(2, 3), recipe="image-untied", offset="region")
    with pytest.raises(ValueError, match="samples_per_step must be ≥ 2"):
        RandomizedFlow(6, 3, grid=(2, 3), recipe="image", samples_per_step=1)


def test_the_recipes_keyword_names_are_the_models_documented_settings():
    doc = inspect.getdoc(RandomizedFlow)
    for name in RECIPES["ising"].flow:
        assert name in doc, name


@pytest.mark.parametrize("argv, name", [([], "image"), (["--ising", "2x3"], "ising"), (["--recipe", "paper", "--ising", "2x3"], "paper")])
def test_the_command_line_trains_the_recipe_as_it_is(argv, name, tmp_path):
    args = train.build_parser().parse_args(argv)
    train.check_args(args)
    energy = train.build_datamodule(args).energy
    model = train.build_model(args, energy)
    assert {k: model.hparams[k] for k in RECIPES[name].flow} == dict(RECIPES[name].flow)
    assert args.max_steps == RECIPES[name].max_steps


def test_checkpoints_saved_under_the_old_name_load_as_the_ising_recipe(tmp_path):
    old = RandomizedFlow(6, 2, seed=0)
    old.hparams["recipe"] = "flow"  # what checkpoints written before the recipes moved to models/recipes.py hold
    path = tmp_path / "old.ckpt"
    torch.save({"state_dict": old.state_dict(), "hyper_parameters": dict(old.hparams), "pytorch-lightning_version": "2.6.0"}, path)
    loaded = RandomizedFlow.load_from_checkpoint(path)
    assert loaded.hparams.recipe == "ising" and loaded.hparams.rounding == RECIPES["ising"].flow["rounding"]
