"""Every N steps: figures of the model's integer samples, and exact KL / marginal difference when enumerable."""

from __future__ import annotations

import math

import lightning as L
from typing_extensions import override

from callbacks.common import check_every, label_info, try_exact, try_kl_lower
from callbacks.evaluation import evaluate, noise, reported_figures
from callbacks.periodic import Periodic
from energies.exact import MAX_STATES, check_enumerable
from metrics.coherence import fig1_figures, fig1_labels


def convergence_scalars(convergence: dict | None) -> dict:
    """The ``eval/*`` scalars of a convergence check (:func:`callbacks.evaluation.convergence_figures`)."""
    if not convergence or convergence.get("converged") is None:
        return {}
    out = {"eval/finish_drift": convergence["drift"], "eval/finish_threshold": convergence["threshold"],
           "eval/converged": float(convergence["converged"])}
    if "finish_rounds" in convergence:
        out["eval/finish_rounds"] = convergence["finish_rounds"]
    return out


class SampleMetrics(Periodic):
    """Logs ``eval/*`` scalars from ``samples`` integer samples every ``every_n_steps`` steps and at the end.

    Every figure is exact, a bound, or absent (README, "Reading the figures"):

    * always: ``eval/energy`` (mean exact energy), ``eval/support`` (distinct samples), ``eval/label_changes``
      (mean number of nodes whose label differs between two of the samples: :mod:`metrics.uncertainty`),
      ``eval/pixel_entropy`` (mean entropy of the per-node marginals) and, for models with soft samples,
      ``eval/integrality``;
    * the semi-implicit bounds ``eval/free_energy_upper``, ``eval/entropy_lower`` and ``eval/bound_gap`` for
      models that give the law of their last draw (:mod:`metrics.bounds`), and ``eval/kl_upper`` with them
      where ``log Z*`` is exact;
    * ``eval/kl_lower`` (Donsker–Varadhan) where ``log Z*`` is exact at other weights of the energy;
    * the plug-in ``eval/entropy`` (Miller–Madow, eqs. (19)–(20)) and ``eval/free_energy`` only while the
      samples cover the model's mass (:func:`energies.sample_stats.plugin_withheld`), and with them
      ``eval/kl`` where P* is exact;
    * where P* is exact (enumeration, or the transfer matrix on a grid of a few rows; computed once, at fit
      start): ``eval/marginal_diff`` (mean TV to P*'s marginals) and the constant ``eval/exact_free_energy``
      (−log Z*);
    * the convergence check (:mod:`models.finish.convergence`) on grid Potts energies: ``eval/finish_drift`` (the largest
      standardised drift of the samples' statistics over the check's sweeps), ``eval/finish_threshold`` (its sign-flip
      threshold: the noise), ``eval/converged`` (1 or 0) and, for a model with a finish, ``eval/finish_rounds``: at the
      end of training (the evaluations during training finish with one round and no check, :mod:`callbacks.periodic`);
    * on grids whose labels are a background and two subjects (:func:`metrics.coherence.fig1_labels`) Fig. 1's
      ``eval/subject_coherence``, ``eval/cat_share`` and ``eval/pixelwise_coherence``.

    The training step's own ``train/*`` scalars are logged by the model. Under DDP every process draws
    its share of the samples and the figures are of all of them (:func:`callbacks.evaluation.evaluate`);
    rank zero computes the bounds and logs.

    Args:
        every_n_steps: logging period in optimizer steps.
        samples: number of samples per measurement.
        exact: ``"auto"`` (exact figures where P* is exact), ``True`` (require enumeration: error otherwise), ``False``.
        exact_max_states: enumeration limit for ``"auto"``/``True``.
        seed: seed of the fixed sampling noise.
        bounds: compute the bounds (``False``: the cheaper figures alone).

    Attributes:
        logged: one dict per measurement, ``{"step": int, "eval/...": float, ...}`` (rank zero).
        withheld: why the plug-in entropy was not logged at the last measurement (``None`` when it was).
    """

    def __init__(
        self,
        every_n_steps: int = 50,
        samples: int = 1024,
        exact: bool | str = "auto",
        exact_max_states: int = MAX_STATES,
        seed: int = 0,
        bounds: bool = True,
    ) -> None:
        super().__init__(every_n_steps)
        self.samples = check_every("samples", samples)
        if exact not in ("auto", True, False):
            raise ValueError(f"exact must be 'auto', True or False, got {exact!r}")
        self.exact, self.exact_max_states, self.seed = exact, check_every("exact_max_states", exact_max_states), int(seed)
        self.bounds = bool(bounds)
        self.logged: list[dict] = []
        self.withheld: str | None = None
        self._exact = self._kl_lower = None

    def check_energy(self, energy) -> None:
        """With ``exact=True``: raise a one-line ``ValueError`` when ``energy`` is too large to enumerate."""
        if self.exact is True:
            check_enumerable(energy, self.exact_max_states)

    @override
    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.exact is False:
            return
        self.check_energy(pl_module.energy)  # on every rank: an error on rank zero alone would leave the others waiting
        if trainer.is_global_zero:  # the exact figures are rank zero's to log
            self._exact = try_exact(pl_module.energy, self.exact_max_states)
            self._kl_lower = try_kl_lower(pl_module.energy) if self.bounds else None

    def compute(self, pl_module: L.LightningModule, names: list[str] | None = None, bounds: bool = True, check: bool = True) -> dict:
        """The ``eval/*`` figures of ``samples`` fresh samples drawn with the fixed noise (a collective under DDP).
        ``bounds``: this process computes the bounds (rank zero's job: it holds the exact references); ``check``: the
        convergence check too (the last evaluation of a run; those during training only watch it)."""
        energy = pl_module.energy
        ev = evaluate(pl_module, self.samples, self.seed, self._exact, check=check)
        figures = reported_figures(pl_module, ev, self._exact, self._kl_lower, self.seed, self.bounds and bounds)
        self.withheld = figures.get("plugin_withheld")
        skip = ("entropy_plugin", "coverage")  # an intermediate and a count, not curves
        out = {f"eval/{k}": v for k, v in figures.items() if k not in skip and not isinstance(v, str)}
        if self._exact is not None:
            out["eval/exact_free_energy"] = -self._exact.log_z
        out.update(convergence_scalars(ev.convergence))
        if energy.grid is not None and fig1_labels(names, energy.c) is not None:
            fig = fig1_figures(ev.samples, ev.marginals, names, generator=noise(self.seed, "pixelwise", "cpu"))
            out.update({f"eval/{k}": fig[k] for k in ("subject_coherence", "cat_share", "pixelwise_coherence")})
        return {k: float(v) for k, v in out.items()}

    def measure(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Compute on every process (a collective), log on rank zero."""
        metrics = self.compute(pl_module, label_info(trainer, pl_module)[0], bounds=trainer.is_global_zero, check=self.final)
        if not trainer.is_global_zero:
            return
        for logger in trainer.loggers:
            logger.log_metrics({k: v for k, v in metrics.items() if math.isfinite(v)}, step=trainer.global_step)
        self.logged.append({"step": trainer.global_step, **metrics})

    act = measure

    @property
    def latest(self) -> dict:
        """The last measurement (empty before the first)."""
        return dict(self.logged[-1]) if self.logged else {}
