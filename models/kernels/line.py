"""Line heat bath for the grid Potts energy (kernel ``line``): whole rows, then whole columns, each drawn exactly given the rest.

On a 4-neighbour grid the rows of one parity (0, 2, 4, … or 1, 3, …) are conditionally independent given
the others, and each is a chain: its pixels interact along the row only, and the rows above and below enter as
a data term. A chain is sampled exactly by forward filtering, backward sampling. So one sweep of rows of both
parities, then of columns of both parities, leaves ``P* ∝ exp(−E)`` invariant like a heat-bath sweep, but moves a
domain wall along a row or column to anywhere in one step, where single-pixel heat bath lets it diffuse a pixel
per sweep (the halo rings and boundary bands of ``benchmarks/exact_images.py``).

Potts pairs make the filter cheap: with ``f`` the filtered law of the previous pixel (normalised) and ``w`` the
weight of the edge, ``Σ_b f(b) e^{−w[a≠b]} = e^{−w} + (1 − e^{−w}) f(a)``, one multiply-add per label.
"""

from __future__ import annotations

import torch
from torch import Tensor

from energies.grid_potts import GridPottsEnergy
from models.kernels import native
from models.kernels.base import Kernel


class LineGibbs(Kernel):
    """Line heat-bath sweeps of labelings ``(chains, H, W)`` targeting ``P* ∝ exp(−E)`` of an open-grid
    :class:`GridPottsEnergy`.

    Raises:
        TypeError: for another energy.  ValueError: for a periodic grid (its lines are cycles, not chains).
    """

    name, title, on_torus = "line", "line heat bath", False  # a torus's lines are cycles, not chains

    def __init__(self, energy: GridPottsEnergy) -> None:
        super().__init__(energy)
        if energy.periodic:
            raise ValueError("line heat bath needs an open grid (a torus's lines are cycles)")
        unary, w_h, w_v = energy.unary.detach(), energy.weights_h.detach(), energy.weights_v.detach()
        # per direction, with the labels held (K, L, chains), lines along dim 1: the unary (K, L, c), the weights
        # along the lines (K−1, L) and across them (K, L−1)
        self.rows = (unary.transpose(0, 1), w_h.T, w_v.T)
        self.columns = (unary, w_v, w_h)

    def sweep(self, x: Tensor, generator: torch.Generator | None = None, sweeps: int = 1) -> Tensor:
        """``sweeps`` line sweeps of ``x (chains, H, W)``: rows of even, then odd index, then columns alike."""
        if native.runs_on(x):
            if "_native" not in self.__dict__:  # and exp(−w) of the edges: the filter's e^{−w}
                eu, ewh, ewv = native.factor_tables(self.energy)
                self._native = (eu, ewh, ewv, 1 / ewh, 1 / ewv)
            return native.sweep("line_heat_bath", x, generator, sweeps, self._native)
        # (W, H, chains): rows are lines, a pixel's neighbours whole rows; small labels make the transposes cheap
        small = torch.uint8 if self.energy.c < 256 else x.dtype
        lines = x.to(small).permute(2, 1, 0).contiguous()
        for _ in range(sweeps):
            for parity in (0, 1):
                lines = resample_lines(lines, parity, *self.rows, generator)
            lines = lines.transpose(0, 1).contiguous()  # (H, W, chains): columns are lines
            for parity in (0, 1):
                lines = resample_lines(lines, parity, *self.columns, generator)
            lines = lines.transpose(0, 1).contiguous()
        return lines.permute(2, 1, 0).contiguous().to(x.dtype)


