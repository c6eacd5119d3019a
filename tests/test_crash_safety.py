"""Crash safety: atomic checkpoint writes, a non-finite loss, kill -9 and Ctrl-C followed by resume."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import pytest
import torch

import run
from callbacks.run_guards import FiniteLossGuard, NonFiniteLossError
from conftest import REPO, quiet_trainer
from data import IsingDataModule
from models import MeanField
from run import RunConfig
from run.checkpoint_io import AtomicCheckpointIO


def test_an_interrupted_write_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    io = AtomicCheckpointIO()
    target = tmp_path / "last.ckpt"
    io.save_checkpoint({"global_step": 1, "w": torch.ones(3)}, target)

    def crash(obj, f):  # write half a file, then die as a kill would
        f.write(b"partial bytes")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint({"global_step": 2}, target)
    monkeypatch.undo()
    assert torch.load(target)["global_step"] == 1


class NaNAfter(MeanField):
    """Mean field whose loss turns NaN at a given step."""

    def __init__(self, bad_step: int = 3, **kwargs):
        super().__init__(**kwargs)
        self.bad_step = bad_step

    def training_step(self, batch, batch_idx):
        loss = super().training_step(batch, batch_idx)
        return loss * float("nan") if self.global_step == self.bad_step else loss


def guarded_trainer(folder: Path) -> L.Trainer:
    """Checkpoints every step, behind the finite guard."""
    ckpt = L.pytorch.callbacks.ModelCheckpoint(dirpath=folder, every_n_train_steps=1, save_last=True)
    return quiet_trainer(10, enable_checkpointing=True, callbacks=[FiniteLossGuard(), ckpt], plugins=[AtomicCheckpointIO()])


def test_a_non_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    trainer = guarded_trainer(tmp_path)
    with pytest.raises(NonFiniteLossError, match="at step 4; the last good checkpoint is kept"):
        trainer.fit(NaNAfter(bad_step=3, n=6, c=2, restarts=2), IsingDataModule(2, 3))
    saved = torch.load(tmp_path / "last.ckpt", weights_only=False)
    assert saved["global_step"] == 3
    assert all(torch.isfinite(v).all() for v in saved["state_dict"].values())


def _start(root: Path, steps: int) -> subprocess.Popen:
    argv = [sys.executable, str(REPO / "train.py"), "--ising", "2x3", "--model", "meanfield", "--restarts", "4",
            "--max-steps", str(steps), "--checkpoint-every", "1", "--log-every", "1000", "--root-dir", str(root)]
    return subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_steps(last: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if last.exists() and torch.load(last, weights_only=False)["global_step"] >= 5:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    raise AssertionError("training did not write checkpoints in time")


@pytest.mark.parametrize("sig, code", [(signal.SIGKILL, -9), (signal.SIGINT, 130), (signal.SIGTERM, 143)],
                         ids=["kill-9", "ctrl-c", "sigterm"])
def test_stopped_run_resumes_from_its_last_checkpoint(tmp_path, sig, code):
    last = tmp_path / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt"
    proc = _start(tmp_path, 100_000)
    _wait_for_steps(last, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    if sig != signal.SIGKILL:
        assert "interrupted at step" in err and "Traceback" not in err
    step = torch.load(last, weights_only=False)["global_step"]  # complete and readable after the stop
    # the stop needs a process of its own; the resume is the library's, in this one
    resumed = run.train(RunConfig(ising="2x3", model="meanfield", restarts=4, max_steps=step + 3, log_every=1000,
                                  root_dir=tmp_path, resume="last"))
    assert resumed.exit_code == 0 and resumed.folder == last.parents[1]
    assert torch.load(last, weights_only=False)["global_step"] == step + 3


class StopAt(L.Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step >= self.step:
            trainer.should_stop = True


def _fit_flow(root: Path, max_steps: int, stop_at: int | None = None, resume: Path | None = None):
    from callbacks.run_guards import LastCheckpoint
    from models.flow.randomized_flow import RandomizedFlow

    L.seed_everything(3, verbose=False)
    model = RandomizedFlow(6, 2, grid=(2, 3), samples_per_step=8, seed=3)
    callbacks = [LastCheckpoint(root)] + ([StopAt(stop_at)] if stop_at else [])
    trainer = quiet_trainer(max_steps, callbacks=callbacks, plugins=[AtomicCheckpointIO()])
    trainer.fit(model, IsingDataModule(2, 3, steps_per_epoch=4), ckpt_path=None if resume is None else str(resume))
    return model


def test_a_stopped_and_resumed_run_ends_where_the_uninterrupted_run_ends(tmp_path):
    """The training generator (Ω, S0 noise, label draws) is checkpointed: resume is exact on CPU."""
    straight = _fit_flow(tmp_path / "a", 10)
    _fit_flow(tmp_path / "b", 10, stop_at=5)  # stops mid-epoch (4 steps per epoch)
    assert torch.load(tmp_path / "b" / "last.ckpt", weights_only=False)["global_step"] == 5
    resumed = _fit_flow(tmp_path / "b", 10, resume=tmp_path / "b" / "last.ckpt")
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        torch.testing.assert_close(b, a, rtol=0, atol=0, msg=name)


class InfParameterAt(MeanField):
    """A finite loss whose step leaves a parameter infinite."""

    def training_step(self, batch, batch_idx):
        loss = super().training_step(batch, batch_idx)
        if self.global_step == 2:
            with torch.no_grad():
                self.logits[0, 0, 0] = float("inf")
        return loss


def test_a_non_finite_parameter_after_a_finite_loss_is_caught_too(tmp_path):
    trainer = guarded_trainer(tmp_path)
    with pytest.raises(NonFiniteLossError, match="parameter 'logits' became non-finite at step 3"):
        trainer.fit(InfParameterAt(n=6, c=2, restarts=2), IsingDataModule(2, 3))
    saved = torch.load(tmp_path / "last.ckpt", weights_only=False)
    assert saved["global_step"] == 2 and torch.isfinite(saved["state_dict"]["logits"]).all()
