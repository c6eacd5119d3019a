"""Evaluating the model, the one way the metrics, images and summary callbacks do it: in eval mode under
``no_grad``, with fixed noise (comparable frames), each DDP process drawing its own share of the samples
and :class:`~metrics.sample_metrics.SampleFigures` reducing their figures over all processes."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor
from torchmetrics.aggregation import MeanMetric

from callbacks.common import NODE_SAMPLES, affordable, drawn, drawn_once, fixed_generator, model_marginals
from energies.exact import ExactResult
from energies.sample_stats import plugin_withheld, sample_marginals
from metrics.bounds import bound_figures
from metrics.sample_metrics import SampleFigures
from models.finish.convergence import check_kernel, check_with

# each use of noise has its own seed offset, so e.g. the marginals never reuse the samples' draws
NOISE = {"samples": 0, "marginals": 1, "pixelwise": 2, "integrality": 3, "bound": 4, "check": 5}
CHECK_ROUNDS = 2  # the check's rounds at least; after a finish of t rounds, t (the state after t against 2t)
RANK_STRIDE = 1_000_003  # process r draws from seed + r·stride: distinct samples on every process


def noise(seed: int, use: str, device, rank: int = 0) -> torch.Generator:
    """The fixed generator of one ``use`` (a key of :data:`NOISE`) on process ``rank``."""
    return fixed_generator(seed + NOISE[use] + RANK_STRIDE * rank, device)


def seeded_marginals(pl_module, m: int, seed: int) -> Tensor:
    """The model's marginals from ``m`` samples (at most :func:`~callbacks.common.affordable`) with the fixed noise of
    ``seed``, drawn once per model state (:func:`~callbacks.common.drawn_once`: the pictures and the summary share them);
    where the model's marginals are the label frequencies of its finished samples and an evaluation of this state
    already drew as many (a large image: 32 at 512²), from those."""
    m = affordable(m, pl_module.energy.n)
    finished = getattr(pl_module, "finisher", lambda: None)() is not None  # else: mean field's exact S, the flow's E_Ω[S]
    samples = evaluated_samples(pl_module, m) if finished else None
    if samples is not None:
        return sample_marginals(samples[:m], pl_module.energy.c)
    return drawn_once(pl_module, ("marginals", m, seed), lambda: model_marginals(pl_module, m, noise(seed, "marginals", pl_module.device)))


def evaluated_samples(pl_module, least: int) -> Tensor | None:
    """The labelings of an :func:`evaluate` of the model's present state with at least ``least`` of them, else ``None``."""
    found = [ev.samples for key, ev in drawn(pl_module).items() if key[0] == "evaluate" and len(ev.samples) >= least]
    return max(found, key=len) if found else None


def world() -> tuple[int, int]:
    """``(processes, rank)`` of the default process group, the one torchmetrics syncs over; ``(1, 0)`` without one."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size(), torch.distributed.get_rank()
    return 1, 0


def share(total: int, processes: int, rank: int) -> int:
    """Process ``rank``'s part of ``total`` draws; the parts add up to ``total``."""
    return total // processes + (rank < total % processes)


@contextmanager
def evaluating(pl_module):
    """Eval mode under ``no_grad``, the module's mode restored afterwards (also on an error)."""
    was_training = pl_module.training
    pl_module.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        pl_module.train(was_training)


@dataclass
class Evaluation:
    figures: dict  # numbers: energy, entropy, free_energy, support, label_changes, [kl, marginal_diff, integrality]
    samples: Tensor  # (m, n) the labelings of all processes, on the CPU
    marginals: Tensor  # (n, c) their empirical marginals, on the CPU
    convergence: dict | None = None  # the convergence check of the samples (convergence_figures), None without a kernel


