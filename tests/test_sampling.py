"""A stationary model: crops, training on them, and sample.py on the model's own image, a new one, or no model."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import LABELS, REPO, gen, quiet_trainer, write_tiny_image
from data.energy_datamodule import GivenEnergy
from energies.exact import exact_inference
from energies.grid_potts import GridPottsEnergy
from models.baselines.chains import RandomStartChains
from models.flow.randomized_flow import RandomizedFlow


def test_a_crop_is_the_energy_of_its_window():
    """Against the energy written out by hand: the window's unaries plus β per disagreeing pair inside it."""
    full = GridPottsEnergy(torch.randn(5, 7, 3, generator=gen(1)), beta=1.3)
    crop = full.crop(1, 2, 3, 4)
    x = torch.randint(0, 3, (50, 3, 4), generator=gen(2))
    unary = full.unary[1:4, 2:6].reshape(-1, 3).gather(1, x.reshape(50, -1).T).sum(0)
    pairs = (x[:, :, 1:] != x[:, :, :-1]).sum((1, 2)) + (x[:, 1:] != x[:, :-1]).sum((1, 2))
    torch.testing.assert_close(crop.energy(x.reshape(50, -1)), unary + 1.3 * pairs)
    with pytest.raises(ValueError, match="not inside"):
        full.crop(3, 0, 3, 7)


def test_a_stationary_model_has_nothing_per_pixel_and_loads_onto_another_grid():
    small = GridPottsEnergy(torch.randn(4, 5, 3, generator=gen(1)))
    large = GridPottsEnergy(torch.randn(9, 11, 3, generator=gen(2)))
    a, b = (RandomizedFlow.from_recipe("image-stationary", e) for e in (small, large))
    learned_a = {k: v.shape for k, v in a.named_parameters()}
    assert learned_a == {k: v.shape for k, v in b.named_parameters()}
    b.load_state_dict({k: v for k, v in a.state_dict().items() if k not in ("start.logits", "start.representative")}, strict=False)
    assert b.sample(3, gen(0)).shape == (3, 99)
    per_pixel = RandomizedFlow.from_recipe("image", small)
    assert per_pixel.start.scale.shape == (20, 1)  # the control: the default start holds a row per pixel


def test_training_on_crops_uses_a_window_per_step_and_samples_the_whole_image():
    energy = GridPottsEnergy(torch.randn(10, 12, 3, generator=gen(3)))
    model = RandomizedFlow.from_recipe("image", energy, crop=6, samples_per_step=4)  # per-pixel parameters: a crop's rows
    torch.manual_seed(0)
    first = model.training_window()
    torch.manual_seed(0)
    again = model.training_window()
    assert first.grid == (6, 6) and torch.equal(first.nodes, again.nodes)  # from the seed and step: the same on every process
    rows, cols = first.nodes // 12, first.nodes % 12
    assert rows.max() - rows.min() == 5 and cols.max() - cols.min() == 5
    labels = torch.randint(0, 3, (7, 120), generator=gen(4))
    torch.testing.assert_close(first.energy.energy(labels[:, first.nodes]),
                               energy.crop(int(rows.min()), int(cols.min()), 6, 6).energy(labels[:, first.nodes]))
    quiet_trainer(3).fit(model, GivenEnergy(energy))
    assert model.sample(5, gen(0)).shape == (5, 120)


def test_heat_bath_chains_from_random_labelings_reach_the_exact_marginals():
    """The chains ``sample.py --sampler hb`` runs, against enumeration of a 2×3 image (the first sweep
    alone is the control: it is far from P*)."""
    energy = GridPottsEnergy(torch.randn(2, 3, 3, generator=gen(5)) * 2, beta=1.5)
    exact = exact_inference(energy).marginals
    tv = lambda model: float(0.5 * (model.marginals(20_000, gen(6)) - exact).abs().sum(1).mean())  # noqa: E731
    assert tv(RandomStartChains(energy, "hb", sweeps=30)) < 0.015
    assert tv(RandomStartChains(energy, "sw", sweeps=30)) < 0.015
    assert tv(RandomStartChains(energy, "line", sweeps=30)) < 0.015
    assert tv(RandomStartChains(energy, "sw,hb", sweeps=15)) < 0.015
    assert tv(RandomStartChains(energy, "hb", sweeps=1)) > 0.03


def _sample(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "sample.py"), *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_sample_py_samples_a_new_image_with_a_trained_model(tmp_path):
    import run

    image = write_tiny_image(tmp_path / "a.png")
    result = run.train(run.RunConfig(image=image, labels=LABELS, recipe="image-stationary", max_steps=3, samples=4, summary_samples=64,
                                      root_dir=tmp_path / "runs", quiet=True))
    ckpt = result.folder / "checkpoints" / "last.ckpt"
    other = write_tiny_image(tmp_path / "b.png", h=6, w=9)
    done = _sample(str(ckpt), "--image", str(other), "--samples", "64", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["image_size"] == [6, 9] and summary["labels"] == ["background", "cat", "lion"]  # the checkpoint's given labels
    assert np.load(tmp_path / "out" / "samples.npy").shape == (64, 6, 9)
    assert {"marginals.npy", "joint_samples.png", "uncertainty.png"} <= set(summary["files"])
    # its own image, by default into the run folder
    done = _sample(str(ckpt), "--samples", "64", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (result.folder / "samples" / "a" / "samples.npy").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        ((), "needs a checkpoint"),
        (("nothing.ckpt",), "not found"),
        (("--sampler", "hb"), "needs --image"),
        (("--sampler", "hb", "--image", "cat_lion.png", "--sweeps", "0"), "--sweeps must be an integer ≥ 1"),
        (("--sampler", "hb", "--image", "cat_lion.png", "--device", "nowhere"), "--device 'nowhere' is not a device"),
        (("--sampler", "none", "--image", "cat_lion.png"), "--sampler must be flow, a kernel (sw, line, hb) or a schedule"),
        (("--sampler", "gibbs", "--image", "cat_lion.png"), "--sampler must be flow, a kernel (sw, line, hb) or a schedule"),
        (("--sampler", "heat-bath", "--image", "cat_lion.png"), "--sampler heat-bath is now called hb"),
    ],
)
def test_sample_py_bad_input_is_one_line(tmp_path, args, message):
    done = _sample(*args, cwd=tmp_path)
    assert done.returncode == 2 and message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


