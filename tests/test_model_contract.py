"""One contract test over every model: what the callbacks, train.py and the benchmarks rely on.

``sample(m, generator)`` gives ``(m, n)`` long labels in ``[0, c)`` on the model's device, the same labels for
the same generator state; ``marginals(m, generator)`` gives ``(n, c)`` rows on the simplex that agree with
the samples' own label frequencies; a trainer step runs with the energy served by a DataModule; and
``load_from_checkpoint`` alone gives a model that samples the same.
"""

from __future__ import annotations

import lightning as L
import pytest
import torch

from conftest import gen, quiet_trainer
from data import IsingDataModule
from models import MeanField
from models.flow.randomized_flow import RandomizedFlow
from models.flow.recipes import RECIPES
from models.baselines.van import VAN

H, W, C = 2, 3, 2
# every baseline and every recipe of the flow, as the command line builds them (the recipe's own start, here
# the Ising grid's zero unary for the image recipes), with small batches
BASELINES = {
    "meanfield": lambda energy: MeanField(H * W, C, restarts=4),
    "van": lambda energy: VAN(H * W, C, grid=(H, W), batch_size=8),
}
MODELS = {
    **BASELINES,
    **{f"flow {name}": (lambda energy, name=name: RandomizedFlow.from_recipe(name, energy, samples_per_step=8)) for name in RECIPES},
}


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_keeps_the_contract(name, tmp_path):
    L.seed_everything(0, verbose=False)
    datamodule = IsingDataModule(H, W)
    model = MODELS[name](datamodule.energy)
    trainer = quiet_trainer(2)
    trainer.fit(model, datamodule=datamodule)
    model.eval()
    with torch.no_grad():
        x = model.sample(4000, gen(1))
        assert x.shape == (4000, H * W) and x.dtype == torch.long and x.device == model.device
        assert 0 <= int(x.min()) and int(x.max()) < C
        assert torch.equal(model.sample(50, gen(2)), model.sample(50, gen(2)))  # same computation, same machine
        marginals = model.marginals(4000, gen(3)) if name != "meanfield" else model.marginals()
        assert marginals.shape == (H * W, C)
        torch.testing.assert_close(marginals.sum(-1).double(), torch.ones(H * W, dtype=torch.float64), atol=1e-5, rtol=0)
        empirical = torch.nn.functional.one_hot(x, C).double().mean(0)
        # marginals are the label frequencies of the model's own samples (within noise), except under argmax
        # rounding, where eq. (24) averages the soft S(T) that argmax rounds (documented, README)
        if getattr(model.hparams, "rounding", None) != "argmax":
            assert float((empirical - marginals.double()).abs().max()) < 0.04
        assert torch.isfinite(model.energy.energy(x).double()).all()

    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)
    loaded = type(model).load_from_checkpoint(path).attach_energy(model.energy)
    loaded.eval()
    model.trainer = None  # an automatic finish reuses what it settled on at the trainer's step; off it, both decide afresh
    with torch.no_grad():
        assert torch.equal(loaded.sample(20, gen(5)), model.sample(20, gen(5)))
