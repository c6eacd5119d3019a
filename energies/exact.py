"""Exact inference by enumeration for models small enough: log Z, marginals, entropy, mean energy.

Pairwise energies (all bundled ones) are enumerated *split*: nodes ``[0, k)`` form the "high" half,
``[k, n)`` the "low" half, and the energy of a state is ``A[h] + B[l] + C[h_b, l_b]`` where ``A``/``B``
hold the terms inside each half and ``C`` the edges crossing the split, which only see the few
boundary nodes ``h_b``/``l_b``. Then ``Z = Σ_{h_b,l_b} α[h_b] exp(-C[h_b,l_b]) β[l_b]`` with ``α``/``β``
the partition sums of each half grouped by boundary state: the work is ``O(c^(n/2))`` instead of
``O(c^n)``, all in the log domain. Other energies are enumerated state by state in bounded chunks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from energies.base import Energy

MAX_STATES = 2**26  # generic enumeration: every state's energy is evaluated
MAX_HALF_STATES = 2**24  # split enumeration: states of each half and of the boundary table
CHUNK_STATES = 2**22


@dataclass
class ExactResult:
    """Exact figures of ``P* ∝ exp(-E)`` (float64)."""

    log_z: float
    marginals: Tensor  # (n, c)
    entropy: float
    mean_energy: float


def _split_point(n: int) -> int:
    return n // 2


def _has_factors(energy: Energy) -> bool:
    try:
        energy.factors()
    except NotImplementedError:
        return False
    return True


def check_enumerable(energy: Energy, max_states: int = MAX_STATES) -> None:
    """Raise a one-line ``ValueError`` naming the limit when ``energy`` is too large to enumerate.

    A pairwise energy is enumerable when each half and the boundary table of the edges crossing the
    split have at most ``MAX_HALF_STATES`` states; any other energy when ``c^n ≤ max_states``.
    """
    n, c = energy.n, energy.c
    if _has_factors(energy):
        k = _split_point(n)
        edges = energy.factors()[1]
        crossing = edges[(edges < k).sum(1) == 1]
        boundary = len(torch.unique(crossing[crossing < k])) + len(torch.unique(crossing[crossing >= k]))
        # the largest table built: a half's states, or the boundary table of the crossing edges
        largest = max(c ** max(k, n - k), c**boundary)
        if largest <= min(MAX_HALF_STATES, max_states) and c**n <= max_states**2:
            return
        raise ValueError(
            f"exact inference enumerates the {c}^{n} states of this model in two halves, with tables of up to "
            f"{largest:,} states, over the limit of {min(MAX_HALF_STATES, max_states):,}; use a smaller model"
        )
    if c**n > max_states:
        raise ValueError(
            f"exact inference enumerates c^n = {c}^{n} states, over the limit of "
            f"{max_states:,} (2^{int(math.log2(max_states))}); use a smaller model"
        )


def is_enumerable(energy: Energy, max_states: int = MAX_STATES) -> bool:
    try:
        check_enumerable(energy, max_states)
    except ValueError:
        return False
    return True


def digits(count: int, length: int, c: int, device=None) -> Tensor:
    """All ``c^length`` labelings of ``length`` nodes, node 0 most significant: ``(count, length)``."""
    codes = torch.arange(count, device=device)
    powers = c ** torch.arange(length - 1, -1, -1, device=device)
    return (codes[:, None] // powers) % c


def exact_inference(energy: Energy, max_states: int = MAX_STATES, chunk_states: int = CHUNK_STATES) -> ExactResult:
    """Enumerate all labelings of ``energy``.

    Raises:
        ValueError: when the model is too large (see :func:`check_enumerable`).
    """
    check_enumerable(energy, max_states)
    with torch.no_grad():
        if _has_factors(energy):
            unary, edges, tables = energy.factors()
            return _split_enumeration(unary.detach().cpu().double(), edges.cpu(), tables.detach().cpu().double())
        return _generic_enumeration(energy, chunk_states)


def _one_hot_sums(x: Tensor, w: Tensor, c: int) -> Tensor:
    """``Σ_s w_s [x_{s,i} = a]`` as an ``(nodes, c)`` table."""
    return torch.stack([w @ (x == a).to(w.dtype) for a in range(c)], 1)


def _group_logsumexp(values: Tensor, groups: Tensor, size: int) -> Tensor:
    """``log Σ_{s: groups[s] = g} exp(values[s])`` for every group ``g``."""
    peak = torch.full((size,), -math.inf, dtype=values.dtype).scatter_reduce(0, groups, values, "amax")
    sums = torch.zeros(size, dtype=values.dtype).index_add_(0, groups, torch.exp(values - peak[groups]))
    return sums.log() + peak


def _split_enumeration(unary: Tensor, edges: Tensor, tables: Tensor) -> ExactResult:
    n, c = unary.shape
    k = _split_point(n)
    high_x, low_x = digits(c**k, k, c), digits(c ** (n - k), n - k, c)
    high_end = edges < k
    inside_high, inside_low = high_end.all(1), (~high_end).all(1)
    cross = ~(inside_high | inside_low)

    def block_energy(x: Tensor, offset: int, mask: Tensor) -> Tensor:
        E = unary[offset + torch.arange(x.shape[1]), x].sum(1)
        e = edges[mask] - offset
        return E + tables[mask][torch.arange(len(e)), x[:, e[:, 0]], x[:, e[:, 1]]].sum(1)

    A, B = block_energy(high_x, 0, inside_high), block_energy(low_x, k, inside_low)

    # Crossing edges, oriented (high end, low end), tabulated over the boundary states.
    ce, ct = edges[cross], tables[cross]
    flipped = ce[:, 0] >= k
    ce = torch.where(flipped[:, None], ce.flip(1), ce)
    ct = torch.where(flipped[:, None, None], ct.transpose(1, 2), ct)
    hb, lb = torch.unique(ce[:, 0]), torch.unique(ce[:, 1])
    hb_x, lb_x = digits(c ** len(hb), len(hb), c), digits(c ** len(lb), len(lb), c)
    hb_pos, lb_pos = torch.searchsorted(hb, ce[:, 0].contiguous()), torch.searchsorted(lb, ce[:, 1].contiguous())
    C = torch.zeros(len(hb_x), len(lb_x), dtype=unary.dtype)
    for e in range(len(ce)):  # one (boundary × boundary) table per crossing edge
        C += ct[e][hb_x[:, hb_pos[e], None], lb_x[None, :, lb_pos[e]]]
    h_code = high_x[:, hb] @ (c ** torch.arange(len(hb) - 1, -1, -1))
    l_code = low_x[:, lb - k] @ (c ** torch.arange(len(lb) - 1, -1, -1))

    log_alpha = _group_logsumexp(-A, h_code, len(hb_x))  # (boundary-high,)
    log_beta = _group_logsumexp(-B, l_code, len(lb_x))  # (boundary-low,)
    log_joint = log_alpha[:, None] - C + log_beta[None, :]
    log_z = torch.logsumexp(log_joint.reshape(-1), 0)
    # P(h) = exp(-A_h) Σ_lb exp(-C[hb(h), lb]) β[lb] / Z, and symmetrically for the low half.
    p_high = torch.exp(-A + torch.logsumexp(log_beta[None, :] - C, 1)[h_code] - log_z)
    p_low = torch.exp(-B + torch.logsumexp(log_alpha[:, None] - C, 0)[l_code] - log_z)
    p_boundary = torch.exp(log_joint - log_z)
    mean_energy = float(p_high @ A + p_low @ B + (p_boundary * C).sum())
    marginals = torch.cat([_one_hot_sums(high_x, p_high, c), _one_hot_sums(low_x, p_low, c)])
    return ExactResult(float(log_z), marginals, mean_energy + float(log_z), mean_energy)


def _generic_enumeration(energy: Energy, chunk_states: int) -> ExactResult:
    """Any energy: evaluate ``energy.energy`` on chunks of states; merge the chunks in log space."""
    n, c = energy.n, energy.c
    total = c**n
    powers = c ** torch.arange(n - 1, -1, -1)
    device = next(iter(energy.buffers()), torch.empty(0)).device
    log_zs, marginals, energies = [], [], []
    for start in range(0, total, chunk_states):
        x = (torch.arange(start, min(total, start + chunk_states))[:, None] // powers) % c
        E = energy.energy(x.to(device)).double().cpu()
        lz = torch.logsumexp(-E, 0)
        w = torch.exp(-E - lz)
        log_zs.append(lz)
        marginals.append(_one_hot_sums(x, w, c))
        energies.append(w @ E)
    log_zs = torch.stack(log_zs)
    log_z = torch.logsumexp(log_zs, 0)
    weights = torch.exp(log_zs - log_z)
    mean_energy = float(weights @ torch.stack(energies))
    return ExactResult(float(log_z), torch.einsum("k,knc->nc", weights, torch.stack(marginals)), mean_energy + float(log_z), mean_energy)
