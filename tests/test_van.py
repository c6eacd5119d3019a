"""The VAN baseline (models/baselines/van.py): exact normalisation, exact sampling, causal masks, training, contract."""

import itertools
import math

import lightning as L
import pytest
import torch

from conftest import gen, quiet_trainer
from data import IsingDataModule
from energies import GridPottsEnergy
from energies.exact import exact_inference
from models import MeanField
from models.baselines.van import VAN, MaskedConv2d, raster_mask


def all_states(n: int, c: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product(range(c), repeat=n)))


def sharpen(model: VAN, factor: float = 4.0) -> VAN:
    """Scale the weights so that ``q`` is far from uniform (a stronger test than a near-uniform init)."""
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(factor)
    return model


@pytest.mark.parametrize("H, W, c", [(2, 3, 2), (2, 2, 3), (3, 2, 2)])
def test_log_q_is_exactly_normalised(H, W, c):
    model = sharpen(VAN(H * W, c, grid=(H, W), channels=8, blocks=2, seed=1))
    with torch.no_grad():
        log_q = model.log_prob(all_states(H * W, c)).double()
    assert float(torch.logsumexp(log_q, 0).exp()) == pytest.approx(1.0, abs=1e-5)
    assert float(log_q.max() - log_q.min()) > 1.0  # far from uniform: the check has teeth


