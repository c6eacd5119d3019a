"""Effective sample size of a scalar statistic over several chains (BDA3 §11.5, Geyer's initial
monotone sequence). Independent draws give ESS ≈ their number; chains that never leave their starting
mode give ESS ≈ the number of chains."""

from __future__ import annotations

import torch
from torch import Tensor


def effective_sample_size(x: Tensor) -> float:
    """ESS of ``x (chains, draws)``, draws in order within each chain.

    Uses the multi-chain variance estimate ``var⁺ = (N−1)/N · W + B/N`` and the autocorrelation
    ``ρ_t = 1 − (W − mean_chain autocov_t) / var⁺``, summed in pairs while the pair sums stay
    positive and non-increasing.
    """
    x = torch.as_tensor(x, dtype=torch.float64)
    if x.dim() != 2 or x.shape[1] < 4:
        raise ValueError(f"x must have shape (chains, draws ≥ 4), got {tuple(x.shape)}")
    M, N = x.shape
    centred = x - x.mean(1, keepdim=True)
    # autocovariance of every chain at every lag by FFT
    f = torch.fft.rfft(centred, n=2 * N)
    acov = torch.fft.irfft(f * f.conj(), n=2 * N)[:, :N] / N  # (M, N)
    W = acov[:, 0].mean() * N / max(N - 1, 1)
    B = N * x.mean(1).var() if M > 1 else torch.tensor(0.0, dtype=x.dtype)
    var_plus = (N - 1) / N * W + B / N
    if var_plus <= 0:
        return float(M * N)  # a constant statistic: every draw agrees, nothing to estimate
    rho = 1 - (W - acov.mean(0)) / var_plus
    rho[0] = 1.0
    tau, previous = -1.0, float("inf")
    for t in range(0, N - 1, 2):
        pair = float(rho[t] + rho[t + 1])
        if pair <= 0:
            break
        pair = min(pair, previous)  # initial monotone sequence
        tau += 2 * pair
        previous = pair
    return float(M * N / max(tau, 1.0 / (M * N)))
