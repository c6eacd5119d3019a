"""Exact inference on a grid Potts energy by a row transfer matrix: log Z, marginals, mean energy, samples.

The grid is cut into ``L`` slices (rows) of ``w`` nodes, ``w`` the shorter side (a wide grid is
transposed first). A slice has ``c^w`` states; its own terms (unary and the edges inside the slice) form
a vector ``φ_t`` of length ``c^w``, and the edges between slices ``t`` and ``t+1`` join the two nodes at
the same position ``i``. That coupling ``K_t(s, s') = Π_i k_{t,i}(x_i, x'_i)`` factorises over the ``w``
positions, so it is never built (``c^w × c^w``): it is applied as ``w`` one-site updates, each a ``c × c``
kernel on one axis of the ``(c,) * w`` state tensor, ``O(c^(w+1))`` apiece.

Forward–backward: ``α_{t+1} = −φ_{t+1} + log K_tᵀ e^{α_t}``, ``β_t = log K_t e^{−φ_{t+1} + β_{t+1}}``, stored as
logs; each product with ``K_t`` exponentiates relative to the maximum and uses kernels scaled to a
largest entry of 1 (sums of non-negative terms only: nothing cancels, nothing overflows; a state more
than ~700 nats below the best one underflows to probability 0). ``P_t(s) = e^{α_t + β_t − log Z}``.
The expected disagreement across a between-slice edge at position ``i`` is read off half-way through
the product with ``K_t``: with ``P = K_{<i} e^{α_t}`` and ``R = K_{>i} e^{−φ_{t+1} + β_{t+1}}``,
``P(x_i = x'_i) = k_i(a, a) ⟨P, R⟩ / ⟨k_i P, R⟩``.

Exact samples (:func:`transfer_matrix_sample`): forward filtering, then backward sampling of one slice
given the next, one position at a time (the same partial products of ``K_t``).

Memory: the backward messages (``L × c^w``) plus ``w`` partial products of one transition, float64:
``(L + w + 4) · c^w · 8`` bytes (330 MB for ``c^w = 2^20``, ``L = w = 20``); checked against
:data:`MAX_STORED`. Open boundaries only (no wrap-around in either direction).
"""

from __future__ import annotations

import torch
from torch import Tensor

from energies.exact import ExactResult
from energies.grid_potts import GridPottsEnergy

MAX_TRANSFER_STATES = 2**20  # states of one slice
MAX_STORED = 2**27  # float64 values kept at once (1 GiB)


def check_transfer(energy: GridPottsEnergy, max_states: int = MAX_TRANSFER_STATES) -> None:
    """Raise a one-line error when the transfer matrix cannot take ``energy``.

    Raises:
        TypeError: for an energy that is not a :class:`GridPottsEnergy`.
        ValueError: for periodic boundaries, or more than ``max_states`` states per slice or
            :data:`MAX_STORED` stored values.
    """
    if not isinstance(energy, GridPottsEnergy):
        raise TypeError(f"the transfer matrix needs a GridPottsEnergy, got {type(energy).__name__}")
    if energy.periodic:
        raise ValueError("the transfer matrix handles open boundaries only (for the Ising torus see energies.kaufman)")
    H, W = energy.grid
    w, L, c = min(H, W), max(H, W), energy.c
    if c**w > max_states:
        raise ValueError(
            f"the transfer matrix runs over the c^w = {c}^{w} = {c**w:,} states of a slice of the "
            f"{H}×{W} grid, over the limit of {max_states:,}; use a narrower grid"
        )
    if (L + w + 4) * c**w > MAX_STORED:
        raise ValueError(
            f"the transfer matrix keeps (L + w + 4)·c^w = {(L + w + 4) * c**w:,} values for the {H}×{W} grid, "
            f"over the limit of {MAX_STORED:,}; use a shorter grid"
        )


