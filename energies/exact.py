"""Exact inference by enumeration for models small enough: log Z, marginals, entropy, mean energy.

Pairwise energies are enumerated split in two halves ("high" and "low" nodes): the energy of a
state is ``A[h] + B[l] + C[h_b, l_b]`` where ``A``/``B`` hold the terms inside each half (computed
once, ``c^(n/2)`` states each) and ``C`` the edges crossing the split, which only depend on the
nodes at the boundary. Chunks of ``h`` bound the memory; the chunks are combined in log space.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from energies.base import Energy

MAX_STATES = 2**26  # enumeration limit: 67M states, a few seconds on 2 cores
CHUNK_STATES = 2**22


@dataclass
class ExactResult:
    """Exact figures of ``P* ∝ exp(-E)`` (float64)."""

    log_z: float
    marginals: Tensor  # (n, c)
    entropy: float
    mean_energy: float


def num_states(n: int, c: int) -> int:
    return c**n


def check_enumerable(energy: Energy, max_states: int = MAX_STATES) -> None:
    """Raise a one-line ``ValueError`` naming the limit when ``c^n`` exceeds ``max_states``."""
    if energy.c**energy.n > max_states:
        raise ValueError(
            f"exact inference enumerates c^n = {energy.c}^{energy.n} states, over the limit of "
            f"{max_states:,} (about 2^{int(math.log2(max_states))}); use a smaller model"
        )


def digits(count: int, length: int, c: int, device=None) -> Tensor:
    """All ``c^length`` labelings of ``length`` nodes, node 0 most significant: ``(count, length)``."""
    codes = torch.arange(count, device=device)
    powers = c ** torch.arange(length - 1, -1, -1, device=device)
    return (codes[:, None] // powers) % c


def exact_inference(
    energy: Energy, max_states: int = MAX_STATES, chunk_states: int = CHUNK_STATES
) -> ExactResult:
    """Enumerate all ``c^n`` labelings of ``energy``.

    Raises:
        ValueError: when ``c^n`` exceeds ``max_states``.
    """
    check_enumerable(energy, max_states)
    with torch.no_grad():
        try:
            unary, edges, tables = (t.detach().cpu().double() if t.is_floating_point() else t.cpu() for t in energy.factors())
        except NotImplementedError:
            return _combine(_chunks_generic(energy, chunk_states), energy.n, energy.c)
        return _combine(_chunks_split(unary, edges, tables, chunk_states), energy.n, energy.c)


def _chunks_generic(energy: Energy, chunk_states: int):
    """Any energy: evaluate ``energy.energy`` on chunks of enumerated labelings."""
    n, c = energy.n, energy.c
    total = c**n
    powers = c ** torch.arange(n - 1, -1, -1)
    device = next(iter(energy.buffers()), torch.empty(0)).device
    for start in range(0, total, chunk_states):
        codes = torch.arange(start, min(total, start + chunk_states))
        x = (codes[:, None] // powers) % c
        E = energy.energy(x.to(device)).double().cpu()
        yield E, lambda w, x=x: _marginal_sums(x, w, c)


def _marginal_sums(x: Tensor, w: Tensor, c: int) -> Tensor:
    """``Σ_s w_s [x_s,i = a]`` as an ``(n, c)`` table."""
    return torch.stack([w @ (x == a).to(w.dtype) for a in range(c)], 1)


def _chunks_split(unary: Tensor, edges: Tensor, tables: Tensor, chunk_states: int):
    n, c = unary.shape
    k = n // 2  # high nodes [0, k), low nodes [k, n)
    high_x, low_x = digits(c**k, k, c), digits(c ** (n - k), n - k, c)
    in_high = edges < k
    inside_high = in_high.all(1)
    inside_low = (~in_high).all(1)
    cross = ~(inside_high | inside_low)

    def block_energy(x: Tensor, offset: int, mask: Tensor) -> Tensor:
        nodes = torch.arange(x.shape[1])
        E = unary[offset + nodes, x].sum(1)
        e = edges[mask] - offset
        if len(e):
            E = E + tables[mask][torch.arange(len(e)), x[:, e[:, 0]], x[:, e[:, 1]]].sum(1)
        return E

    A, B = block_energy(high_x, 0, inside_high), block_energy(low_x, k, inside_low)
    # Crossing edges depend on the boundary nodes only: tabulate them over the boundary states.
    ce, ct = edges[cross], tables[cross]
    flipped = ce[:, 0] >= k  # orient every crossing edge as (high end, low end)
    ce = torch.where(flipped[:, None], ce.flip(1), ce)
    ct = torch.where(flipped[:, None, None], ct.transpose(1, 2), ct)
    hb, lb = torch.unique(ce[:, 0]), torch.unique(ce[:, 1])
    hb_x, lb_x = digits(c ** len(hb), len(hb), c), digits(c ** len(lb), len(lb), c)
    C = torch.zeros(len(hb_x), len(lb_x), dtype=unary.dtype)
    for (i, j), t in zip(ce.tolist(), ct):  # a handful of crossing edges
        C += t[hb_x[:, (hb == i).nonzero().item()]][:, lb_x[:, (lb == j).nonzero().item()]]
    hpow, lpow = c ** torch.arange(len(hb) - 1, -1, -1), c ** torch.arange(len(lb) - 1, -1, -1)
    h_code = (high_x[:, hb] * hpow).sum(1) if len(hb) else torch.zeros(len(high_x), dtype=torch.long)
    l_code = (low_x[:, lb - k] * lpow).sum(1) if len(lb) else torch.zeros(len(low_x), dtype=torch.long)
    C_low = C[:, l_code]  # (boundary-high states, all low states)

    rows = max(1, chunk_states // len(low_x))
    for start in range(0, len(high_x), rows):
        sl = slice(start, start + rows)
        E = A[sl, None] + B[None, :] + C_low[h_code[sl]]

        def marginals(w: Tensor, sl=sl) -> Tensor:
            w = w.view(-1, len(low_x))
            return torch.cat([_marginal_sums(high_x[sl], w.sum(1), c), _marginal_sums(low_x, w.sum(0), c)])

        yield E.reshape(-1), marginals


def _combine(chunks, n: int, c: int) -> ExactResult:
    """Per chunk: local log-sum-exp and normalised statistics; then a log-space weighted merge."""
    log_zs, margs, energies = [], [], []
    for E, marginal_fn in chunks:
        lz = torch.logsumexp(-E, 0)
        w = torch.exp(-E - lz)
        log_zs.append(lz)
        margs.append(marginal_fn(w))
        energies.append((w * E).sum())
    log_zs = torch.stack(log_zs)
    log_z = torch.logsumexp(log_zs, 0)
    weights = torch.exp(log_zs - log_z)
    marginals = (weights[:, None, None] * torch.stack(margs)).sum(0)
    mean_energy = float((weights * torch.stack(energies)).sum())
    return ExactResult(float(log_z), marginals, mean_energy + float(log_z), mean_energy)
