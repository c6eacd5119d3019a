"""How a run's threads wait: runs that share the cores must not spin against each other.

PyTorch's OpenMP threads spin while they wait for work (``OMP_WAIT_POLICY`` ACTIVE, libgomp's default spin count):
with three runs on 2 cores the spinning threads take the cores from the working ones (a 64 px photo's default run
took 556 s of training instead of 38 s). Passive waiting yields the core instead (``benchmarks/sharing.py`` measures
both). The policy must be set before the OpenMP runtime starts, i.e. before ``torch`` is imported: the command lines
call :func:`wait_passively` first; an ``OMP_WAIT_POLICY`` already set is kept.
"""

from __future__ import annotations

import os


def wait_passively() -> None:
    """Idle OpenMP threads yield their core (unless the environment chose otherwise); call before importing torch."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def use_threads(threads: int | None) -> None:
    """Compute with ``threads`` intra-op threads (``None``: PyTorch's default, one per core)."""
    if threads is not None:
        import torch

        torch.set_num_threads(int(threads))