class _Chain:
    """The grid as ``L`` slices of ``w`` nodes (float64, CPU), transposed when it is wider than tall."""

    def __init__(self, energy: GridPottsEnergy) -> None:
        H, W = energy.grid
        u = energy.unary.detach().double().cpu()
        wh, wv = energy.weights_h.detach().double().cpu(), energy.weights_v.detach().double().cpu()
        self.transposed = W > H
        if self.transposed:  # slices = columns: vertical edges lie inside a slice, horizontal ones between
            u, wh, wv = u.transpose(0, 1), wv.T, wh.T
        self.unary, self.within, self.between = u.contiguous(), wh.contiguous(), wv.contiguous()
        self.L, self.w, self.c = u.shape
        c = self.c
        # normalised one-site kernels exp(−b [a ≠ a']) / max, and the log of the scale taken out
        b = self.between  # (L − 1, w)
        self.shift = torch.clamp(-b, min=0.0)  # log of the largest entry, max(0, −b)
        self.diag = torch.exp(-self.shift)  # k(a, a)
        off = torch.exp(-b - self.shift)  # k(a, a'), a ≠ a'
        eye = torch.eye(c, dtype=torch.float64)
        self.kernels = self.diag[..., None, None] * eye + off[..., None, None] * (1 - eye)  # (L − 1, w, c, c)
        self.kernel_lists = self.kernels.tolist()  # Python floats: scalar arguments of the in-place updates

    def axis_shape(self, i: int, size: int = 0) -> list[int]:
        shape = [1] * self.w
        shape[i] = size or self.c
        return shape

    def phi(self, t: int) -> Tensor:
        """Energy of slice ``t`` on its own (unary + inside edges) for all ``c^w`` states, as ``(c,) * w``."""
        c, w = self.c, self.w
        phi = torch.zeros([c] * w, dtype=torch.float64)
        for i in range(w):
            phi += self.unary[t, i].view(self.axis_shape(i))
        disagree = 1 - torch.eye(c, dtype=torch.float64)
        for i in range(w - 1):
            shape = [1] * w
            shape[i], shape[i + 1] = c, c
            phi += (self.within[t, i] * disagree).view(shape)
        return phi

    def site(self, x: Tensor, t: int, i: int) -> Tensor:
        """Apply the one-site kernel ``k_{t,i}`` on axis ``i``: ``Σ_a x[…a…] k(a, a')``, ``O(c^(w+1))``."""
        c = self.c
        k = self.kernel_lists[t][i]
        v = x.reshape(c**i, c, -1)
        out = torch.empty_like(v)
        for b in range(c):  # in-place multiply-adds on strided views: no temporaries
            o = out[:, b]
            o.copy_(v[:, 0]).mul_(k[0][b])
            for a in range(1, c):
                o.add_(v[:, a], alpha=k[a][b])
        return out.view(x.shape)

    def transfer(self, log_x: Tensor, t: int) -> Tensor:
        """``log K_t e^{log_x}`` (``K_t`` is symmetric, so this is also ``log K_tᵀ e^{log_x}``)."""
        peak = log_x.max()
        x = torch.exp(log_x - peak)
        for i in range(self.w):
            x = self.site(x, t, i)
        return x.log() + peak + self.shift[t].sum()


def transfer_matrix_log_z(energy: GridPottsEnergy, max_states: int = MAX_TRANSFER_STATES) -> float:
    """``log Z`` of an open-boundary :class:`GridPottsEnergy` by the forward pass alone.

    Raises:
        TypeError, ValueError: see :func:`check_transfer`.
    """
    check_transfer(energy, max_states)
    with torch.no_grad():
        chain = _Chain(energy)
        alpha = -chain.phi(0)
        for t in range(chain.L - 1):
            alpha = chain.transfer(alpha, t) - chain.phi(t + 1)
        return float(torch.logsumexp(alpha.reshape(-1), 0))


def transfer_matrix_inference(energy: GridPottsEnergy, max_states: int = MAX_TRANSFER_STATES) -> ExactResult:
    """Exact log Z, marginals ``(n, c)``, entropy and mean energy of an open-boundary grid Potts energy.

    Any ``c``, unary fields and per-edge weights; slices of ``c^w ≤ max_states`` states, ``w`` the
    shorter side of the grid. Work ``O(L · w · c^(w+1))``.

    Raises:
        TypeError, ValueError: see :func:`check_transfer`.
    """
    check_transfer(energy, max_states)
    with torch.no_grad():
        return _forward_backward(_Chain(energy), energy.grid)


