"""The whole command line under DDP (2 gloo processes on the CPU): a run finishes with its files, resumes,
and stops cleanly on SIGTERM. Each run is a subprocess in its own session with a timeout, so a hang fails
the test (and its processes are killed) instead of stalling CI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import train
from conftest import REPO

DDP = ["--devices", "2", "--strategy", "ddp", "--accelerator", "cpu"]
FILES = ("summary.json", "samples.npy", "marginals.npy", "joint_samples.png", "pixelwise_samples.png",
         "marginals.png", "uncertainty.png", "legend.png", "fig1.png", "entropy.npy", "map.png")


def _start(argv: list[str]) -> subprocess.Popen:
    """train.py with ``argv`` in a subprocess, in its own session (see :func:`_finish`)."""
    return subprocess.Popen([sys.executable, str(REPO / "train.py"), *argv], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _finish(proc: subprocess.Popen, timeout: float) -> tuple[int, str, str]:
    """Wait for the launcher and every DDP process it started (its session); kill them all on a hang."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"the run hung (killed after {timeout} s); stderr tail:\n{err[-2000:]}")
    deadline = time.time() + 30  # the other ranks exit on their own shortly after the launcher
    while time.time() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("a DDP process outlived its launcher by 30 s")
    return proc.returncode, out, err


def _step(path: Path) -> int:
    return torch.load(path, weights_only=False)["global_step"]


def test_a_ddp_run_finishes_with_every_file_and_resumes_under_ddp_and_one_process(tmp_path, argv):
    run = tmp_path / "runs" / "lightning_logs" / "version_0"
    code, out, err = _finish(_start(argv(*DDP, "--checkpoint-every", "2", steps=3)), 120)
    assert code == 0, err[-3000:]
    assert "run folder:" in out and "Traceback" not in err
    assert out.count("train.py: RandomizedFlow on") == 1  # the pre-run block from rank zero only
    assert "  device      cpu, 2 processes" in out
    assert "is deprecated" not in err  # torch's all_gather deprecation under Lightning's gather is filtered
    for name in FILES:
        assert (run / name).is_file(), name
    assert list(run.glob("events.out.tfevents.*"))
    ckpts = run / "checkpoints"
    assert {p.name for p in ckpts.iterdir()} == {"step000002.ckpt", "last.ckpt"}
    saved = torch.load(ckpts / "last.ckpt", weights_only=False)
    assert saved["global_step"] == 3
    assert len(saved["training_generator"]) == 2  # one stream per process
    # the summary's samples are the two processes' shares together (callbacks.evaluation): 64 in all
    assert np.load(run / "samples.npy").shape == (64, 4, 5)
    assert json.loads((run / "summary.json").read_text())["samples"]["m"] == 64

    code, out, err = _finish(_start(argv(*DDP, "--resume", "last", steps=5)), 120)
    assert code == 0, err[-3000:]
    assert _step(ckpts / "last.ckpt") == 5
    assert json.loads((run / "summary.json").read_text())["steps"] == 5
    assert not (run.parent / "version_1").exists()  # continued in its own folder

    assert train.main(argv("--resume", "last", steps=6)) == 0  # one process, this one: no launcher needed
    assert _step(ckpts / "last.ckpt") == 6


def test_sigterm_stops_a_ddp_run_between_steps_and_saves_last(tmp_path, argv):
    run = tmp_path / "runs" / "lightning_logs" / "version_0"
    proc = _start(argv(*DDP, "--checkpoint-every", "2", "--log-every", "1000", steps=1_000_000))
    deadline = time.time() + 120
    while not (run / "checkpoints" / "step000004.ckpt").exists():
        if proc.poll() is not None or time.time() > deadline:
            _finish(proc, 1)
            pytest.fail("the run did not reach step 4")
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)  # to the launcher only, as a scheduler does
    sent = time.time()
    code, _, err = _finish(proc, 60)
    assert code == 143, err[-3000:]
    assert time.time() - sent < 30
    assert "interrupted at step" in err and "Traceback" not in err
    assert _step(run / "checkpoints" / "last.ckpt") >= 4
    assert (run / "summary.json").is_file()