def resample_lines(x: Tensor, parity: int, unary: Tensor, along: Tensor, across: Tensor,
                   generator: torch.Generator | None = None) -> Tensor:
    """Redraw lines ``parity, parity + 2, …`` (dim 1) of ``x (K, L, chains)`` from P* given the other lines.

    Args:
        unary: ``(K, L, c)``.  along: ``(K−1, L)`` the weights between neighbours on a line.
        across: ``(K, L−1)`` the weights between line ``l`` and ``l + 1``.
    """
    K, L, B = x.shape
    c = unary.shape[-1]
    dtype = torch.float32
    # the other lines, padded with a line of weight 0 (any label) where a line has no neighbour
    padded = torch.zeros(K, L + 2, B, dtype=torch.long, device=x.device)
    padded[:, 1:-1] = x
    w_pad = torch.zeros(K, L + 1, dtype=dtype, device=x.device)
    w_pad[:, 1:-1] = across
    picked = slice(parity, L, 2)
    R = len(range(parity, L, 2))
    # local logits (K, R, c, B): −U plus w at the label of each neighbouring line (a scatter: no pass over c)
    local = (-unary[:, picked]).to(dtype)[..., None].expand(-1, -1, -1, B).clone()
    for side in (0, 2):  # the line above, the line below
        neighbour = padded[:, parity + side : parity + side + 2 * R : 2, None, :]  # (K, R, 1, B)
        weight = w_pad[:, parity + side // 2 : parity + side // 2 + 2 * R : 2, None, None].expand(-1, -1, 1, B)
        local.scatter_add_(2, neighbour, weight)
    psi = (local - local.amax(2, keepdim=True)).exp_()  # each pixel's local factor, largest label 1
    stay = (-along[:, picked]).exp().to(dtype)[..., None, None]  # e^{−w}: (K−1, R, 1, 1)
    move = 1 - stay
    # forward filter: filtered[k] ∝ P(pixel k | the line's pixels ≤ k, the other lines); per pixel views, unbound
    # once (indexing a tensor in the loop costs more than the arithmetic on these small slices)
    filtered = torch.empty_like(psi)
    f, psi_k, stay_k, move_k = filtered.unbind(0), psi.unbind(0), stay.unbind(0), move.unbind(0)
    torch.div(psi_k[0], psi_k[0].sum(1, keepdim=True), out=f[0])
    for k in range(1, K):
        g = torch.addcmul(stay_k[k - 1], move_k[k - 1], f[k - 1]).mul_(psi_k[k])
        torch.div(g, g.sum(1, keepdim=True), out=f[k])
    # backward sampling: pixel k given pixel k + 1 = b has law ∝ filtered[k](a) · (1 if a = b else e^{−w}), the
    # factor e^{−w} + (1 − e^{−w})·onehot(b); the draws are kept one-hot, which costs fewer small operations
    u = torch.rand(K, R, B, generator=generator, device=x.device, dtype=dtype).unbind(0)
    drawn = torch.empty(K, R, B, dtype=x.dtype, device=x.device)
    label = drawn.unbind(0)
    onehot = torch.empty_like(psi_k[0])
    _draw(f[K - 1], u[K - 1], label[K - 1], onehot)
    for k in range(K - 2, -1, -1):
        _draw(torch.addcmul(stay_k[k], move_k[k], onehot).mul_(f[k]), u[k], label[k], onehot)
    out = x.clone()
    out[:, picked] = drawn
    return out


def _draw(p: Tensor, u: Tensor, label: Tensor, onehot: Tensor) -> None:
    """One label per ``(R, B)`` from unnormalised probabilities ``p (R, c, B)`` by the inverse CDF at ``u (R, B)``,
    written to ``label`` and as one-hot rows to ``onehot``. The label is the number of labels whose cumulative
    probability is below ``u`` of the total (the last label takes the rest, and any rounding)."""
    c = p.shape[1]
    if c == 1:
        label.zero_()
        onehot.fill_(1)
        return
    planes = p.unbind(1)
    threshold = u * p.sum(1)
    cumulative, passed = planes[0], []
    for a in range(c - 1):  # a few labels: one plane at a time is cheaper than cumsum and where over a short axis
        if a:
            cumulative = cumulative + planes[a]
        passed.append(cumulative < threshold)  # the label is above a
    label.copy_(passed[0])
    for above in passed[1:]:
        label += above
    onehot[:, 0] = ~passed[0]
    for a in range(1, c - 1):
        onehot[:, a] = passed[a - 1] & ~passed[a]
    onehot[:, c - 1] = passed[-1]
