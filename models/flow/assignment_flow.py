"""The S-flow (eq. (2)) integrated by the geometric Euler scheme in the log domain.

One step is ``S ← exp_S(h·ΩS) = softmax(log S + h·ΩS)`` (the lifting map of §2.1), which keeps every
row on the open simplex. Working with ``log S`` avoids ``log`` of underflowed entries when ``S``
approaches a vertex. The integrator knows nothing of energies or of how ``Ω`` is drawn.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor, nn

ApplyOmega = Callable[[Tensor], Tensor]


def num_steps(step_size: float, end_time: float) -> int:
    """Number of Euler steps ``round(T / h)`` (at least one)."""
    for name, value in (("step_size", step_size), ("end_time", end_time)):
        if not (value > 0 and math.isfinite(value)):
            raise ValueError(f"{name} must be positive, got {value}")
    return max(1, int(round(end_time / step_size)))


#: the memory layouts the flow can integrate in, each as the order of ``log_s0``'s dims (m samples, n nodes,
#: c labels) it holds S in: the layout where its ``Ω`` is cheapest to apply (an Ω module's ``layout``)
LAYOUTS = {"mnc": (0, 1, 2), "mcn": (0, 2, 1), "cnm": (2, 1, 0)}


def check_layout(layout: str) -> tuple[int, int, int]:
    """The dims order of ``layout`` (one of :data:`LAYOUTS`)."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    return LAYOUTS[layout]


def integrate_flow(
    log_s0: Tensor, apply_omega: ApplyOmega, step_size: float = 0.1, end_time: float = 1.0, layout: str = "mnc",
    in_layout: bool = False,
) -> Tensor:
    """Integrate ``Ṡ = R_S(ΩS)`` (eq. (2)) from ``S(0) = exp(log_s0)`` to ``t = end_time``.

    Args:
        log_s0: ``(m, n, c)`` log of the start point (rows need not be normalised: they are).
        apply_omega: maps ``S`` to ``ΩS``, one operator per sample, both in ``layout``: ``(m, n, c)`` for
            ``"mnc"``, ``(m, c, n)`` for ``"mcn"``, ``(c, n, m)`` for ``"cnm"``.
        step_size: Euler step ``h`` (paper: 0.1).
        end_time: end time ``T`` (paper: 1.0).
        layout: the layout S is integrated in (:data:`LAYOUTS`; convolutional Ω works on its own directly).
        in_layout: ``log_s0`` is given in ``layout`` and log S(T) is returned in it (no copy in or out).

    Returns:
        ``(m, n, c)`` log S(T) (in ``layout`` with ``in_layout``); differentiable in ``log_s0`` and in whatever
        ``apply_omega`` uses.
    """
    if log_s0.dim() != 3:
        raise ValueError(f"log_s0 must have shape (m, n, c), got {tuple(log_s0.shape)}")
    order = check_layout(layout)
    # one copy in and one out instead of two transposes per step
    z = log_s0.contiguous() if in_layout else log_s0.permute(order).contiguous()
    labels_dim = order.index(2)
    steps = num_steps(step_size, end_time)
    # an Ω draw may take the steps itself in one compiled pass each (models/flow/fused_step.py): the same steps
    fused = getattr(apply_omega, "fused_steps", None) if layout == "cnm" else None
    stepped = fused(z, step_size, steps) if fused is not None else None
    if stepped is not None:
        z = stepped
    else:
        for _ in range(steps):
            # geometric Euler: S ← exp_S(h ΩS) = softmax(log S + h ΩS)  (§2.1 lifting map, [34]), carried as logits
            # z with S = softmax(z): log S and z differ by a constant per node, which the softmax ignores
            z = torch.add(z, apply_omega(torch.softmax(z, labels_dim)), alpha=step_size)
    log_s = torch.log_softmax(z, labels_dim)
    if in_layout:
        return log_s
    # contiguous (m, n, c): reductions over labels on a strided view cost more than this one copy
    return log_s.permute([order.index(d) for d in range(3)]).contiguous()


class AssignmentFlow(nn.Module):
    """Module form of :func:`integrate_flow` with fixed ``h`` and ``T``.

    Args:
        step_size: Euler step ``h``.
        end_time: end time ``T``.
    """

    def __init__(self, step_size: float = 0.1, end_time: float = 1.0) -> None:
        super().__init__()
        self.steps = num_steps(step_size, end_time)
        self.step_size, self.end_time = float(step_size), float(end_time)

    def forward(self, log_s0: Tensor, apply_omega: ApplyOmega, layout: str = "mnc", in_layout: bool = False) -> Tensor:
        """``(m, n, c)`` log S(T) from ``log_s0 (m, n, c)`` (both in ``layout`` with ``in_layout``); see
        :func:`integrate_flow`."""
        return integrate_flow(log_s0, apply_omega, self.step_size, self.end_time, layout, in_layout)

    def extra_repr(self) -> str:
        return f"step_size={self.step_size}, end_time={self.end_time}, steps={self.steps}"