@pytest.mark.parametrize("model, message", [("meanfield", "its own image"), ("flow", "--recipe image-stationary")])
def test_a_per_pixel_model_refuses_a_new_image_in_one_line(tmp_path, model, message):
    import run

    image = write_tiny_image(tmp_path / "a.png")
    result = run.train(run.RunConfig(image=image, labels=LABELS, model=model, max_steps=2, summary_samples=64, root_dir=tmp_path / "runs",
                                     quiet=True, **({"samples": 4} if model == "flow" else {})))
    done = _sample(str(result.folder / "checkpoints" / "last.ckpt"), "--image", str(image), cwd=tmp_path)
    assert done.returncode == 2 and message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_sample_py_never_overwrites_results(tmp_path):
    (tmp_path / "out").mkdir()
    kept = tmp_path / "out" / "summary.json"
    kept.write_text("earlier results")
    done = _sample("--sampler", "hb", "--sweeps", "1", "--image", "cat_lion.png", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert done.returncode == 2 and "already holds files" in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert kept.read_text() == "earlier results"


def test_sample_py_runs_chains_without_a_model(tmp_path):
    image = write_tiny_image(tmp_path / "a.png")
    done = _sample("--sampler", "sw", "--sweeps", "3", "--image", str(image), "--labels", LABELS, "--samples", "64",
                   "--out", str(tmp_path / "sw"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "sw" / "summary.json").read_text())["sampler"] == "sw"


def test_sample_py_samples_many_images_each_into_its_folder_and_skips_a_bad_one(tmp_path, capsys):
    import sample

    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("b", "c"):
        write_tiny_image(photos / f"{name}.png")
    write_tiny_image(tmp_path / "a.png", w=6)  # 4×6: small grids keep the exact references of the summary quick
    (photos / "broken.png").write_bytes(b"not an image")
    chains = ["--sampler", "line", "--sweeps", "2", "--labels", LABELS, "--samples", "64"]
    code = sample.main([*chains, "--image", str(tmp_path / "a.png"), str(photos / "*.png"), "--out", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert code == 2  # one image failed
    assert err.strip().splitlines() == [next(line for line in err.splitlines() if "broken.png" in line)]  # one line, that image's
    assert err.startswith(f"sample.py: error: {photos / 'broken.png'}: cannot read image")
    assert "3 of 4 images sampled; 1 failed" in out
    for name, grid in (("a", [4, 6]), ("b", [4, 5]), ("c", [4, 5])):
        summary = json.loads((tmp_path / "out" / name / "summary.json").read_text())
        assert summary["image_size"] == grid and summary["sampler"] == "line"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a", "b", "c"]  # nothing of the broken one
    # all good: exit code 0; a --unary has one image
    assert sample.main([*chains, "--image", str(photos / "[bc].png"), "--out", str(tmp_path / "again")]) == 0
    assert sorted(p.name for p in (tmp_path / "again").iterdir()) == ["b", "c"]
    capsys.readouterr()
    assert sample.main([*chains, "--image", str(photos / "b.png"), str(photos / "c.png"), "--unary", str(tmp_path / "p.npy")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--unary is the data term of one image" in err[0], err


def test_a_run_of_an_image_writes_its_map_and_entropy(tmp_path):
    image = write_tiny_image(tmp_path / "a.png")
    done = _sample("--sampler", "hb", "--sweeps", "3", "--image", str(image), "--labels", LABELS, "--samples", "64",
                   "--out", str(tmp_path / "hb"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "hb"
    assert {"entropy.npy", "map.png"} <= set(json.loads((out / "summary.json").read_text())["files"])
    marginals = torch.from_numpy(np.load(out / "marginals.npy"))
    entropy = np.load(out / "entropy.npy")
    assert entropy.dtype == np.float32 and entropy.shape == (4, 5)
    np.testing.assert_allclose(entropy, -(marginals * marginals.clamp_min(1e-30).log()).sum(-1).numpy(), atol=1e-5)
    from PIL import Image

    picture = np.asarray(Image.open(out / "map.png"))
    scale = picture.shape[0] // 4
    assert picture.shape == (4 * scale, 5 * scale, 3) and scale > 1  # the map's own size, upscaled like the samples
    colours = np.array([[0, 0, 0], [128, 128, 128], [255, 255, 255]])  # LABELS
    np.testing.assert_array_equal(picture[::scale, ::scale], colours[marginals.argmax(-1).numpy()])