def convergence_figures(pl_module, samples: Tensor, seed: int) -> dict | None:
    """The convergence check of ``samples (m, n)`` (:mod:`models.finish.convergence`) with what the model's finish did: the
    check's verdict, drift and threshold, and ``finish_rounds``, ``finish_sweeps``, ``finish_capped`` of the latest
    sampling where the model has a finish. Where an automatic finish checked these very samples (the state after ``t``
    of its rounds against the one after ``2t``, which it returned; or more chains among which they are, drawn for the
    decision: ``RandomizedFlow.sample_chunks``) that check is the verdict (``"by": "finish"``);
    otherwise ``max(2, t)`` more rounds of the model's kernels are run for it (``"by": "check"``). ``None`` where no
    kernel applies; ``{"converged": None, …}`` with too few samples."""
    report = pl_module.finish_report() if hasattr(pl_module, "finish_report") else None
    # the finish's own check covers these samples where it ran on all of them, or on more chains drawn for the decision
    # among which they are (one process: under DDP each process checks its own chains, and the verdict must be the same)
    covered = report is not None and report.check is not None and (
        report.check.samples == len(samples) or (world()[0] == 1 and report.check.samples > len(samples)))
    if covered:
        out = {**report.check.as_dict(), "by": "finish"}
    else:
        kernel = check_kernel(pl_module)
        if kernel is None:
            return None
        rounds = max(CHECK_ROUNDS, report.rounds if report is not None else 0)
        x = samples.to(pl_module.energy.unary.device)
        with evaluating(pl_module):
            _, check = check_with(kernel, pl_module.energy, x, rounds, noise(seed, "check", x.device))
        out = {**check.as_dict(), "by": "check"} if check is not None else {"converged": None, "samples": len(samples), "sweeps": 0}
    if report is not None:
        out.update(finish_rounds=report.rounds, finish_sweeps=report.sweeps, finish_capped=report.capped)
    return out


def evaluate(pl_module, samples: int, seed: int, exact: ExactResult | None = None, integrality_samples: int = 256,
             check: bool = True) -> Evaluation:
    """:func:`fresh_evaluation`, once per model state and arguments (:func:`~callbacks.common.drawn_once`): the end of a
    run evaluates for the metrics and again for the summary, with the same fixed noise."""
    key = ("evaluate", affordable(samples, pl_module.energy.n), seed, id(exact), integrality_samples, check)
    return drawn_once(pl_module, key, lambda: fresh_evaluation(pl_module, samples, seed, exact, integrality_samples, check))


def fresh_evaluation(pl_module, samples: int, seed: int, exact: ExactResult | None = None, integrality_samples: int = 256,
                     check: bool = True) -> Evaluation:
    """The figures of ``samples`` fresh integer samples in all (at most :func:`~callbacks.common.affordable`), each
    process drawing its share.

    Under DDP a collective: every process must call it at the same point (the figures of ``exact`` only
    where it is given). ``integrality`` (mean of ``max_a S_ia``, 1 = integral) for models with soft
    samples, from ``min(samples, integrality_samples)`` of them. ``check``: run the convergence check on the samples
    (:func:`convergence_figures`).
    """
    processes, rank = world()
    energy, device = pl_module.energy, pl_module.device
    samples = affordable(samples, energy.n)
    with evaluating(pl_module):
        local = share(samples, processes, rank)
        x = torch.zeros(0, energy.n, dtype=torch.long, device=device)
        if local:
            x = pl_module.sample(local, generator=noise(seed, "samples", device, rank)).to(device)
        metric = SampleFigures(energy.c, exact).to(device)
        metric.update(x, energy.energy(x) if local else torch.zeros(0, device=device))
        figures = metric.compute()
        if hasattr(pl_module, "soft_samples"):
            mean = MeanMetric().to(device)
            k = share(min(samples, integrality_samples), processes, rank)
            S = pl_module.soft_samples(k, generator=noise(seed, "integrality", device, rank)) if k else None
            mean.update(S.max(-1).values if k else torch.zeros(0, device=device))
            figures["integrality"] = mean.compute()
    labelings, marginals = figures.pop("labelings").cpu(), figures.pop("marginals").cpu()
    figures.pop("samples")
    convergence = convergence_figures(pl_module, labelings, seed) if check else None  # the same on every process
    return Evaluation({k: float(v) if isinstance(v, Tensor) else v for k, v in figures.items()}, labelings, marginals, convergence)


PLUGIN = ("entropy", "free_energy", "kl")  # the plug-in figures, meaningful only while the samples repeat


def reported_figures(pl_module, ev: Evaluation, exact: ExactResult | None, kl_lower, seed: int, bounds: bool = True) -> dict:
    """What the metrics and the summary report of an evaluation: its figures without the plug-in ones where
    :func:`energies.sample_stats.plugin_withheld` gives a reason (then under ``"plugin_withheld"``), and with
    ``bounds`` the bounds of :func:`metrics.bounds.bound_figures` (``"bound_missing"`` says why a model has none)."""
    withheld = plugin_withheld(ev.figures)
    out = {k: v for k, v in ev.figures.items() if withheld is None or k not in PLUGIN}
    if withheld is not None:
        out["plugin_withheld"] = withheld
    if bounds:
        with evaluating(pl_module):
            out.update(bound_figures(pl_module, ev.samples, None if exact is None else exact.log_z, kl_lower,
                                     noise(seed, "bound", pl_module.device), max_node_draws=4 * NODE_SAMPLES))
    return out
