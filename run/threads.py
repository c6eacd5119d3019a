"""How a run's threads wait: runs that share the cores must not spin against each other.

PyTorch's OpenMP threads spin while they wait for work (``OMP_WAIT_POLICY`` ACTIVE, libgomp's default spin count):
with three runs on 2 cores the spinning threads take the cores from the working ones (a 64 px photo's default run
took 556 s of training instead of 38 s). Threads that wait passively after a short spin yield the core instead
(``benchmarks/sharing.py``, the default run on 2 cores: one alone 21.8 s against 22.9 s spinning; three started
together 56 s each against 247 s; without the short spin 32.9 s alone). The policy must be set before the OpenMP
runtime starts, i.e. before ``torch`` is imported: the command lines call :func:`wait_passively` first; variables
already set are kept.
"""

from __future__ import annotations

import os


#: libgomp spins this many times before an idle thread sleeps: short gaps between operations stay cheap (no spin at all
#: made one run alone 1.4× slower), long waits yield the core
SPIN_COUNT = 1000


def wait_passively() -> None:
    """Idle OpenMP threads yield their core after a short spin (unless the environment chose otherwise); call before
    importing torch."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("GOMP_SPINCOUNT", str(SPIN_COUNT))


def use_threads(threads: int | None) -> None:
    """Compute with ``threads`` intra-op threads (``None``: PyTorch's default, one per core)."""
    if threads is not None:
        import torch

        torch.set_num_threads(int(threads))
