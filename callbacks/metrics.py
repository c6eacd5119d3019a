"""Every N steps: figures of the model's integer samples, and exact KL / marginal difference when enumerable."""

from __future__ import annotations

import math

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from typing_extensions import override

from callbacks.common import check_every, fixed_generator, integrality, label_info, try_exact
from callbacks.figures import fig1_figures, fig1_labels
from callbacks.uncertainty import label_changes_from_samples
from energies.exact import MAX_STATES, check_enumerable
from energies.sample_stats import miller_madow, plugin_entropy, sample_figures


class SampleMetrics(Callback):
    """Logs ``eval/*`` scalars from ``samples`` integer samples every ``every_n_steps`` steps and at the end.

    Always: ``eval/energy`` (mean exact energy), ``eval/entropy`` (plug-in with Miller–Madow
    correction, eqs. (19)–(20)), ``eval/free_energy`` (= energy − entropy), ``eval/support``,
    ``eval/label_changes`` (mean number of nodes whose label differs between two of the samples, over
    all pairs: :mod:`callbacks.uncertainty`) and, for models with soft samples, ``eval/integrality``.
    When the energy has at most ``exact_max_states`` states (computed once, at fit start): ``eval/kl``
    and ``eval/marginal_diff`` (Table 1's figures, via :func:`energies.sample_stats.sample_figures`) and
    the constant ``eval/exact_free_energy`` (−log Z*). On grids whose labels are a background and two
    subjects (:func:`callbacks.figures.fig1_labels`) also Fig. 1's ``eval/subject_coherence``,
    ``eval/cat_share`` and ``eval/pixelwise_coherence`` (subject and pixelwise samples from the samples'
    own marginals).
    The training step's own ``train/*`` scalars are logged by the model.

    Args:
        every_n_steps: logging period in optimizer steps.
        samples: number of samples per measurement.
        exact: ``"auto"`` (exact figures when enumerable), ``True`` (require them: error otherwise), ``False``.
        exact_max_states: enumeration limit for ``"auto"``/``True``.
        seed: seed of the fixed sampling noise.

    Attributes:
        logged: one dict per measurement, ``{"step": int, "eval/...": float, ...}``.
    """

    def __init__(
        self,
        every_n_steps: int = 50,
        samples: int = 1024,
        exact: bool | str = "auto",
        exact_max_states: int = MAX_STATES,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.every_n_steps = check_every("every_n_steps", every_n_steps)
        self.samples = check_every("samples", samples)
        if exact not in ("auto", True, False):
            raise ValueError(f"exact must be 'auto', True or False, got {exact!r}")
        self.exact, self.exact_max_states, self.seed = exact, check_every("exact_max_states", exact_max_states), int(seed)
        self.logged: list[dict] = []
        self._exact = None
        self._last_step = -1

    def check_energy(self, energy) -> None:
        """With ``exact=True``: raise a one-line ``ValueError`` when ``energy`` is too large to enumerate."""
        if self.exact is True:
            check_enumerable(energy, self.exact_max_states)

    @override
    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.exact is False or not trainer.is_global_zero:
            return
        self.check_energy(pl_module.energy)
        self._exact = try_exact(pl_module.energy, self.exact_max_states)

    @override
    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx: int) -> None:
        if trainer.global_step % self.every_n_steps == 0:
            self.measure(trainer, pl_module)

    @override
    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.measure(trainer, pl_module)

    def compute(self, pl_module: L.LightningModule, names: list[str] | None = None) -> dict:
        """The ``eval/*`` figures of ``samples`` fresh samples drawn with the fixed noise."""
        energy = pl_module.energy
        with torch.no_grad():
            g = fixed_generator(self.seed, pl_module.device)
            samples = pl_module.sample(self.samples, generator=g)
            out = {}
            if self._exact is not None:
                fig = sample_figures(samples, energy, self._exact)
                out.update({"eval/kl": fig["kl"], "eval/marginal_diff": fig["marginal_diff"], "eval/exact_free_energy": -self._exact.log_z})
                mean_energy, entropy, support = fig["energy"], fig["entropy"], fig["support"]
            else:
                mean_energy = float(energy.energy(samples.to(pl_module.device)).double().mean())
                plugin, support = plugin_entropy(samples, energy.c)
                entropy = miller_madow(plugin, support, samples.shape[0])
            out.update({"eval/energy": mean_energy, "eval/entropy": entropy, "eval/free_energy": mean_energy - entropy, "eval/support": float(support)})
            out["eval/label_changes"] = label_changes_from_samples(samples, energy.c)
            integ = integrality(pl_module, min(self.samples, 256), fixed_generator(self.seed + 1, pl_module.device))
            if integ is not None:
                out["eval/integrality"] = integ
            if energy.grid is not None and fig1_labels(names, energy.c) is not None:
                marginals = torch.nn.functional.one_hot(samples.long().cpu(), energy.c).double().mean(0)
                fig = fig1_figures(samples.cpu(), marginals, names, generator=fixed_generator(self.seed + 2, "cpu"))
                out.update({f"eval/{k}": fig[k] for k in ("subject_coherence", "cat_share", "pixelwise_coherence")})
        return {k: float(v) for k, v in out.items()}

    def measure(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        step = trainer.global_step
        if step == self._last_step or not trainer.is_global_zero:
            return
        self._last_step = step
        was_training = pl_module.training
        pl_module.eval()
        try:
            metrics = self.compute(pl_module, label_info(trainer, pl_module)[0])
        finally:
            pl_module.train(was_training)
        for logger in trainer.loggers:
            logger.log_metrics({k: v for k, v in metrics.items() if math.isfinite(v)}, step=step)
        self.logged.append({"step": step, **metrics})

    @property
    def latest(self) -> dict:
        """The last measurement (empty before the first)."""
        return dict(self.logged[-1]) if self.logged else {}
