"""The image flow's Euler steps in C (``fused_step.c``): ``z ← z + hK ⋆ softmax(z)`` for a depthwise ``K`` per sample.

The torch loop of :func:`models.flow.assignment_flow.integrate_flow` makes one pass over memory for the softmax, one for
the convolution and one for the update, and as many again backwards; the C step reads ``z`` and writes the next ``z``
once, and its backward recomputes the softmax instead of keeping it (docs/research.md, "A fused Euler step"). It runs
on float32 CPU tensors where the C code builds (:mod:`models.native`); elsewhere the integrator's torch loop takes the
same steps (the Ω draw offers the fused steps, :class:`models.flow.omega_conv.DepthwiseOmega`).
The two agree to float32 rounding (``tests/test_fused_step.py``), not bit for bit.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from models.native import NativeLibrary, enabled

SOURCE = Path(__file__).with_suffix(".c")
BLOCK = 16  # samples per vector in the C code: m is padded to a multiple
MAX_LABELS = 64
_p, _i = ctypes.c_void_p, ctypes.c_int
SIGNATURES = {"euler_forward": [_p, _p, _p, _i, _i, _i, _i, _i, _i, _i],
              "euler_backward": [_p, _p, _p, _p, _p, _i, _i, _i, _i, _i, _i, _i]}
#: the compiled step, built on the first call (``None`` where it cannot be built: said once, as a warning)
library = NativeLibrary(SOURCE, SIGNATURES, "the flow's compiled Euler step", "the flow runs its torch code")


def runs_on(z: Tensor) -> bool:
    """Whether logits ``z`` can be stepped by the compiled code (float32 on the CPU, enabled, built)."""
    return z.device.type == "cpu" and z.dtype == torch.float32 and z.shape[0] <= MAX_LABELS and enabled() and library() is not None


class _EulerStep(torch.autograd.Function):
    """``z (c, H, W, m) ↦ z + K ⋆ softmax_c(z)``, ``K (k·k, m)`` one kernel per sample (times the step size)."""

    @staticmethod
    def forward(ctx, z: Tensor, K: Tensor, periodic: bool) -> Tensor:
        c, H, W, m = z.shape
        k = round(K.shape[0] ** 0.5)
        out = torch.empty_like(z)
        library().euler_forward(z.data_ptr(), K.data_ptr(), out.data_ptr(), c, H, W, m, k, int(periodic), torch.get_num_threads())
        ctx.save_for_backward(z, K)
        ctx.periodic = periodic
        return out

    @staticmethod
    @once_differentiable  # the backward is C code: no graph of it
    def backward(ctx, g: Tensor):
        z, K = ctx.saved_tensors
        g = g.contiguous()
        c, H, W, m = z.shape
        k, threads = round(K.shape[0] ** 0.5), torch.get_num_threads()
        # zeros: a slice of a thread OpenMP did not start (OMP_THREAD_LIMIT) must add nothing
        gz, gK = torch.empty_like(z), torch.zeros(threads, k * k, m, dtype=z.dtype)
        library().euler_backward(z.data_ptr(), K.data_ptr(), g.data_ptr(), gz.data_ptr(), gK.data_ptr(), c, H, W, m, k,
                                 int(ctx.periodic), threads)
        return gz, gK.sum(0), None


def euler_steps(z: Tensor, kernel: Tensor, grid: tuple[int, int], step_size: float, steps: int, periodic: bool) -> Tensor | None:
    """``steps`` geometric Euler steps ``z ← z + h·K ⋆ softmax(z)`` of logits ``z (c, n, m)`` (the ``"cnm"`` layout) with
    ``kernel (m, k, k)``, sample ``i``'s depthwise kernel, on ``grid`` (zero padding, or wrapped where ``periodic``);
    differentiable in ``z`` and ``kernel``. ``None`` where the compiled code cannot run (:func:`runs_on`): the caller
    then steps in torch."""
    H, W = grid
    if not runs_on(z) or (periodic and kernel.shape[-1] // 2 > min(H, W)):  # the C code wraps an index once at most
        return None
    c, n, m = z.shape
    pad = -m % BLOCK  # extra samples with zero logits and a zero kernel: they never move, and are dropped at the end
    K = (step_size * kernel.to(z.dtype)).reshape(m, -1).t()
    z = z.reshape(c, H, W, m)
    if pad:
        z, K = F.pad(z, (0, pad)), F.pad(K, (0, pad))
    z, K = z.contiguous(), K.contiguous()
    for _ in range(steps):
        z = _EulerStep.apply(z, K, periodic)
    return z[..., :m].reshape(c, n, m)
