"""The finish's kernels compiled (``kernels.c``): built on first use, loaded by ctypes, the torch code where they cannot run.

The C code draws from the same laws as the torch kernels with its own random numbers (one xoshiro256** stream per
chain, seeded from the caller's generator), 2.4–5.5× faster per sweep on a CPU at 128² (``benchmarks/perf.py``). It runs where the
labelings are on the CPU and a C compiler with OpenMP builds it; elsewhere (a GPU, no compiler,
``RAF_NATIVE=0`` in the environment) the kernels run their torch code. Built and cached by :mod:`models.native`; a
failed build is said once, as a warning, and the torch code runs.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import torch
from torch import Tensor

from models.native import NativeLibrary, enabled

SOURCE = Path(__file__).with_name("kernels.c")
_p, _i = ctypes.c_void_p, ctypes.c_int
SIGNATURES = {"heat_bath": [_p, _p, _i, _i, _i, _i, _p, _p, _p, _i, _i],
              "line_heat_bath": [_p, _p, _i, _i, _i, _i, _p, _p, _p, _p, _p, _i, _i],
              "swendsen_wang": [_p, _p, _i, _i, _i, _i, _p, _p, _p, _i, _i]}
#: the compiled kernels, built on the first call (``None`` where they cannot be built: said once, as a warning)
library = NativeLibrary(SOURCE, SIGNATURES, "the compiled kernels", "the finish runs its torch code, 2–6× slower")


def runs_on(x: Tensor) -> bool:
    """Whether labelings ``x`` can be swept by the compiled kernels (on the CPU, enabled, built)."""
    return x.device.type == "cpu" and enabled() and library() is not None


def factor_tables(energy) -> tuple[Tensor, Tensor, Tensor]:
    """The heat-bath and line tables of ``kernels.c``, float64 on the CPU: ``exp(−U + min_a U)`` per pixel ``(n, c)``,
    and ``exp(w)`` of each horizontal and each vertical edge ``(H, W)`` (``[r, q]``: the edge to ``(r, q+1 mod W)``,
    to ``(r+1 mod H, q)``; 1 where an open grid has none)."""
    H, W = energy.grid
    unary = energy.unary.detach().double().cpu().reshape(energy.n, energy.c)
    eu = torch.exp(-(unary - unary.amin(1, keepdim=True))).contiguous()
    wh = torch.zeros(H, W, dtype=torch.float64)
    wv = torch.zeros(H, W, dtype=torch.float64)
    wh[:, : energy.weights_h.shape[1]] = energy.weights_h.detach().double().cpu()
    wv[: energy.weights_v.shape[0]] = energy.weights_v.detach().double().cpu()
    return eu, wh.exp(), wv.exp()


def sweep(kernel: str, x: Tensor, generator: torch.Generator | None, sweeps: int, tables: tuple[Tensor, ...]) -> Tensor:
    """``sweeps`` sweeps of ``kernel`` (``"heat_bath"``, ``"line_heat_bath"``, ``"swendsen_wang"``) on labelings
    ``x (B, H, W)`` (CPU) with the kernel's ``tables`` (contiguous CPU tensors, the unary's first, see ``kernels.c``).
    A copy of ``x`` is swept; the generator gives one seed per chain."""
    B, H, W = x.shape
    out = x.to(torch.int64).contiguous().clone()
    seeds = torch.randint(-(2**63), 2**63 - 1, (B,), generator=generator, dtype=torch.int64)
    c = tables[0].shape[-1]
    getattr(library(), kernel)(out.data_ptr(), seeds.data_ptr(), B, H, W, c, *(t.data_ptr() for t in tables),
                               int(sweeps), torch.get_num_threads())
    return out.to(x.dtype)
