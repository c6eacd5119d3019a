"""The semi-implicit upper bound on ``KL[P : P*]`` (and on the free energy) of a model whose samples end with
an independent draw: the flow's label draw from ``S(T)``, or the last heat-bath sweep of its finish.

Such a model is a mixture ``P(x) = E_z[q(x | z)]`` whose component ``q(· | z)`` can be evaluated
(:class:`models.last_draw.LastDraw`). For a sample ``x ~ q(· | z_0)`` and ``M − 1`` fresh components
``z_1 … z_{M−1}`` drawn independently of ``(z_0, x)``, the estimate (23)

    log P̂_M(x) = log( (1/M) Σ_{k<M} q(x | z_k) )

satisfies ``E[log P̂_M(x)] ≥ E_P[log P(x)]``, and the left side decreases in ``M`` towards the right
(semi-implicit variational bound: Yin & Zhou, ICML 2018, Theorem 1). Since
``KL[P : P*] = E_P[E(x) + log P(x)] + log Z*`` (eq. (14)),

    B_M = E[E(x) + log P̂_M(x)] + log Z*  ≥  KL[P : P*],

with exact energies and the exact ``log Z*`` (split enumeration, transfer matrix, Kaufman's formula). Without
``log Z*`` (``log_z = 0``) the same figure bounds the free energy ``⟨E⟩ − H(P) = KL − log Z*`` from above, and
``−⟨log P̂_M⟩`` bounds the entropy from below. The inequality holds for the *expectation*: the returned figure
is a Monte Carlo mean with its standard error, so "certified" means "up to a stated number of standard errors".

What the bound can credit: the entropy of the last draw given its component, plus at most ``log M`` nats of
the choice between components. With argmax rounding and no heat-bath sweep after it, every component is a
single labeling and only the ``log M`` part is left, so such models have no bound here.

Cost. Giving every sample its own ``M − 1`` fresh components costs ``samples · M`` model runs. Here the
samples are split into ``groups``; the samples of a group share one set of ``M − 1`` fresh components.
Each sample's estimate is still drawn with fresh components independent of it, so the bound holds
sample by sample; the samples of one group are correlated through the shared components, so the
standard error is taken from the ``groups`` independent group means. Model runs: ``groups · M + samples``.
The log-sum-exp over the fresh components streams over chunks of ``chunk`` components, so memory is
``O(samples_per_group · chunk + chunk · n · c)`` at any ``M``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from energies.base import Energy
from models.flow.entropy import log_component_probs


@dataclass
class KLBound:
    """Result of :func:`kl_upper_bound` (float64 figures)."""

    bound: float  # B_M = ⟨E⟩ + ⟨log P̂_M⟩ + log Z*, ≥ KL[P : P*] in expectation (≥ the free energy when log Z* = 0)
    stderr: float  # standard error of ``bound`` from the independent group means
    mean_energy: float  # ⟨E(x)⟩ over the samples (exact energies)
    mean_log_p: float  # ⟨log P̂_M(x)⟩; its negative is a lower bound on the entropy H(P)
    log_p_stderr: float  # standard error of ``mean_log_p`` from the group means
    own_log_p: float  # ⟨log q(x | z_0)⟩, the M = 1 figure: B_1 − B_M = own_log_p − mean_log_p ≤ log M
    log_z: float  # the log Z* used
    samples: int
    components: int  # M
    groups: int


def _check(model, energy: Energy, samples: int, components: int, groups: int, chunk: int) -> None:
    missing = model.last_draw_missing()
    if missing is not None:
        raise ValueError(f"the semi-implicit bound needs the law of the model's last draw: {missing}")
    if (energy.n, energy.c) != (model.n, model.c):
        raise ValueError(f"the energy has n={energy.n}, c={energy.c} but the model n={model.n}, c={model.c}")
    if components < 1 or chunk < 1:
        raise ValueError(f"components and chunk must be ≥ 1, got {components} and {chunk}")
    if groups < 2 or samples % groups:
        raise ValueError(f"samples ({samples}) must be a multiple of groups ({groups}), and groups ≥ 2 (for the standard error)")


def kl_upper_bound(
    model,
    energy: Energy,
    log_z: float = 0.0,
    samples: int = 4096,
    components: int = 1024,
    groups: int = 16,
    chunk: int = 1024,
    generator: torch.Generator | None = None,
) -> KLBound:
    """Upper bound ``B_M ≥ KL[P : P*]`` from ``samples`` draws and ``M = components`` mixture components each.

    Args:
        model: a model with :meth:`last_draw` (a :class:`RandomizedFlow` with ``rounding="draw"`` or a finish
            that ends with a heat-bath sweep, or mean field).
        energy: the energy of ``P*``.
        log_z: the exact ``log Z*`` of ``energy``; 0 for the free-energy bound.
        samples: integer samples, each drawn from its own component.
        components: ``M``: the sample's own component plus ``M − 1`` fresh ones in estimate (23).
        groups: independent groups of samples; a group shares its ``M − 1`` fresh components.
        chunk: components per model call and per step of the streaming log-sum-exp.
        generator: on ``model.device``; fixes every draw.

    Raises:
        ValueError: for a model without the law of its last draw, a mismatched energy, or bad counts.
    """
    _check(model, energy, samples, components, groups, chunk)
    per_group = samples // groups
    energy_device = next(iter(energy.buffers()), torch.empty(0)).device
    energies, log_ps, own_ps = [], [], []
    with torch.no_grad():
        # all samples first, then the fresh components: with a fixed generator, runs that differ only in
        # M see the same samples (common random numbers), so their bounds compare with little noise
        drawn = []
        for _ in range(groups):
            parts = [model.last_draw(min(chunk, per_group - start), generator) for start in range(0, per_group, chunk)]
            x = torch.cat([d.labels for d in parts])
            # log q(x_j | z_j) − rest: each sample against its own table only (not the k × k matrix's diagonal)
            own = torch.cat([d.tables.double().gather(2, d.labels[..., None]).squeeze(2).sum(1) for d in parts])
            drawn.append((x, own, torch.cat([d.rest.double() for d in parts])))
        for x, own, rest in drawn:
            log_sum = own
            for start in range(0, components - 1, chunk):
                fresh = model.last_draw(min(chunk, components - 1 - start), generator).tables.double()
                log_sum = torch.logaddexp(log_sum, torch.logsumexp(log_component_probs(fresh, x), 1))
            log_ps.append(rest + log_sum - math.log(components))  # eq. (23) over own + fresh components
            own_ps.append(rest + own)
            energies.append(energy.energy(x.to(energy_device)).double().cpu())
    log_p = torch.stack(log_ps).cpu()  # (groups, per_group)
    E = torch.stack(energies)
    group_means = (E + log_p).mean(1) + log_z
    sqrt_groups = math.sqrt(groups)
    return KLBound(
        bound=float(group_means.mean()),
        stderr=float(group_means.std() / sqrt_groups),
        mean_energy=float(E.mean()),
        mean_log_p=float(log_p.mean()),
        log_p_stderr=float(log_p.mean(1).std() / sqrt_groups),
        own_log_p=float(torch.stack(own_ps).mean()),
        log_z=float(log_z),
        samples=samples,
        components=components,
        groups=groups,
    )
