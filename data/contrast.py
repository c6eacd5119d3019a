"""Edges that follow the image: a contrast-sensitive Potts weight per neighbour pair (``--contrast σ``).

``w_pq = β · max(floor, exp(−‖I_p − I_q‖² / (2σ²)))`` with ``I`` in RGB ``[0, 1]``: neighbours of one colour keep
the full ``β``, a pair across a colour edge costs little to disagree, so label boundaries follow the image's edges.
The floor keeps every edge ferromagnetic and coupled (Swendsen–Wang and the exact references take any weight ≥ 0).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def check_contrast(sigma: float) -> float:
    """The colour distance at which an edge's weight falls to ``β·e^{−1/2}``: a positive finite number."""
    if isinstance(sigma, bool) or not (float(sigma) > 0 and math.isfinite(sigma)):
        raise ValueError(f"contrast must be a positive finite number (a colour distance, RGB in [0, 1]), got {sigma}")
    return float(sigma)


def check_contrast_floor(floor: float) -> float:
    """The least fraction of ``β`` an edge keeps: a number in ``[0, 1]``."""
    if isinstance(floor, bool) or not (0 <= float(floor) <= 1):
        raise ValueError(f"contrast_floor must be in [0, 1] (a fraction of beta), got {floor}")
    return float(floor)


def contrast_weights(image: Tensor, beta: float, sigma: float, floor: float) -> tuple[Tensor, Tensor]:
    """Weights of the horizontal edges ``(H, W−1)`` and the vertical ones ``(H−1, W)`` of an image ``(H, W, 3)``,
    as :class:`~energies.grid_potts.GridPottsEnergy` takes them (``weights_h``, ``weights_v``)."""
    sigma, floor = check_contrast(sigma), check_contrast_floor(floor)
    rgb = image.double()
    weight = lambda d2: float(beta) * torch.exp(-d2 / (2 * sigma**2)).clamp_min(floor)  # noqa: E731
    d2_h = ((rgb[:, 1:] - rgb[:, :-1]) ** 2).sum(-1)
    d2_v = ((rgb[1:] - rgb[:-1]) ** 2).sum(-1)
    return weight(d2_h).to(torch.get_default_dtype()), weight(d2_v).to(torch.get_default_dtype())