def _forward_backward(chain: _Chain, grid: tuple[int, int]) -> ExactResult:
    L, w, c = chain.L, chain.w, chain.c
    betas = torch.zeros((L,) + (c,) * w, dtype=torch.float64)  # backward messages, log
    for t in range(L - 2, -1, -1):
        betas[t] = chain.transfer(betas[t + 1] - chain.phi(t + 1), t)
    phi = chain.phi(0)
    alpha = -phi
    log_z = torch.logsumexp((alpha + betas[0]).reshape(-1), 0)
    marginals = torch.empty(L, w, c, dtype=torch.float64)
    mean_energy = 0.0
    for t in range(L):
        p = torch.exp(alpha + betas[t] - log_z)
        for i in range(w):
            marginals[t, i] = p.reshape(c**i, c, -1).sum((0, 2))
        mean_energy += float((p * phi).sum())
        if t == L - 1:
            break
        # between slices t and t+1: P = K_{<i} e^{α_t}, R_i = K_{>i} e^{−φ_{t+1} + β_{t+1}} (see module docstring)
        phi_next = chain.phi(t + 1)
        log_q = betas[t + 1] - phi_next
        R = [torch.exp(log_q - log_q.max())]
        for i in range(w - 1, 0, -1):
            R.append(chain.site(R[-1], t, i))
        R.reverse()  # R[i] = K_{>i} q
        peak = alpha.max()
        P = torch.exp(alpha - peak)
        for i in range(w):
            same = chain.diag[t, i] * torch.dot(P.view(-1), R[i].view(-1))
            P = chain.site(P, t, i)
            agree = float(same / torch.dot(P.view(-1), R[i].view(-1)))
            mean_energy += float(chain.between[t, i]) * (1 - agree)
        del R
        alpha = P.log() + peak + chain.shift[t].sum() - phi_next
        phi = phi_next
    marginals = marginals.transpose(0, 1) if chain.transposed else marginals  # back to (H, W, c)
    H, W = grid
    log_z = float(log_z)
    return ExactResult(log_z, marginals.reshape(H * W, c).contiguous(), mean_energy + log_z, mean_energy)


def transfer_matrix_sample(
    energy: GridPottsEnergy,
    m: int,
    generator: torch.Generator | None = None,
    max_states: int = MAX_TRANSFER_STATES,
) -> Tensor:
    """``m`` exact samples of ``P* ∝ exp(−E)``: ``(m, n)`` long labelings in row-major node order.

    Forward filtering keeps every slice's ``α_t`` (``L × c^w``); backward sampling draws the last slice
    from ``e^{α_{L−1}}``, then slice ``t`` given slice ``t+1`` from ``e^{α_t(s)} K_t(s, s_{t+1})``. That
    conditional is drawn one position at a time, so no ``m × c^w`` table is built: with
    ``T_i = K_{>i} e^{α_t}`` (the kernels of the positions after ``i`` applied, as in the marginals of
    :func:`transfer_matrix_inference`), ``P(s_i = a | s_{<i}, s_{t+1}) ∝ k_{t,i}(a, s'_i) T_i[s_{<i}, a, s'_{>i}]``.
    Work ``O(L · w · c^(w+1))`` once plus ``O(m · L · w · c)``; the generator must be a CPU one.

    Raises:
        TypeError, ValueError: see :func:`check_transfer`; ValueError for ``m < 0``.
    """
    check_transfer(energy, max_states)
    if isinstance(m, bool) or int(m) != m or m < 0:
        raise ValueError(f"m must be a non-negative integer, got {m}")
    if m == 0:
        return torch.empty(0, energy.n, dtype=torch.long, device=energy.unary.device)
    with torch.no_grad():
        chain = _Chain(energy)
        L, w, c = chain.L, chain.w, chain.c
        alphas = torch.empty((L,) + (c,) * w, dtype=torch.float64)  # forward messages, log
        alphas[0] = -chain.phi(0)
        for t in range(L - 1):
            alphas[t + 1] = chain.transfer(alphas[t], t) - chain.phi(t + 1)
        labels = torch.empty(m, L, w, dtype=torch.long)  # position i of slice t
        last = torch.exp(alphas[-1].reshape(-1) - alphas[-1].max())
        state = torch.multinomial(last, m, replacement=True, generator=generator)
        strides = c ** torch.arange(w - 1, -1, -1)  # axis 0 is the most significant digit of a flat state
        labels[:, L - 1] = state[:, None] // strides % c
        for t in range(L - 2, -1, -1):
            after = labels[:, t + 1]  # s' = slice t+1, (m, w)
            T = [torch.exp(alphas[t] - alphas[t].max())]  # T[i] = K_{>i} e^{α_t}, built from i = w−1 down
            for i in range(w - 1, 0, -1):
                T.append(chain.site(T[-1], t, i))
            T.reverse()
            prefix = torch.zeros(m, dtype=torch.long)  # flat index of the positions drawn so far
            for i in range(w):
                suffix = (after[:, i + 1 :] * strides[i + 1 :]).sum(1)  # s'_{>i}, in the low digits
                base = prefix * c ** (w - i) + suffix
                weights = T[i].reshape(-1)[base[:, None] + torch.arange(c) * int(strides[i])]  # (m, c)
                weights = weights * chain.kernels[t, i][:, after[:, i]].T  # k(a, s'_i)
                labels[:, t, i] = torch.multinomial(weights, 1, generator=generator)[:, 0]
                prefix = prefix * c + labels[:, t, i]
        grid = labels.transpose(1, 2) if chain.transposed else labels  # back to (m, H, W)
        return grid.reshape(m, -1).contiguous().to(energy.unary.device)
