"""Two CPU processes (DDP, gloo) estimate the same free energy gradient as one process on the same m samples."""

from __future__ import annotations

import lightning as L
import pytest
import torch

from data import IsingDataModule
from models.flow.randomized_flow import RandomizedFlow

M = 8


class FixedDraws(RandomizedFlow):
    """The m draws of a step come from a fixed generator; process r uses draws [r·m/W, (r+1)·m/W)."""

    def run_flow(self, m, generator=None, window=None):
        world, rank = self.world()
        g = torch.Generator().manual_seed(123)
        all_draws = self.flow(self.start(M, g), self.omega(M, g), self.omega.layout)
        return all_draws[rank * m : (rank + 1) * m], None

    def round(self, S, generator=None, log=False):
        world, rank = self.world()
        S = S.exp() if log else S
        u = torch.rand(M, self.n, 1, generator=torch.Generator().manual_seed(7))[rank * len(S) : (rank + 1) * len(S)]
        return (u > S.cumsum(-1)).sum(-1).clamp_max(self.c - 1)

    def on_after_backward(self):
        if self.trainer.is_global_zero:
            grads = {k: p.grad.detach().clone() for k, p in self.named_parameters() if p.grad is not None}
            torch.save(grads, self.grads_path)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0)


def gradients(tmp_path, devices: int) -> dict:
    model = FixedDraws(6, 2, grid=(2, 3), samples_per_step=M, s0_noise=0.5, seed=0)
    model.grads_path = str(tmp_path / f"grads{devices}.pt")
    strategy = "ddp_spawn" if devices > 1 else "auto"
    trainer = L.Trainer(
        max_steps=1, accelerator="cpu", devices=devices, strategy=strategy, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
    )
    trainer.fit(model, IsingDataModule(2, 3))
    return torch.load(model.grads_path)


def test_two_processes_give_the_one_process_gradient(tmp_path):
    # DDP averages the per-process gradients of the local mean losses: with the gathered mixture this is
    # the gradient of the mean over all m samples, as on one process.
    one, two = gradients(tmp_path, 1), gradients(tmp_path, 2)
    assert set(one) == set(two) and len(one) >= 3
    for key in one:
        torch.testing.assert_close(two[key], one[key], rtol=1e-4, atol=1e-6, msg=lambda m, key=key: f"{key}: {m}")


def test_samples_must_split_evenly():
    model = RandomizedFlow(6, 2, samples_per_step=8)
    model.world = lambda: (3, 0)
    with pytest.raises(ValueError, match="divisible by the number of processes"):
        model.free_energy_terms()