def test_masked_convolution_matches_the_masked_kernel():
    for k, kind in itertools.product((3, 5), "AB"):
        conv = MaskedConv2d(3, 4, k, kind)
        assert int(raster_mask(k, kind).sum()) == k * (k // 2) + k // 2 + (kind == "B")
        x = torch.randn(2, 3, 5, 6)
        ref = torch.nn.functional.conv2d(x, conv.weight * raster_mask(k, kind), conv.bias, padding=k // 2)
        assert torch.allclose(conv(x), ref, atol=1e-6)


def test_output_at_a_pixel_ignores_inputs_at_and_after_it():
    """Jacobian of the logits at pixel i w.r.t. every input pixel: zero for pixels ≥ i, not all zero before."""
    H, W, c = 3, 4, 3
    model = VAN(H * W, c, grid=(H, W), channels=8, blocks=3, kernel_size=3, seed=0)
    x = torch.randn(1, c, H, W, requires_grad=True)
    logits = model.net(x)
    for i in range(H * W):
        (grad,) = torch.autograd.grad(logits[0, :, i // W, i % W].sum(), x, retain_graph=True)
        per_pixel = grad[0].abs().sum(0).reshape(-1)
        assert float(per_pixel[i:].abs().max()) == 0.0, i
        if i % W:
            assert float(per_pixel[i - 1]) > 0, i  # the left neighbour is seen
        if i >= W:
            assert float(per_pixel[i - W]) > 0, i  # and the one above
    # perturbation: changing pixels ≥ i leaves the log-probabilities of pixels < i … unchanged
    base = torch.randint(0, c, (5, H * W), generator=gen(0))
    for i in range(H * W):
        changed = base.clone()
        changed[:, i:] = torch.randint(0, c, (5, H * W - i), generator=gen(i + 1))
        a = model.net(torch.nn.functional.one_hot(base.view(5, H, W), c).permute(0, 3, 1, 2).float())
        b = model.net(torch.nn.functional.one_hot(changed.view(5, H, W), c).permute(0, 3, 1, 2).float())
        # the conditional at pixel i (a distribution over its label) only depends on pixels < i
        assert torch.allclose(a.reshape(5, c, -1)[:, :, : i + 1], b.reshape(5, c, -1)[:, :, : i + 1], atol=1e-6)


def test_cached_sampler_agrees_with_the_parallel_pass():
    model = sharpen(VAN(20, 3, grid=(4, 5), channels=8, blocks=2, kernel_size=5, seed=2), 2.0)
    with torch.no_grad():
        x, log_q = model.sample_with_log_prob(300, gen(0))
        assert x.shape == (300, 20) and x.dtype == torch.long
        assert torch.allclose(model.log_prob(x), log_q, atol=1e-4)


def test_sampling_frequencies_match_q():
    """Chi-square of 200k samples on the 16 states of a 2×2 grid against exp(log q)."""
    model = sharpen(VAN(4, 2, grid=(2, 2), channels=8, blocks=2, seed=3), 3.0)
    m = 200_000
    with torch.no_grad():
        q = model.log_prob(all_states(4, 2)).double().exp()
        x = model.sample(m, gen(5))
    counts = torch.bincount((x * torch.tensor([8, 4, 2, 1])).sum(1), minlength=16).double()
    expected = m * q
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 40.0, chi2  # 15 degrees of freedom: P(χ² > 40) ≈ 5e-4
    assert float(q.max() / q.min()) > 5  # a far-from-uniform q


def exact_kl(model: VAN, energy, log_z: float) -> float:
    states = all_states(energy.n, energy.c)
    with torch.no_grad():
        log_q = model.log_prob(states).double()
    return float((log_q.exp() * (energy.energy(states).double() + log_q)).sum()) + log_z


def test_kl_by_enumeration_and_by_samples_agree():
    energy = GridPottsEnergy(torch.randn(3, 3, 2, generator=gen(0)), beta=1.0, dtype=torch.float64)
    log_z = exact_inference(energy).log_z
    model = sharpen(VAN(9, 2, grid=(3, 3), channels=8, blocks=2, seed=4), 2.0)
    kl = exact_kl(model, energy, log_z)
    with torch.no_grad():
        x, log_q = model.sample_with_log_prob(20_000, gen(6))
    terms = energy.energy(x).double() + log_q.double() + log_z
    stderr = float(terms.std()) / math.sqrt(len(terms))
    assert abs(float(terms.mean()) - kl) < 4 * stderr + 1e-4, (float(terms.mean()), kl, stderr)
    assert kl > 0.1


def test_training_brings_the_kl_below_mean_field():
    """3×4 Table-1-like instance (4,096 states, two domain-wall modes): exact KLs from log q."""
    L.seed_everything(0, verbose=False)
    dm = IsingDataModule(3, 4)
    energy = dm.energy
    log_z = exact_inference(energy).log_z
    model = VAN(12, 2, grid=(3, 4), channels=16, blocks=2, batch_size=128, lr=3e-3, anneal_fraction=0.3)
    untrained = exact_kl(model, energy, log_z)
    trainer = quiet_trainer(300)
    trainer.fit(model, datamodule=dm)
    for key in ("train/free_energy", "train/energy", "train/entropy"):
        assert key in trainer.callback_metrics
    trained = exact_kl(model, energy, log_z)
    mf = MeanField(12, 2, restarts=50, lr=0.1)
    quiet_trainer(300).fit(mf, datamodule=dm)
    mf_kl = float(mf.free_energies().detach().min()) + log_z
    assert trained < 0.3 * untrained, (trained, untrained)
    assert trained < mf_kl, (trained, mf_kl)
    # the logged free energy is the β = 1 figure: ⟨E + log q⟩ = KL − log Z (one batch of 128: loose)
    assert float(trainer.callback_metrics["train/free_energy"]) + log_z == pytest.approx(trained, abs=0.5)


def test_energy_weight_ramps_from_the_floor():
    model = VAN(4, 2, grid=(2, 2), anneal_fraction=0.5, beta_floor=0.05, schedule_steps=100)

    class FakeTrainer:
        max_steps, global_step = 100, 0

    object.__setattr__(model, "_trainer", FakeTrainer())
    model.train()
    weights = []
    for step in (0, 1, 25, 50, 99):
        FakeTrainer.global_step = step
        weights.append(model.energy_weight())
    assert weights == pytest.approx([0.05, 0.05, 0.5, 1.0, 1.0])
    model.eval()
    assert model.energy_weight() == 1.0


def test_contract_marginals_and_checkpoint(tmp_path):
    L.seed_everything(0, verbose=False)
    model = VAN(6, 2, grid=(2, 3), channels=8, blocks=1, batch_size=16)
    trainer = quiet_trainer(3)
    trainer.fit(model, datamodule=IsingDataModule(2, 3))
    marg = model.marginals(2000, gen(0))
    assert marg.shape == (6, 2) and torch.allclose(marg.sum(1), torch.ones(6))
    path = tmp_path / "van.ckpt"
    trainer.save_checkpoint(path)
    loaded = VAN.load_from_checkpoint(path)
    assert loaded.hparams.grid == (2, 3) and loaded.hparams.channels == 8
    assert torch.equal(model.sample(20, gen(3)), loaded.sample(20, gen(3)))
    x = model.sample(10, gen(4))
    assert torch.allclose(model.log_prob(x), loaded.log_prob(x))


def test_bad_arguments():
    with pytest.raises(ValueError, match="grid"):
        VAN(6, 2)
    with pytest.raises(ValueError, match="does not hold"):
        VAN(6, 2, grid=(2, 2))
    with pytest.raises(ValueError, match="kernel_size"):
        VAN(6, 2, grid=(2, 3), kernel_size=4)
    with pytest.raises(ValueError, match="grid"):
        VAN(6, 2, grid=(3, 2)).attach_energy(GridPottsEnergy(torch.zeros(2, 3, 2)))
    with pytest.raises(ValueError, match="shape"):
        VAN(6, 2, grid=(2, 3)).log_prob(torch.zeros(3, 5, dtype=torch.long))
