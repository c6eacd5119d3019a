"""Table 1's figures from integer samples: plug-in entropy with Miller–Madow correction (eqs. (19)–(20)),
exact mean energy, KL to P* with the exact log Z* (eq. (14)), and the marginal difference.

The one place these figures are computed: the benchmark, the callbacks and the tests all call it.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from energies.base import Energy
from energies.exact import ExactResult


def sample_counts(samples: Tensor, c: int) -> Tensor:
    """Counts of the distinct labelings among ``samples (m, n)``."""
    m, n = samples.shape
    if n * math.log2(c) < 62:  # encode each labeling as one int64 (base c): a 1-D unique is fast
        powers = c ** torch.arange(n - 1, -1, -1, device=samples.device)
        _, counts = torch.unique((samples.long() * powers).sum(1), return_counts=True)
    else:
        _, counts = torch.unique(samples.long(), dim=0, return_counts=True)
    return counts


MIN_COVERAGE = 0.9  # below it the plug-in entropy says little more than "H ≥ log m"


def coverage(samples: Tensor, c: int) -> float:
    """Good–Turing estimate of the probability mass the distinct labelings of ``samples`` cover:
    ``1 − (labelings seen once) / m``. 0 when all ``m`` samples differ."""
    counts = sample_counts(samples, c)
    return 1.0 - float((counts == 1).sum()) / samples.shape[0]


def plugin_withheld(figures: dict) -> str | None:
    """Why the plug-in figures (``entropy``, ``free_energy``, ``kl``) of :func:`figures_with_energy` mean little
    for these samples, or ``None`` when they are meaningful (coverage ≥ :data:`MIN_COVERAGE`)."""
    if figures["coverage"] >= MIN_COVERAGE:
        return None
    return (f"{figures['support']} distinct labelings, Good–Turing coverage {figures['coverage']:.2f} < {MIN_COVERAGE}: "
            "the plug-in entropy would only say H ≥ log m (read entropy_lower instead)")


def plugin_entropy(samples: Tensor, c: int) -> tuple[float, int]:
    """Plug-in entropy (eq. (19)) of the empirical distribution and its support size."""
    if samples.dim() != 2 or samples.shape[0] < 1:
        raise ValueError(f"samples must have shape (m, n) with m ≥ 1, got {tuple(samples.shape)}")
    counts = sample_counts(samples, c).double()
    p = counts / counts.sum()
    return float(-(p * p.log()).sum()), len(counts)


def miller_madow(entropy: float, support: int, m: int) -> float:
    """Bias-corrected entropy: eq. (20) gives E[H(p̂)] − H(P) ≈ −(s−1)/(2m)."""
    return entropy + (support - 1) / (2 * m)


def sample_marginals(samples: Tensor, c: int) -> Tensor:
    """Empirical marginals ``(n, c)`` of integer samples ``(m, n)``."""
    return torch.nn.functional.one_hot(samples.long(), c).double().mean(0)


def marginal_difference(marginals: Tensor, reference: Tensor) -> float:
    """Mean over nodes of the total-variation distance between two ``(n, c)`` marginal tables."""
    if marginals.shape != reference.shape:
        raise ValueError(f"marginal tables differ in shape: {tuple(marginals.shape)} vs {tuple(reference.shape)}")
    return float(0.5 * (marginals.double() - reference.double()).abs().sum(1).mean())


def sample_figures(samples: Tensor, energy: Energy, exact: ExactResult, batch: int = 2**16) -> dict:
    """KL[P : P*], mean energy, entropy (plug-in + Miller–Madow) and marginal difference of samples.

    Args:
        samples: ``(m, n)`` integer labelings drawn from the model P.
        energy: the energy of P*.
        exact: :func:`energies.exact.exact_inference` of ``energy`` (gives log Z* and the marginals).
    """
    energy.check_labels(samples)
    m = samples.shape[0]
    device = next(iter(energy.buffers()), samples).device
    with torch.no_grad():
        mean_energy = sum(float(energy.energy(samples[i : i + batch].to(device)).double().sum()) for i in range(0, m, batch)) / m
    return figures_with_energy(samples, mean_energy, energy.c, exact)


def figures_with_energy(samples: Tensor, mean_energy: float, c: int, exact: ExactResult | None = None) -> dict:
    """:func:`sample_figures` of samples whose mean energy is already known (e.g. summed over processes);
    without ``exact``, no ``kl`` and ``marginal_diff``."""
    m = samples.shape[0]
    plugin, support = plugin_entropy(samples, c)
    entropy = miller_madow(plugin, support, m)
    out = {
        "energy": mean_energy,
        "entropy": entropy,
        "entropy_plugin": plugin,
        "free_energy": mean_energy - entropy,
        "support": support,
        "coverage": coverage(samples, c),
        "samples": m,
    }
    if exact is not None:
        out["kl"] = mean_energy - entropy + exact.log_z  # eq. (14b)
        out["marginal_diff"] = marginal_difference(sample_marginals(samples, c).cpu(), exact.marginals.cpu())
    return out
