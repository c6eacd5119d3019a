"""Callbacks: argument checks, what they record, exact metrics when enumerable, the run folder files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from callbacks import RunSummary, SampleImages, SampleMetrics
from conftest import quiet_trainer
from data.energy_datamodule import EnergyDataModule
from energies import GridPottsEnergy, ising_energy
from metrics.coherence import fig1_figures, pixelwise_samples, subject_coherence
from models import MeanField
from run.console import stage_bar


class _EnergyDM(EnergyDataModule):
    """Serves a fixed energy, with optional label names/colours like the image DataModule."""

    def __init__(self, energy, names=None, colours=None):
        super().__init__(steps_per_epoch=10)
        self._fixed, self.label_names, self.label_colours = energy, names, colours

    def build_energy(self):
        return self._fixed


def _potts3(h=3, w=4) -> GridPottsEnergy:
    unary = torch.zeros(h, w, 3)
    unary[:, :1, 1:] = 5.0  # left column: background
    unary[:, 1:, 0] = 5.0  # rest: the subject, cat or lion alike
    return GridPottsEnergy(unary, beta=1.0)


def _fit(callbacks, energy, steps=4, tmp_path=None, dm_kwargs=None):
    torch.manual_seed(0)
    model = MeanField(energy.n, energy.c, restarts=8, lr=0.1)
    trainer = quiet_trainer(steps, callbacks=callbacks, devices=1, default_root_dir=str(tmp_path) if tmp_path else None)
    trainer.fit(model, datamodule=_EnergyDM(energy, **(dm_kwargs or {})))
    return trainer, model


# -- argument checks -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: SampleMetrics(every_n_steps=0), "every_n_steps"),
        (lambda: SampleMetrics(samples=-1), "samples"),
        (lambda: SampleMetrics(exact="yes"), "exact"),
        (lambda: SampleImages(every_n_steps=1.5), "every_n_steps"),
        (lambda: RunSummary(samples=10), "64"),
    ],
)
def test_arguments_are_checked(make, match):
    with pytest.raises(ValueError, match=match):
        make()


# -- metrics -------------------------------------------------------------------------------------------
def test_metrics_exact_when_enumerable():
    metrics = SampleMetrics(every_n_steps=2, samples=256)
    _fit([metrics], ising_energy(2, 3), steps=5)
    assert [r["step"] for r in metrics.logged] == [2, 4, 5]  # every 2 steps, and the end
    last = metrics.latest
    for key in ("eval/kl", "eval/marginal_diff", "eval/energy", "eval/entropy", "eval/free_energy", "eval/exact_free_energy"):
        assert np.isfinite(last[key]), key
    assert last["eval/kl"] > -0.05  # a KL (up to the entropy estimate's error)
    assert 0 <= last["eval/marginal_diff"] <= 1
    # KL[P̂ : P*] from the counts against exact probabilities equals F(P̂) − F* from the mean energy, up to
    # the Miller–Madow correction (support − 1) / 2m of the entropy: two independent paths to one number
    gap = last["eval/free_energy"] - last["eval/exact_free_energy"] - last["eval/kl"]
    assert -1e-6 <= -gap <= (last["eval/support"] - 1) / (2 * 256) + 1e-6


def test_metrics_without_exact_on_large_grids():
    metrics = SampleMetrics(every_n_steps=1, samples=64)
    _fit([metrics], ising_energy(7, 8), steps=2)  # 2^56 states, halves of 2^28: not enumerated
    assert "eval/kl" not in metrics.latest and np.isfinite(metrics.latest["eval/energy"])
    with pytest.raises(ValueError, match="over the limit"):
        SampleMetrics(exact=True).check_energy(ising_energy(7, 8))


def test_metrics_fixed_noise_repeats():
    metrics = SampleMetrics(samples=128)
    _, model = _fit([metrics], ising_energy(2, 3), steps=1)
    assert metrics.compute(model) == metrics.compute(model)


# -- images --------------------------------------------------------------------------------------------
def test_images_recorded_and_comparable():
    images = SampleImages(every_n_steps=2, samples=8, nrow=4, marginal_samples=16)
    _, model = _fit([images], _potts3(), steps=4, dm_kwargs=dict(names=["background", "cat", "lion"], colours=torch.eye(3)))
    steps = sorted({r["step"] for r in images.logged})
    assert steps == [0, 2, 4]
    drawn = set(SampleImages.TAGS) - {"images/overview"}  # no image behind this energy: nothing to show beside the maps
    assert {r["tag"] for r in images.logged} == drawn
    for tag in drawn:
        img = images.images[tag]
        assert img.dim() == 3 and img.shape[-1] == 3 and 0 <= float(img.min()) and float(img.max()) <= 1
    joint = images.images["images/joint_samples"]
    scale = 96 // 4
    assert joint.shape == (2 * (3 * scale + 1) + 1, 4 * (4 * scale + 1) + 1, 3)  # 8 samples, 4 per row
    # the label colours are used (eye(3)), and white between the samples
    colours = {tuple(v) for v in joint.reshape(-1, 3).tolist()}
    assert colours <= {(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (1.0, 1.0, 1.0)}


def test_images_skip_energies_without_grid():
    from energies import PairwiseEnergy

    energy = PairwiseEnergy(torch.zeros(4, 2), torch.tensor([[0, 1], [1, 2]]), torch.zeros(2, 2, 2))
    images = SampleImages(every_n_steps=1)
    _fit([images], energy, steps=2)
    assert images.logged == []


# -- summary -------------------------------------------------------------------------------------------
def test_summary_writes_the_run_folder(tmp_path):
    summary = RunSummary(samples=64, marginal_samples=32, extra={"note": "test"})
    trainer, model = _fit([summary], _potts3(), steps=3, tmp_path=tmp_path, dm_kwargs=dict(names=["background", "cat", "lion"]))
    files = {p.name for p in tmp_path.iterdir()}
    assert {"summary.json", "samples.npy", "marginals.npy", "joint_samples.png", "pixelwise_samples.png", "marginals.png", "legend.png", "fig1.png"} <= files
    assert not any(".tmp" in f for f in files)
    samples, marginals = np.load(tmp_path / "samples.npy"), np.load(tmp_path / "marginals.npy")
    assert samples.shape == (64, 3, 4) and np.issubdtype(samples.dtype, np.integer) and samples.max() < 3
    assert marginals.shape == (3, 4, 3) and np.allclose(marginals.sum(-1), 1, atol=1e-5)
    data = json.loads((tmp_path / "summary.json").read_text())
    assert data["labels"] == ["background", "cat", "lion"] and data["image_size"] == [3, 4] and data["steps"] == 3
    assert data["note"] == "test" and "free_energy" in data["final"]
    # 3^12 states: exact; the plug-in KL only where the 64 samples cover the model's mass, the bounds always
    assert {"marginal_diff", "kl_lower", "kl_upper"} <= set(data["samples"])
    assert ("kl" in data["samples"]) != ("plugin_withheld" in data["samples"])
    fig = data["fig1"]
    assert fig["subject_pixels"] == 9 and 0 <= fig["cat_share"] <= 1 and fig["cat_label"] == "cat"
    assert 0 < fig["subject_coherence"] <= 1 and 0 < fig["pixelwise_coherence"] <= 1


def test_summary_shows_the_stages_of_its_evaluation(tmp_path, capsys):
    quiet = RunSummary(samples=64, marginal_samples=32)
    _fit([quiet], _potts3(), steps=2, tmp_path=tmp_path / "quiet")
    assert "final evaluation" not in capsys.readouterr().out  # off by default
    shown = RunSummary(samples=64, marginal_samples=32, progress=stage_bar)  # train.py's and sample.py's bar
    _fit([shown], _potts3(), steps=2, tmp_path=tmp_path / "shown")
    out = capsys.readouterr().out
    assert "final evaluation" in out and "4/4" in out
    assert all(name in out for name in ("samples", "bounds", "marginals", "files"))
    assert (tmp_path / "shown" / "summary.json").exists()


def test_summary_seconds_carry_over():
    s = RunSummary()
    s.load_state_dict({"seconds": 12.5})
    assert s.state_dict()["seconds"] == 12.5


# -- Fig. 1 figures ------------------------------------------------------------------------------------
def test_fig1_figures_on_constructed_samples():
    n = 100
    marginals = torch.tensor([[0.0, 0.5, 0.5]]).repeat(n, 1)
    marginals[:10] = torch.tensor([1.0, 0.0, 0.0])  # 10 background pixels, 90 subject pixels
    cat = torch.cat([torch.zeros(10), torch.ones(90)]).long()
    lion = torch.cat([torch.zeros(10), 2 * torch.ones(90)]).long()
    joint = torch.stack([cat] * 30 + [lion] * 70)
    fig = fig1_figures(joint, marginals, ["background", "cat", "lion"], generator=torch.Generator().manual_seed(0))
    assert fig["subject_coherence"] == 1.0 and fig["cat_share"] == pytest.approx(0.3) and fig["subject_pixels"] == 90
    assert 0.5 <= fig["pixelwise_coherence"] < 0.6  # 90 fair coins: majority ≈ 0.5 + O(1/√90)
    broken = joint.clone()
    broken[:, 10:19] = 0  # a tenth of the subject labelled background counts against coherence
    assert subject_coherence(broken, marginals[:, 0] < 0.5, 0, 3)[0] == pytest.approx(0.9)


def test_pixelwise_samples_follow_marginals():
    marginals = torch.tensor([[0.2, 0.8], [1.0, 0.0]])
    s = pixelwise_samples(marginals, 4000, torch.Generator().manual_seed(0))
    assert s.shape == (4000, 2) and (s[:, 1] == 0).all()
    assert abs(float(s[:, 0].float().mean()) - 0.8) < 0.03


def test_metrics_fig1_scalars_on_image_grids():
    metrics = SampleMetrics(every_n_steps=2, samples=64)
    _fit([metrics], _potts3(), steps=2, dm_kwargs=dict(names=["background", "cat", "lion"]))
    last = metrics.latest
    assert 0 < last["eval/subject_coherence"] <= 1 and 0 <= last["eval/cat_share"] <= 1
    # 3^12 states: P* exact too, so the bounds and the marginal difference are logged; the plug-in KL only
    # while the samples repeat (mean field's 64 samples of a 12-pixel subject at even odds rarely do)
    assert {"eval/marginal_diff", "eval/kl_lower", "eval/kl_upper"} <= set(last)
    assert ("eval/kl" in last) == (metrics.withheld is None)


# -- uncertainty: pixel entropy and label changes --------------------------------------------------------
def test_pixel_entropy_in_nats():
    from metrics.uncertainty import pixel_entropy

    p = torch.tensor([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0]])
    assert torch.allclose(pixel_entropy(p), torch.tensor([0.0, np.log(3), np.log(2)], dtype=torch.float64), atol=1e-12)


def test_label_changes_from_samples_is_the_mean_over_all_pairs():
    from metrics.uncertainty import label_changes_from_marginals, label_changes_from_samples

    samples = torch.randint(0, 3, (9, 7), generator=torch.Generator().manual_seed(0))
    pairs = [(i, j) for i in range(9) for j in range(i + 1, 9)]
    brute = np.mean([int((samples[i] != samples[j]).sum()) for i, j in pairs])
    assert label_changes_from_samples(samples, 3) == pytest.approx(brute, abs=1e-12)
    # the same as m/(m−1) times the marginal formula of the samples' own marginals (an identity of the counts)
    empirical = torch.nn.functional.one_hot(samples, 3).double().mean(0)
    assert label_changes_from_samples(samples, 3) == pytest.approx(9 / 8 * label_changes_from_marginals(empirical), abs=1e-12)
    with pytest.raises(ValueError, match="2 samples"):
        label_changes_from_samples(samples[:1], 3)


def test_label_changes_of_a_joint_distribution_follow_its_marginals():
    """A strongly correlated joint (the whole subject is cat, or the whole subject is lion) changes, between
    two independent samples, Σ_i (1 − Σ_a p_ia²) pixels on average, like the product of its marginals."""
    from metrics.uncertainty import label_changes_from_marginals, label_changes_from_samples

    g = torch.Generator().manual_seed(1)
    n, m, share = 30, 20000, 0.3
    subject = torch.arange(n) >= 10  # 10 background pixels, 20 subject pixels
    cat = torch.rand(m, generator=g) < share  # one draw per sample for the whole subject
    joint = torch.where(subject, torch.where(cat[:, None], 1, 2), 0).long()
    noise = torch.rand(m, n, generator=g) < 0.1  # and a tenth of the pixels relabelled at random, independently
    joint = torch.where(noise, torch.randint(0, 3, (m, n), generator=g), joint)
    p = torch.zeros(n, 3, dtype=torch.float64)  # exact marginals of this joint
    p[~subject, 0] = 1.0
    p[subject, 1], p[subject, 2] = share, 1 - share
    p = 0.9 * p + 0.1 / 3
    expected = label_changes_from_marginals(p)
    # measured directly from disjoint pairs of independent joint samples
    hamming = (joint[0::2] != joint[1::2]).sum(1).double()
    assert float(hamming.mean()) == pytest.approx(expected, abs=4 * float(hamming.std()) / (m / 2) ** 0.5)
    assert label_changes_from_samples(joint, 3) == pytest.approx(expected, abs=4 * float(hamming.std()) / (m / 2) ** 0.5)
    # a joint with the same marginals but different correlations changes as many pixels (only which ones differ)
    product = torch.multinomial(p, m, replacement=True, generator=g).T
    assert label_changes_from_samples(product, 3) == pytest.approx(expected, abs=0.2)


def test_summary_logs_hparams_with_results(tmp_path):
    from lightning.pytorch.loggers import TensorBoardLogger

    summary = RunSummary(samples=64, marginal_samples=32, hparams={"lr": 0.1, "note": "x"})
    torch.manual_seed(0)
    model = MeanField(12, 3, restarts=4, lr=0.1)
    trainer = quiet_trainer(2, logger=TensorBoardLogger(str(tmp_path), default_hp_metric=False), callbacks=[summary], devices=1)
    trainer.fit(model, datamodule=_EnergyDM(_potts3(), names=["class0", "class1", "class2"]))
    params, metrics = summary.logged_hparams
    assert params["lr"] == 0.1 and params["note"] == "x" and params["model"] == "MeanField"
    assert {"hp/energy", "hp/label_changes", "hp/kl_upper", "hp/kl_lower", "hp/free_energy_upper", "hp/entropy_lower"} <= set(metrics)
    assert ("hp/kl" in metrics) != ("plugin_withheld" in summary.summary["samples"])
    assert "hp/cat_share" not in metrics and "fig1" not in summary.summary  # k-means style labels: no Fig. 1
    assert metrics["hp/label_changes"] == summary.summary["samples"]["label_changes"]
    assert (tmp_path / "lightning_logs" / "version_0" / "uncertainty.png").is_file()
