"""Mean field: exact where the target factorizes; Table 1's baseline figures (slow)."""

import lightning as L
import pytest
import torch

from conftest import quiet_trainer
from data import EnergyDataModule, IsingDataModule
from energies import PairwiseEnergy
from energies.exact import exact_inference
from energies.sample_stats import marginal_difference
from models import MeanField


class FixedEnergy(EnergyDataModule):
    def __init__(self, energy):
        super().__init__()
        self._energy = energy


def fit(model, datamodule, steps):
    quiet_trainer(steps).fit(model, datamodule)
    return model


def test_mean_field_is_exact_for_independent_nodes():
    L.seed_everything(0)
    energy = PairwiseEnergy(torch.randn(4, 3), torch.zeros(0, 2), torch.zeros(3, 3))
    model = fit(MeanField(4, 3, restarts=8, lr=0.1), FixedEnergy(energy), 400)
    exact = exact_inference(energy)
    torch.testing.assert_close(model.marginals().double(), exact.marginals, atol=1e-3, rtol=0)
    assert float(model.free_energies().min()) + exact.log_z == pytest.approx(0.0, abs=1e-4)
    samples = model.sample(20000, generator=torch.Generator().manual_seed(1))
    assert samples.shape == (20000, 4) and samples.dtype == torch.long
    assert marginal_difference(torch.nn.functional.one_hot(samples, 3).double().mean(0), exact.marginals) < 0.02


def test_mean_field_rejects_an_energy_of_another_size():
    model = MeanField(5, 2, restarts=2)
    with pytest.raises(ValueError, match="built for n=5"):
        model.attach_energy(PairwiseEnergy(torch.zeros(4, 2), torch.zeros(0, 2), torch.zeros(2, 2)))


@pytest.mark.slow
def test_mean_field_reproduces_table1_baseline():
    L.seed_everything(0)
    dm = IsingDataModule()
    model = fit(MeanField(24, 2, restarts=200), dm, 1500)
    exact = exact_inference(dm.energy)
    kl = float(model.free_energies().min()) + exact.log_z
    assert kl == pytest.approx(1.974, abs=0.02)
    assert marginal_difference(model.marginals(), exact.marginals) == pytest.approx(0.198, abs=0.02)
