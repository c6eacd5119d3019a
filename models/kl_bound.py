"""A certified upper bound on ``KL[P : P*]`` for a randomized flow with ``rounding="draw"``.

Under ``"draw"`` the model is the mixture ``P(x) = E_Ω[Π_i S(Ω)_{i, x_i}]`` (eq. (6) at finite ``T``). For a
sample ``x ~ T(S_0)`` drawn from its own component ``S_0`` and ``M − 1`` fresh components ``S_1 … S_{M−1}``
drawn independently of ``(S_0, x)``, the estimate (23)

    log P̂_M(x) = log( (1/M) Σ_{k<M} Π_i S_k[i, x_i] )

satisfies ``E[log P̂_M(x)] ≥ E_P[log P(x)]``, and the left side decreases in ``M`` towards the right
(semi-implicit variational bound: Yin & Zhou, ICML 2018, Theorem 1). Since
``KL[P : P*] = E_P[E(x) + log P(x)] + log Z*`` (eq. (14)),

    B_M = E[E(x) + log P̂_M(x)] + log Z*  ≥  KL[P : P*],

with exact energies and the exact ``log Z*`` (split enumeration, transfer matrix, Kaufman's formula).
The inequality holds for the *expectation*: the returned figure is a Monte Carlo mean with its standard
error, so "certified" means "up to a stated number of standard errors".

Cost. Giving every sample its own ``M − 1`` fresh components costs ``samples · M`` flow runs. Here the
samples are split into ``groups``; the samples of a group share one set of ``M − 1`` fresh components.
Each sample's estimate is still drawn with fresh components independent of it, so the bound holds
sample by sample; the samples of one group are correlated through the shared components, so the
standard error is taken from the ``groups`` independent group means. Flow runs: ``groups · M + samples``.
The log-sum-exp over the fresh components streams over chunks of ``chunk`` components, so memory is
``O(samples_per_group · chunk + chunk · n · c)`` at any ``M``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from energies.base import Energy
from models.flow_entropy import log_component_probs
from models.randomized_flow import RandomizedFlow, draw_labels


@dataclass
class KLBound:
    """Result of :func:`kl_upper_bound` (float64 figures)."""

    bound: float  # B_M = ⟨E⟩ + ⟨log P̂_M⟩ + log Z*, ≥ KL[P : P*] in expectation
    stderr: float  # standard error of ``bound`` from the independent group means
    mean_energy: float  # ⟨E(x)⟩ over the samples (exact energies)
    mean_log_p: float  # ⟨log P̂_M(x)⟩; its negative is a lower bound on the entropy H(P)
    log_z: float  # the log Z* used
    samples: int
    components: int  # M
    groups: int


def _check(model: RandomizedFlow, energy: Energy, samples: int, components: int, groups: int, chunk: int) -> None:
    if getattr(model.hparams, "rounding", None) != "draw":
        raise ValueError(
            "the KL bound needs a flow with rounding='draw' (only then is the model the mixture of product distributions)"
        )
    if (energy.n, energy.c) != (model.n, model.c):
        raise ValueError(f"the energy has n={energy.n}, c={energy.c} but the model n={model.n}, c={model.c}")
    if components < 1 or chunk < 1:
        raise ValueError(f"components and chunk must be ≥ 1, got {components} and {chunk}")
    if groups < 2 or samples % groups:
        raise ValueError(f"samples ({samples}) must be a multiple of groups ({groups}), and groups ≥ 2 (for the standard error)")


def kl_upper_bound(
    model: RandomizedFlow,
    energy: Energy,
    log_z: float,
    samples: int = 4096,
    components: int = 1024,
    groups: int = 16,
    chunk: int = 1024,
    generator: torch.Generator | None = None,
) -> KLBound:
    """Upper bound ``B_M ≥ KL[P : P*]`` from ``samples`` draws and ``M = components`` mixture components each.

    Args:
        model: a :class:`RandomizedFlow` with ``rounding="draw"``.
        energy: the energy of ``P*``.
        log_z: the exact ``log Z*`` of ``energy``.
        samples: integer samples, each drawn from its own flow component.
        components: ``M``: the sample's own component plus ``M − 1`` fresh ones in estimate (23).
        groups: independent groups of samples; a group shares its ``M − 1`` fresh components.
        chunk: components per flow call and per step of the streaming log-sum-exp.
        generator: on ``model.device``; fixes every draw.

    Raises:
        ValueError: for argmax rounding, a mismatched energy, or bad counts.
    """
    _check(model, energy, samples, components, groups, chunk)
    per_group = samples // groups
    energy_device = next(iter(energy.buffers()), torch.empty(0)).device
    energies, log_ps = [], []
    with torch.no_grad():
        # all samples first, then the fresh components: with a fixed generator, runs that differ only in
        # M see the same samples (common random numbers), so their bounds compare with little noise
        drawn = []
        for _ in range(groups):
            labels, own = [], []
            for start in range(0, per_group, chunk):
                log_S = model.log_soft_samples(min(chunk, per_group - start), generator).double()
                x = draw_labels(log_S.exp(), generator)
                labels.append(x)
                own.append(log_S.gather(2, x[..., None]).squeeze(2).sum(1))  # log T(S_j)(x_j)
            drawn.append((torch.cat(labels), torch.cat(own)))
        for x, log_sum in drawn:
            for start in range(0, components - 1, chunk):
                fresh = model.log_soft_samples(min(chunk, components - 1 - start), generator).double()
                log_sum = torch.logaddexp(log_sum, torch.logsumexp(log_component_probs(fresh, x), 1))
            log_ps.append(log_sum - math.log(components))  # eq. (23) over own + fresh components
            energies.append(energy.energy(x.to(energy_device)).double().cpu())
    log_p = torch.stack(log_ps).cpu()  # (groups, per_group)
    E = torch.stack(energies)
    group_means = (E + log_p).mean(1) + log_z
    return KLBound(
        bound=float(group_means.mean()),
        stderr=float(group_means.std() / math.sqrt(groups)),
        mean_energy=float(E.mean()),
        mean_log_p=float(log_p.mean()),
        log_z=float(log_z),
        samples=samples,
        components=components,
        groups=groups,
    )
