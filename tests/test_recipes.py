"""Named recipes (models/flow/recipes.py) and the flow's settings (models/flow/settings.py): complete, checked once,
used as they are by the command line, overridable one setting at a time."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
import subprocess
import sys

import pytest
import torch

import train
from conftest import REPO
from energies.grid_potts import GridPottsEnergy
from models.flow.settings import FlowSettings
from models.flow.start import FreeStart, RegionStart, TiedStart
from models.flow.randomized_flow import RandomizedFlow
from models.flow.recipes import RECIPES, Recipe, recipe

def energy_2x3() -> GridPottsEnergy:
    unary = torch.zeros(2, 3, 3)
    unary[0, 0] = torch.tensor([0.0, 2.0, 2.0])
    return GridPottsEnergy(unary, beta=1.0)


@pytest.mark.parametrize("name", list(RECIPES))
def test_every_recipe_builds_with_exactly_its_settings(name):
    chosen = RECIPES[name]
    # a recipe that permutes labels needs an energy without a field (from_recipe turns it off otherwise: tested below)
    energy = GridPottsEnergy(torch.zeros(2, 3, 3), beta=1.0) if chosen.settings.permute_labels else energy_2x3()
    assert isinstance(chosen, Recipe) and isinstance(chosen.settings, FlowSettings) and chosen.name == name
    model = RandomizedFlow.from_recipe(name, energy, seed=1)
    settings = chosen.settings.asdict()
    assert {k: model.hparams[k] for k in settings} == settings
    assert model.hparams.recipe == name and model.hparams.grid == (2, 3)
    assert chosen.max_steps == chosen.settings.schedule_steps
    # the same settings as a plain RandomizedFlow of that recipe: the recipe is the model's one source of defaults
    plain = RandomizedFlow(energy.n, energy.c, grid=energy.grid, recipe=name, seed=1)
    assert dict(plain.hparams) == dict(model.hparams)
    assert dict(RandomizedFlow.from_recipe(chosen, energy, seed=1).hparams) == dict(model.hparams)  # by name or instance
    if chosen.start == "data":
        torch.testing.assert_close(model.start.logits, -energy.factors()[0])


def test_each_recipe_has_the_start_its_randomness_needs():
    energy = energy_2x3()
    kinds = {name: type(RandomizedFlow.from_recipe(name, energy).start) for name in RECIPES}
    assert kinds == {"image": RegionStart, "image-stationary": RegionStart, "image-global": TiedStart, "image-untied": FreeStart, "ising": FreeStart, "ising-meanfield": FreeStart, "paper": FreeStart}


def test_the_start_follows_the_argument_and_a_bad_one_is_refused():
    energy = energy_2x3()
    random = RandomizedFlow.from_recipe("image-global", energy, start="random", seed=1)
    assert not torch.allclose(random.start.logits, -energy.factors()[0])
    with pytest.raises(ValueError, match="^start must be 'data', 'random' or 'mean-field', got 'zero'$"):
        RandomizedFlow.from_recipe("image", energy, start="zero")


def test_settings_are_frozen():
    settings = RECIPES["image"].settings
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.lr = 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        RECIPES["image"].settings = RECIPES["ising"].settings
    assert settings.replace(lr=0.5).lr == 0.5 and settings.lr == 1e-2  # replace makes a new value


def test_overrides_change_one_setting_and_unknown_ones_fail():
    model = RandomizedFlow.from_recipe("image", energy_2x3(), samples_per_step=8, lr=None)  # None keeps the recipe's value
    assert model.hparams.samples_per_step == 8 and model.hparams.lr == RECIPES["image"].settings.lr
    with pytest.raises(TypeError, match="no setting tie_label, tied$"):
        RandomizedFlow.from_recipe("image", energy_2x3(), tie_label=False, tied=True)
    with pytest.raises(TypeError, match="no setting tie_label"):
        RECIPES["image"].settings.replace(tie_label=False)
    with pytest.raises(TypeError, match="no setting tie_label"):
        RandomizedFlow(6, 3, grid=(2, 3), recipe="image", tie_label=False)
    with pytest.raises(ValueError, match="unknown recipe"):
        recipe("flow-of-the-day")


# one override of a recipe per check; each message is one line and starts with, or names as name=value, the
# setting the command line turns into its flag
BAD = [
    ("image", dict(omega="fft"), "omega must be 'dense' or 'conv', got 'fft'"),
    ("image", dict(rounding="round"), "rounding must be 'draw' or 'argmax', got 'round'"),
    ("image", dict(lr_schedule="step"), "lr_schedule must be 'constant' or 'cosine', got 'step'"),
    ("image", dict(offset="pixel"), "offset must be 'global' or 'region', got 'pixel'"),
    ("image", dict(omega_noise="kernel"), "omega_noise must be 'entry' or 'role', got 'kernel'"),
    ("image", dict(lr=float("inf")), "lr must be positive and finite, got inf"),
    ("image", dict(lr=0.0), "lr must be positive and finite, got 0.0"),
    ("image", dict(end_time=0.0), "end_time must be positive, got 0.0"),
    ("image", dict(step_size=-0.1), "step_size must be positive, got -0.1"),
    ("image", dict(omega_variance=-1.0), "omega_variance must be positive, got -1.0"),
    ("image", dict(samples_per_step=1), "samples_per_step must be ≥ 2, got 1"),
    ("image", dict(kernel_size=4), "kernel_size must be odd and positive, got 4"),
    ("image", dict(schedule_steps=0), "schedule_steps must be ≥ 1, got 0"),
    ("image", dict(anneal_fraction=2.0), "anneal_fraction must be in [0, 1], got 2.0"),
    ("image", dict(s0_noise=-0.5), "s0_noise must be ≥ 0, got -0.5"),
    ("image", dict(noise_rank=-1), "noise_rank must be ≥ 0, got -1"),
]
CROSS = [
    ("image", dict(omega="dense"), "omega='dense' needs a recipe without label tying, e.g. recipe='image-untied' "
     "(label tying ties the conv Ω's label channels; the dense Ω has none)"),
    ("ising", dict(omega_noise="role"), "omega_noise='role' needs omega='conv' (the dense Ω draws its noise per entry)"),
    ("image-untied", dict(omega_noise="role"), "omega_noise='role' needs tie_labels (the roles are the tied kernels)"),
    ("image-untied", dict(offset="region"), "offset='region' needs tie_labels and noise_rank=1 (it is the tied label offset, drawn per region)"),
    ("image", dict(noise_rank=2), "offset='region' needs tie_labels and noise_rank=1 (it is the tied label offset, drawn per region)"),
    *[(name, dict(learn_offset_mean=True, **more), "learn_offset_mean needs a recipe with the global tied label offset, "
       "e.g. recipe='image-global' (tie_labels, noise_rank > 0, offset 'global'): it learns that offset's mean")
      for name, more in [("ising", dict(noise_rank=1)), ("image-global", dict(noise_rank=0)), ("image", {})]],
]


@pytest.mark.parametrize("name, override, message", BAD + CROSS, ids=[f"{n}-{o}" for n, o, _ in BAD + CROSS])
def test_each_bad_setting_is_refused_in_one_line_by_the_settings(name, override, message):
    with pytest.raises(ValueError) as err:
        RECIPES[name].settings.replace(**override)
    assert str(err.value) == message and "\n" not in message
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):  # the model refuses it the same way
        RandomizedFlow(6, 3, grid=(2, 3), recipe=name, **override)


def test_the_good_combinations_pass():
    assert RECIPES["image-global"].settings.replace(learn_offset_mean=True).learn_offset_mean
    assert RECIPES["ising"].settings.replace(omega="conv", omega_noise="entry").omega == "conv"


def test_every_setting_is_documented_on_its_field():
    tree = ast.parse(inspect.getsource(FlowSettings))
    body = tree.body[0].body
    documented = {
        stmt.target.id for stmt, after in zip(body, body[1:])
        if isinstance(stmt, ast.AnnAssign) and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
        and isinstance(after.value.value, str) and after.value.value.strip()
    }
    assert documented == {f.name for f in dataclasses.fields(FlowSettings)}
    assert all(f.default is dataclasses.MISSING for f in dataclasses.fields(FlowSettings))  # every recipe says each


def _fresh_python(code: str) -> None:
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_the_recipes_import_without_torch_and_without_the_model():
    # one direction: randomized_flow → recipes → flow_settings; the command line's --help reads the recipes
    _fresh_python("import sys, models.flow.recipes\n"
                   "assert 'torch' not in sys.modules, 'torch'\n"
                   "assert 'models.flow.randomized_flow' not in sys.modules, 'cycle'")


def test_the_model_imports_first_without_a_cycle():
    _fresh_python("import models.flow.randomized_flow as m; assert m.RandomizedFlow.from_recipe")


@pytest.mark.parametrize("flags, name", [([], "image"), (["--ising", "2x3"], "ising"), (["--recipe", "paper", "--ising", "2x3"], "paper")])
def test_the_command_line_trains_the_recipe_as_it_is(flags, name):
    from run.build import build_datamodule, build_model

    config = train.parse(flags)
    energy = build_datamodule(config).energy
    model = build_model(config, energy)
    settings = RECIPES[name].settings.asdict()
    assert {k: model.hparams[k] for k in settings} == settings
    assert config.steps == RECIPES[name].max_steps


def test_checkpoints_saved_under_the_old_name_load_as_the_ising_recipe(tmp_path):
    old = RandomizedFlow(6, 2, seed=0)
    old.hparams["recipe"] = "flow"  # what checkpoints written before the recipes moved to models/flow/recipes.py hold
    path = tmp_path / "old.ckpt"
    torch.save({"state_dict": old.state_dict(), "hyper_parameters": dict(old.hparams), "pytorch-lightning_version": "2.6.0"}, path)
    loaded = RandomizedFlow.load_from_checkpoint(path)
    assert loaded.hparams.recipe == "ising" and loaded.hparams.rounding == RECIPES["ising"].settings.rounding
